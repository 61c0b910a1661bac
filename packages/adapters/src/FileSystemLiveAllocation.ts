/**
 * Adapter: the `LiveAllocation` port as one claim table per host directory, shared by every Runtime process on the
 * host (the legacy pod-registry table, `shared/reference/legacy-pod.md` §8, without `flock`).
 *
 * `allocations.json` (`{ entries: [{ owner, rules, instanceId, pid, leaseExpiresAt }] }`) is always replaced whole,
 * so `list` reads it without a lock; one that cannot be decoded is treated as empty (with a warning) rather than
 * wedging every claim on the host. Every read-modify-write holds `allocations.lock` (`internal/lockFile.ts`): a lock
 * whose holder is dead or older than `lockStaleMs` is broken, otherwise the claim retries every ~15 ms until
 * `lockTimeoutMs` ("allocation table is busy"). An entry is live while its pid is alive and its lease unexpired;
 * each layer renews its own leases every `leaseMs / 3` and removes them when it closes. Time is `Clock`.
 *
 * Deliberately not here: conflict rules (`LiveAllocation.checkClaim`), validating targets, the legacy
 * delegation/deny/segment columns, and paths in messages. Known limit: a holder suspended past `lockStaleMs` can lose
 * the lock to a breaker and then, on release, race a new holder (the critical section is one small read and write).
 */
import { Allocation, Errors, Ids, LiveAllocation, Worker } from "@yoi/domain"
import {
  Clock,
  Data,
  Effect,
  FileSystem,
  Layer,
  Option,
  Path,
  type PlatformError,
  Result,
  Schedule,
  Schema,
  Semaphore
} from "effect"
import * as AtomicFile from "./internal/atomicFile.ts"
import * as LockFile from "./internal/lockFile.ts"

/** @category models */
export interface Options {
  /** The host's allocation directory; created if missing. Every Runtime process of the host uses the same one. */
  readonly directory: string
  /** Identifies this layer's entries for lease renewal and cleanup. Default: random. */
  readonly instanceId?: string | undefined
  /** The pid recorded in this layer's entries and locks. Default: `globalThis.process.pid`. */
  readonly pid?: number | undefined
  /** Default: `process.kill(pid, 0)` semantics (`ESRCH` is dead, `EPERM` is alive, pid 0 is dead). */
  readonly isProcessAlive?: ((pid: number) => boolean) | undefined
  /** How long an entry stays live without renewal. Default 15 000 ms; renewed every third of it. */
  readonly leaseMs?: number | undefined
  /** How long a read-modify-write waits for the lock before failing. Default 10 000 ms. */
  readonly lockTimeoutMs?: number | undefined
  /** A lock older than this is broken even if its holder looks alive. Default 30 000 ms. */
  readonly lockStaleMs?: number | undefined
  /** Whether this layer renews its entries' leases in the background. Default `true`. */
  readonly renew?: boolean | undefined
}

const StoredEntry = Schema.Struct({
  owner: Schema.Struct({ runtimeId: Ids.RuntimeId, workerId: Ids.WorkerId }),
  rules: Schema.Array(Schema.Struct({
    target: Schema.String,
    permission: Worker.ScopePermission,
    recursive: Schema.Boolean
  })),
  instanceId: Schema.String,
  pid: Schema.Number,
  leaseExpiresAt: Schema.Number
})
type StoredEntry = typeof StoredEntry.Type

const StoredTable = Schema.Struct({ entries: Schema.Array(StoredEntry) })
const decodeTable = Schema.decodeUnknownEffect(Schema.fromJsonString(StoredTable))
const encodeTable = Schema.encodeEffect(StoredTable)

/** A platform failure, with the fixed (path-free) message its `StoreFailure` gets. */
class TableIo extends Data.TaggedError("TableIo")<{ readonly message: string; readonly cause: unknown }> {}

/** The lock is held by someone else; retried until the deadline. */
class LockBusy extends Data.TaggedError("LockBusy")<{}> {}

const io = (message: string) => (cause: PlatformError.PlatformError) => new TableIo({ message, cause })
const isNotFound = (error: PlatformError.PlatformError) => error.reason._tag === "NotFound"

/**
 * Builds the service over `options.directory` (created if missing), forks the lease-renewal fiber into the current
 * scope, and removes this instance's entries when the scope closes.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const instanceId = options.instanceId ?? `inst_${yield* LockFile.randomId}`
  const pid = options.pid ?? globalThis.process.pid
  const isAlive = options.isProcessAlive ?? LockFile.processAlive
  const leaseMs = options.leaseMs ?? 15_000
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000
  const lockStaleMs = options.lockStaleMs ?? 30_000

  const tablePath = path.join(options.directory, "allocations.json")
  const lockPath = path.join(options.directory, "allocations.lock")

  yield* fs.makeDirectory(options.directory, { recursive: true, mode: 0o700 }).pipe(
    Effect.mapError(io("allocation directory could not be created")),
    Effect.catchTag("TableIo", (error) => toStoreFailure("open", error))
  )

  // ---------------------------------------------------------------------------------------------------------------
  // The lock
  // ---------------------------------------------------------------------------------------------------------------

  const isStale = (holder: LockFile.Holder, now: number): boolean =>
    holder._tag === "Known"
      ? !isAlive(holder.info.pid) || now - holder.info.acquiredAt > lockStaleMs
      : holder.modifiedAt !== undefined && now - holder.modifiedAt > lockStaleMs

  const lockInfo = Effect.gen(function*() {
    const acquiredAt = yield* Clock.currentTimeMillis
    return { pid, instanceId, acquiredAt, token: yield* LockFile.randomId }
  })

  const createLock = (info: LockFile.LockInfo) =>
    LockFile.createExclusive(fs, lockPath, info).pipe(Effect.mapError(io("allocation table lock could not be taken")))

  const readLockHolder = LockFile.readHolder(fs, lockPath).pipe(
    Effect.mapError(io("allocation table lock could not be read"))
  )

  const breakStaleLock = (info: LockFile.LockInfo) =>
    LockFile.breakIfStale(
      fs,
      lockPath,
      info,
      (holder) => Effect.map(Clock.currentTimeMillis, (now) => isStale(holder, now)),
      (holder) =>
        Effect.logWarning("LiveAllocation: breaking a stale allocation table lock").pipe(
          Effect.annotateLogs(holder._tag === "Known" ? { holderPid: holder.info.pid } : {})
        )
    ).pipe(Effect.mapError(io("stale lock could not be broken")))

  /** One attempt: the lock's info if we created it, `LockBusy` if it is held. */
  const tryLock = (startedAt: number) =>
    Effect.gen(function*() {
      const info = yield* lockInfo
      if (yield* createLock(info)) return info
      const holder = yield* readLockHolder
      const now = yield* Clock.currentTimeMillis
      if (Option.isNone(holder) || isStale(holder.value, now)) {
        if (Option.isSome(holder)) yield* breakStaleLock(info)
        if (yield* createLock(info)) return info
      }
      if (now - startedAt >= lockTimeoutMs) {
        return yield* new TableIo({ message: "allocation table is busy", cause: undefined })
      }
      return yield* new LockBusy()
    })

  const retrySchedule = Schedule.spaced("15 millis").pipe(Schedule.jittered)

  /**
   * Takes the lock. Waiting is interruptible; each attempt is not, and a lock created by an attempt that is then
   * interrupted is released.
   */
  const acquireLock = Effect.suspend(() => {
    let created: LockFile.LockInfo | undefined
    return Effect.flatMap(
      Clock.currentTimeMillis,
      (startedAt) =>
        Effect.uninterruptible(Effect.tap(tryLock(startedAt), (info) =>
          Effect.sync(() => {
            created = info
          }))).pipe(
            Effect.retry({ schedule: retrySchedule, while: (error) => error._tag === "LockBusy" }),
            Effect.catchTag("LockBusy", () => Effect.die("unreachable: lock retry stopped while busy")),
            Effect.interruptible,
            Effect.onInterrupt(() => created === undefined ? Effect.void : releaseLock(created))
          )
    )
  })

  /** Removes the lock if it is still ours (it may have been broken as stale and retaken). */
  const releaseLock = (info: LockFile.LockInfo) =>
    LockFile.releaseIfOwned(fs, lockPath, info).pipe(
      Effect.catchCause((cause) =>
        Effect.logWarning("LiveAllocation: releasing the allocation table lock failed", cause)
      )
    )

  /** Serializes this instance's own fibers, so they queue here instead of polling the lock file. */
  const local = yield* Semaphore.make(1)

  const withLock = <A, E, R>(use: Effect.Effect<A, E, R>) =>
    local.withPermits(1)(Effect.acquireUseRelease(acquireLock, () => use, releaseLock))

  // ---------------------------------------------------------------------------------------------------------------
  // The table
  // ---------------------------------------------------------------------------------------------------------------

  const readTable: Effect.Effect<ReadonlyArray<StoredEntry>, TableIo> = fs.readFileString(tablePath).pipe(
    Effect.catchIf(isNotFound, () => Effect.succeed(undefined)),
    Effect.mapError(io("allocation table could not be read")),
    Effect.flatMap((text) =>
      text === undefined || text.trim() === ""
        ? Effect.succeed([])
        : decodeTable(text).pipe(
          Effect.map((table) => table.entries),
          Effect.catchTag("SchemaError", (error) =>
            Effect.logWarning("LiveAllocation: the allocation table is corrupt; treating it as empty", error).pipe(
              Effect.as([])
            ))
        )
    )
  )

  /** Atomic replace: temp file in the same directory, fsync, rename. */
  const writeTable = (entries: ReadonlyArray<StoredEntry>) =>
    Effect.gen(function*() {
      const encoded = yield* Effect.orDie(encodeTable({ entries }))
      const data = new TextEncoder().encode(`${JSON.stringify(encoded, null, 2)}\n`)
      const temp = path.join(options.directory, `allocations.json.${pid}.${yield* LockFile.randomId}.tmp`)
      yield* AtomicFile.replaceFile(fs, tablePath, temp, data, { mode: 0o600 }).pipe(
        Effect.mapError(io("allocation table could not be written"))
      )
    })

  const isLive = (now: number) => (entry: StoredEntry): boolean => entry.leaseExpiresAt > now && isAlive(entry.pid)

  /**
   * One read-modify-write under the lock. `f` sees the live entries (stale ones reclaimed) and returns the next
   * table, or `undefined` to keep it; the table is saved if it changed, reclaim included.
   */
  const transact = <A>(
    f: (live: ReadonlyArray<StoredEntry>, now: number) => readonly [next: ReadonlyArray<StoredEntry> | undefined, A]
  ): Effect.Effect<A, TableIo> =>
    withLock(Effect.gen(function*() {
      const stored = yield* readTable
      const now = yield* Clock.currentTimeMillis
      const live = stored.filter(isLive(now))
      const [next, result] = f(live, now)
      if (next !== undefined) yield* writeTable(next)
      else if (live.length !== stored.length) yield* writeTable(live)
      return result
    }))

  const toAllocation = (entry: StoredEntry) =>
    new Allocation.Allocation({
      owner: new Ids.WorkerRef(entry.owner),
      rules: entry.rules.map((rule) => new Worker.ScopeRule(rule))
    })

  // Owners this instance has claimed for and not released: renewal and cleanup skip the lock when there are none.
  const owned = new Set<string>()

  const claim = Effect.fn("LiveAllocation.claim")(
    function*(owner: Ids.WorkerRef, rules: ReadonlyArray<Worker.ScopeRule>) {
      if (rules.length > 0) owned.add(Ids.refKey(owner))
      const checked = yield* transact<Result.Result<void, Errors.ScopeConflict>>((live, now) => {
        const found = LiveAllocation.checkClaim(live.map(toAllocation), owner, rules)
        if (Result.isFailure(found)) return [undefined, found] as const
        const others = live.filter((entry) => !Ids.sameRef(entry.owner, owner))
        if (rules.length === 0) return [others, found] as const
        const entry: StoredEntry = {
          owner: { runtimeId: owner.runtimeId, workerId: owner.workerId },
          rules: rules.map((rule) => ({ target: rule.target, permission: rule.permission, recursive: rule.recursive })),
          instanceId,
          pid,
          leaseExpiresAt: now + leaseMs
        }
        return [[...others, entry], found] as const
      })
      if (Result.isFailure(checked)) return yield* checked.failure
      if (rules.length === 0) owned.delete(Ids.refKey(owner))
    },
    Effect.catchTag("TableIo", (error) => toStoreFailure("claim", error))
  )

  const release = Effect.fn("LiveAllocation.release")(
    function*(owner: Ids.WorkerRef) {
      yield* transact((live) => {
        const others = live.filter((entry) => !Ids.sameRef(entry.owner, owner))
        return [others.length === live.length ? undefined : others, undefined] as const
      })
      owned.delete(Ids.refKey(owner))
    },
    Effect.catchTag("TableIo", (error) => toStoreFailure("release", error))
  )

  const list = Effect.gen(function*() {
    const stored = yield* readTable
    const now = yield* Clock.currentTimeMillis
    return stored.filter(isLive(now)).map(toAllocation)
  }).pipe(
    Effect.catchTag("TableIo", (error) => toStoreFailure("list", error)),
    Effect.withSpan("LiveAllocation.list")
  )

  /** Extends the lease of every entry this instance holds. */
  const renew = transact((live, now) => {
    let renewed = 0
    const next = live.map((entry) => {
      if (entry.instanceId !== instanceId) return entry
      renewed++
      return { ...entry, leaseExpiresAt: now + leaseMs }
    })
    return [renewed === 0 ? undefined : next, renewed] as const
  })

  // Registered before the renewal fiber is forked, so it runs after that fiber is interrupted: a renewal waiting on a
  // busy lock holds this instance's semaphore and would otherwise make closing wait out its retries.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() =>
      owned.size === 0 ? Effect.void : transact((live) => {
        const others = live.filter((entry) => entry.instanceId !== instanceId)
        return [others.length === live.length ? undefined : others, undefined] as const
      })
    ).pipe(
      Effect.catchCause((cause) => Effect.logWarning("LiveAllocation: removing this instance's claims failed", cause))
    )
  )

  if (options.renew ?? true) {
    yield* Effect.suspend(() => owned.size === 0 ? Effect.void : renew).pipe(
      Effect.catch((error) => Effect.logWarning(`LiveAllocation: lease renewal failed: ${error.message}`, error.cause)),
      Effect.catchDefect((defect) => Effect.logWarning("LiveAllocation: lease renewal failed", defect)),
      Effect.schedule(Schedule.spaced(Math.max(1, Math.floor(leaseMs / 3)))),
      Effect.forkScoped
    )
  }

  return LiveAllocation.LiveAllocation.of({ claim, release, list })
})

const toStoreFailure = (operation: string, error: TableIo) =>
  Effect.logDebug(`LiveAllocation.${operation}: ${error.message}`, error.cause).pipe(
    Effect.andThen(Effect.fail(new Errors.StoreFailure({ operation, message: error.message })))
  )

/**
 * The host-wide `LiveAllocation` over `options.directory`. Leases are renewed while the layer is alive, and its
 * entries are removed when it closes.
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<LiveAllocation.LiveAllocation, Errors.StoreFailure, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(LiveAllocation.LiveAllocation, make(options))
