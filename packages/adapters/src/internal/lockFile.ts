/**
 * Lock files shared by the filesystem adapters (Node has no `flock`). A lock is a file created with the exclusive
 * `wx` flag, so only one creator can win, holding `{ pid, instanceId, acquiredAt, token }`; it is removed on release,
 * and only by the holder whose `token` is still in it.
 *
 * When a lock is stale is the caller's rule (a dead pid, an age). Breaking one happens under a guard file
 * (`<lock>.break`) taken the same way: the breaker re-reads the lock under the guard, so two processes that both saw
 * the same stale lock cannot have the slower one remove the lock the faster one has just created.
 *
 * Deliberately not here: waiting or retrying (the callers' schedules differ), and error messages — every failure is
 * the platform's `PlatformError`, which callers map to their own fixed, path-free messages.
 */
import { Effect, type FileSystem, Option, type PlatformError, Predicate, Random, Schema } from "effect"

export const LockInfo = Schema.Struct({
  pid: Schema.Number,
  instanceId: Schema.String,
  acquiredAt: Schema.Number,
  token: Schema.String
})
export type LockInfo = typeof LockInfo.Type
const decodeLock = Schema.decodeUnknownOption(Schema.fromJsonString(LockInfo))

/** Whoever holds a lock file, as far as its content tells. */
export type Holder =
  | { readonly _tag: "Known"; readonly info: LockInfo }
  | { readonly _tag: "Unreadable"; readonly modifiedAt: number | undefined }

const isAlreadyExists = (error: PlatformError.PlatformError) => error.reason._tag === "AlreadyExists"
const isNotFound = (error: PlatformError.PlatformError) => error.reason._tag === "NotFound"

/**
 * `kill(pid, 0)`: `ESRCH` means dead, `EPERM` (someone else's process) alive. Pids that are not positive integers
 * are dead (0 and negatives would address process groups). Any other error counts as alive, so only a certain
 * death lets a lock or claim be taken over.
 */
export const processAlive = (pid: number): boolean => {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    globalThis.process.kill(pid, 0)
    return true
  } catch (error) {
    return !(Predicate.hasProperty(error, "code") && error.code === "ESRCH")
  }
}

/** A short random id (about 80 bits) for instance ids and lock tokens. */
export const randomId = Effect.gen(function*() {
  const parts: Array<string> = []
  for (let i = 0; i < 4; i++) {
    parts.push((yield* Random.nextIntBetween(0, 0x1000000)).toString(36))
  }
  return parts.join("")
})

/** Creates `file` exclusively with `info` in it: `true` if we created it, `false` if it already existed. */
export const createExclusive = (fs: FileSystem.FileSystem, file: string, info: LockInfo) =>
  Effect.scoped(Effect.gen(function*() {
    const handle = yield* fs.open(file, { flag: "wx", mode: 0o600 })
    yield* handle.writeAll(new TextEncoder().encode(JSON.stringify(info))).pipe(
      Effect.onError(() => Effect.ignore(fs.remove(file, { force: true })))
    )
  })).pipe(
    Effect.as(true),
    Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
  )

/** Who holds `file`; `None` if it is gone. */
export const readHolder = (
  fs: FileSystem.FileSystem,
  file: string
): Effect.Effect<Option.Option<Holder>, PlatformError.PlatformError> =>
  fs.readFileString(file).pipe(
    Effect.flatMap((text) =>
      Option.match(decodeLock(text), {
        onSome: (info) => Effect.succeed(Option.some<Holder>({ _tag: "Known", info })),
        // Empty or torn: its creator died between creating and writing it (or is writing it right now). The caller
        // judges it by its modification time.
        onNone: () =>
          fs.stat(file).pipe(
            Effect.map((stat) =>
              Option.some<Holder>({
                _tag: "Unreadable",
                modifiedAt: Option.getOrUndefined(Option.map(stat.mtime, (date) => date.getTime()))
              })
            )
          )
      })
    ),
    Effect.catchIf(isNotFound, () => Effect.succeedNone)
  )

/**
 * Removes the lock `file` if it is (still) stale, under its break guard. Another breaker holding the guard means
 * "try again later", unless that breaker is itself stale (then its guard is removed). `onBreak` runs just before a
 * stale lock is removed (to log it).
 */
export const breakIfStale = (
  fs: FileSystem.FileSystem,
  file: string,
  info: LockInfo,
  isStale: (holder: Holder) => Effect.Effect<boolean>,
  onBreak: (holder: Holder) => Effect.Effect<void>
): Effect.Effect<void, PlatformError.PlatformError> => {
  const guard = `${file}.break`
  return Effect.gen(function*() {
    if (!(yield* createExclusive(fs, guard, info))) {
      const breaker = yield* readHolder(fs, guard)
      if (Option.isSome(breaker) && (yield* isStale(breaker.value))) yield* fs.remove(guard, { force: true })
      return
    }
    yield* Effect.gen(function*() {
      const holder = yield* readHolder(fs, file)
      if (Option.isSome(holder) && (yield* isStale(holder.value))) {
        yield* onBreak(holder.value)
        yield* fs.remove(file, { force: true })
      }
    }).pipe(Effect.ensuring(Effect.ignore(fs.remove(guard, { force: true }))))
  })
}

/** Removes the lock `file` if it still holds `info`'s token (it may have been broken as stale and retaken). */
export const releaseIfOwned = (fs: FileSystem.FileSystem, file: string, info: LockInfo) =>
  Effect.flatMap(
    readHolder(fs, file),
    (holder) =>
      Option.isSome(holder) && holder.value._tag === "Known" && holder.value.info.token === info.token &&
        holder.value.info.instanceId === info.instanceId
        ? fs.remove(file, { force: true })
        : Effect.void
  )
