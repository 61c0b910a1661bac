/**
 * The one-owner rule of a `FileSystemWorkerStore` directory: two stores on one directory would interleave appends
 * and each trust watermarks the other moves, so an open store holds `<dir>/runtime.lock` (a lock file of
 * `lockFile.ts`: created exclusively, holding the pid and a token) until its scope closes.
 *
 * A second open fails with `StoreFailure("the data directory is in use by another runtime process")`, or "…is
 * already open in this process" before any file is touched. A lock left by a process that died is taken over at
 * once, since its pid is dead; so is one bearing this process's own pid, which can only be a previous
 * incarnation's (a container restarted with the same pid). A lock with no readable content is stale after 10 s
 * (its creator died before writing it). A lock is never taken over for its age: a live holder keeps it.
 *
 * Deliberately not here: waiting for a busy lock (a store that cannot open fails at once), and pids or paths in
 * messages (the previous holder's pid goes to a log annotation only).
 */
import { Clock, Effect, type FileSystem, Option, type Path, type Scope } from "effect"
import * as Format from "../FileSystemStoreFormat.ts"
import * as LockFile from "./lockFile.ts"
import { failure, platformFailure } from "./storeFiles.ts"

const UNREADABLE_LOCK_STALE_MS = 10_000

/** (pid, directory) pairs with a store open in this process. */
const openInProcess = new Set<string>()

/** Takes `root` for the current scope, or fails with a path- and pid-free `StoreFailure`. */
export const lockDirectory = Effect.fnUntraced(function*(options: {
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  readonly root: string
  readonly pid: number
  readonly isAlive: (pid: number) => boolean
  readonly instanceId: string
}): Effect.fn.Return<void, ReturnType<typeof failure>, Scope.Scope> {
  const { fs, path, root, pid, isAlive } = options
  const lockPath = path.join(root, Format.lockFile)

  /**
   * Stale: its holder is dead, or bears our own pid (this process has no other store open here, so it is a previous
   * incarnation's), or it was never written.
   */
  const isStaleLock = (holder: LockFile.Holder) =>
    holder._tag === "Known"
      ? Effect.succeed(holder.info.pid === pid || !isAlive(holder.info.pid))
      : Effect.map(
        Clock.currentTimeMillis,
        (now) => holder.modifiedAt !== undefined && now - holder.modifiedAt > UNREADABLE_LOCK_STALE_MS
      )

  const key = `${pid}\u0000${path.resolve(root)}`
  if (openInProcess.has(key)) return yield* failure("open", "the data directory is already open in this process")
  openInProcess.add(key)
  yield* Effect.addFinalizer(() => Effect.sync(() => openInProcess.delete(key)))

  const info: LockFile.LockInfo = {
    pid,
    instanceId: options.instanceId,
    acquiredAt: yield* Clock.currentTimeMillis,
    token: yield* LockFile.randomId
  }
  const take = Effect.gen(function*() {
    if (yield* LockFile.createExclusive(fs, lockPath, info)) return true
    const holder = yield* LockFile.readHolder(fs, lockPath)
    if (Option.isSome(holder)) {
      if (!(yield* isStaleLock(holder.value))) return false
      yield* LockFile.breakIfStale(
        fs,
        lockPath,
        info,
        isStaleLock,
        (stale) =>
          Effect.logWarning("WorkerStore: taking over the data directory from a runtime process that is gone").pipe(
            Effect.annotateLogs(stale._tag === "Known" ? { previousPid: stale.info.pid } : {})
          )
      )
    }
    return yield* LockFile.createExclusive(fs, lockPath, info)
  }).pipe(Effect.mapError(platformFailure("open", "could not lock the data directory")))
  if (!(yield* take)) {
    return yield* failure("open", "the data directory is in use by another runtime process")
  }
  // Registered before every other finalizer of the store, so it runs after them (the clean marker included).
  yield* Effect.addFinalizer(() => Effect.ignore(LockFile.releaseIfOwned(fs, lockPath, info)))
})
