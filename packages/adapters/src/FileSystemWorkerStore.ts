/**
 * Adapter: the `WorkerStore` port on a directory, through Effect's `FileSystem` and `Path` services (never Node
 * directly), for Runtimes whose Workers must survive a restart.
 *
 * Layout: `<dir>/runtime.json` and `<dir>/workers/<workerId>/{worker.json, events.jsonl, transcript.jsonl,
 * transcript.idx}`. Records are replaced atomically (a uniquely named temp file in the same directory, write, fsync,
 * rename, fsync the directory). The logs are JSON lines, encoded and decoded with the domain schemas, and only ever
 * appended to.
 *
 * **Commit point** `worker.json` holds the Worker record *and* the committed byte length of each log, its last event
 * seq and its transcript count. A commit appends and fsyncs the logs first and then replaces `worker.json`; bytes past
 * those watermarks were never committed. On open, a longer log is truncated back to its watermark (diagnostic
 * `torn_tail_truncated`), a shorter one is cut back to its longest intact prefix (`log_truncated`), and a
 * `worker.json` that cannot be decoded quarantines that Worker (`worker_record_corrupt`: not listed, every call on
 * it fails) while the rest of the store opens.
 *
 * **Clean close** Closing the store's scope with no commit in flight and no failed write leaves a `clean` marker
 * file (written atomically). The next open consumes it (removes it and fsyncs the directory before anything else,
 * so a later crash is never taken for a clean stop) and then reads only each `worker.json`: it skips the per-Worker
 * listing and the three log sizes, which made up most of opening a large store. Nothing is trusted blindly: every
 * append still checks its log against the committed length (cutting a longer tail, refusing a shorter log with a
 * typed failure) and every read is bounded by the watermarks. Without the marker (a crash, a kill, a failed write)
 * the open checks every log as described above.
 *
 * **Group commit** Commits to one Worker queue up; whoever holds the Worker's write lock drains the whole queue,
 * validates each commit in FIFO order against the running state (a bad one fails alone), then writes the batch with
 * one append and one fsync per touched log and one `worker.json` replacement. Different Workers commit in parallel.
 *
 * **Bounded reads** `transcript.idx` holds one fixed-width entry per transcript entry (16 zero-padded decimal digits
 * of its byte offset and a newline), so a page costs one index slice and one transcript slice. Event reads use an
 * in-memory (seq, offset) index, built by one scan on first use and extended by every commit.
 *
 * **One owner** Two stores on one directory would interleave appends and each trust watermarks the other moves, so
 * an open store holds `<dir>/runtime.lock` (a lock file of `internal/lockFile.ts`: created exclusively, holding the
 * pid and a token) until it closes. A second open fails with `StoreFailure("the data directory is in use by another
 * runtime process")` (or "…is already open in this process"). A lock left by a process that died (a crash, a kill)
 * is taken over at once, since its pid is dead; so is one bearing this process's own pid, which can only be a
 * previous incarnation's (a container restarted with the same pid). A lock is never taken over for its age: a live
 * holder keeps it as long as it runs.
 *
 * Deliberately not here: Worker semantics (the Runtime assigns every seq and decides every transition), config
 * bundles, compaction or retention, and paths or pids in anything it reports — every `StoreFailure` and diagnostic
 * carries a fixed, path-free message.
 */
import { Errors, Ids, RuntimeEvent, RuntimeInfo, Sorted, Transcript, Worker, WorkerStore } from "@yoi/domain"
import {
  Clock,
  Deferred,
  Effect,
  FileSystem,
  Layer,
  Option,
  Order,
  Path,
  type PlatformError,
  Predicate,
  Random,
  Result,
  Schema,
  type Scope,
  Semaphore
} from "effect"
import * as AtomicFile from "./internal/atomicFile.ts"
import * as LockFile from "./internal/lockFile.ts"

const RUNTIME_FILE = "runtime.json"
const WORKERS_DIRECTORY = "workers"
const WORKER_FILE = "worker.json"
const EVENT_LOG = "events.jsonl"
const TRANSCRIPT_LOG = "transcript.jsonl"
const TRANSCRIPT_INDEX = "transcript.idx"
const CLEAN_FILE = "clean"
const LOCK_FILE = "runtime.lock"
/** A lock file with no readable content this old was left by a creator that died before writing it. */
const UNREADABLE_LOCK_STALE_MS = 10_000
const INDEX_DIGITS = 16
const INDEX_ENTRY_BYTES = INDEX_DIGITS + 1
const SCAN_CHUNK_BYTES = 64 * 1024
const NEWLINE = 10
/** Temp files this adapter creates; leftovers of a crash are removed on open. */
const temporaryName = /^(?:runtime\.json|worker\.json|clean)\.[a-z0-9]+-[a-z0-9]+\.tmp$/

/** The adapter-private part of `worker.json`: how much of each log is committed. */
const Watermarks = Schema.Struct({
  eventBytes: Worker.Count,
  lastEventSeq: Worker.Count,
  transcriptBytes: Worker.Count,
  indexBytes: Worker.Count,
  transcriptCount: Worker.Count
})
type Watermarks = typeof Watermarks.Type

const noLogs: Watermarks = { eventBytes: 0, lastEventSeq: 0, transcriptBytes: 0, indexBytes: 0, transcriptCount: 0 }

const WorkerFileJson = Schema.fromJsonString(Schema.Struct({
  format: Schema.Literal(1),
  record: Schema.optional(WorkerStore.WorkerRecord),
  logs: Watermarks
}))
const RuntimeFileJson = Schema.fromJsonString(WorkerStore.RuntimeRecord)
const EventLine = Schema.fromJsonString(RuntimeEvent.WorkerEvent)
const EntryLine = Schema.fromJsonString(Transcript.TranscriptEntry)
const SeqLine = Schema.fromJsonString(Schema.Struct({ seq: Worker.Count }))
const isWorkerId = Schema.is(Ids.WorkerId)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface EventIndex {
  readonly seqs: Array<number>
  readonly offsets: Array<number>
}

interface Pending {
  readonly change: WorkerStore.WorkerChange
  readonly done: Deferred.Deferred<void, Errors.StoreFailure>
}

interface WorkerState {
  readonly directory: string
  record: WorkerStore.WorkerRecord | undefined
  /** Committed watermarks; readers never look past them. */
  marks: Watermarks
  /** Whether the Worker's directory is known to exist. */
  created: boolean
  /** Built on the first `readEvents` that needs it, then extended by every commit. */
  events: EventIndex | undefined
  readonly pending: Array<Pending>
  readonly writer: Semaphore.Semaphore
  readonly indexer: Semaphore.Semaphore
}

interface PreparedCommit {
  readonly events: ReadonlyArray<{ readonly seq: number; readonly line: Uint8Array }>
  readonly transcript: ReadonlyArray<Uint8Array>
  readonly record: WorkerStore.WorkerRecord | undefined
}

const failure = (operation: string, message: string) => new Errors.StoreFailure({ operation, message })

/** A `StoreFailure` for a platform error: a fixed message plus the error's kind, never its path. */
const platformFailure = (operation: string, message: string) => (error: PlatformError.PlatformError) =>
  failure(operation, `${message} (${error.reason._tag})`)

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  let length = 0
  for (const chunk of chunks) length += chunk.length
  const out = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

const indexEntry = (offset: number): Uint8Array => encoder.encode(`${offset.toString().padStart(INDEX_DIGITS, "0")}\n`)

/** Splits newline-terminated lines; `undefined` when the bytes do not end on a line boundary. */
const splitLines = (bytes: Uint8Array): Array<string> | undefined => {
  const lines: Array<string> = []
  let start = 0
  for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
    lines.push(decoder.decode(bytes.subarray(start, end)))
    start = end + 1
  }
  return start === bytes.length ? lines : undefined
}

/** `worker.json` contents that contradict themselves or their directory. */
const inconsistent = (workerId: string, record: WorkerStore.WorkerRecord | undefined, logs: Watermarks): boolean =>
  (record !== undefined && record.workerId !== workerId) ||
  logs.indexBytes !== logs.transcriptCount * INDEX_ENTRY_BYTES ||
  (logs.transcriptCount === 0) !== (logs.transcriptBytes === 0) ||
  (logs.lastEventSeq === 0) !== (logs.eventBytes === 0)

/** The platform cannot open or fsync a directory (some filesystems and operating systems refuse). */
const refusesDirectorySync = (error: PlatformError.PlatformError): boolean => {
  const reason = error.reason
  if (reason._tag === "BadResource" || reason._tag === "PermissionDenied") return true
  const code = Predicate.hasProperty(reason.cause, "code") ? reason.cause.code : undefined
  return code === "EINVAL" || code === "ENOTSUP" || code === "EOPNOTSUPP"
}

const decodeLines = <A>(
  operation: string,
  label: string,
  schema: Schema.Codec<A, string>,
  bytes: Uint8Array
): Effect.Effect<Array<A>, Errors.StoreFailure> => {
  const lines = splitLines(bytes)
  if (lines === undefined) return Effect.fail(failure(operation, `the ${label} has a damaged line`))
  return Effect.forEach(lines, (line) => Schema.decodeEffect(schema)(line)).pipe(
    Effect.catchTag(
      "SchemaError",
      () => Effect.fail(failure(operation, `the ${label} has a line that cannot be decoded`))
    )
  )
}

const workerFileText = (record: WorkerStore.WorkerRecord | undefined, logs: Watermarks) =>
  Schema.encodeEffect(WorkerFileJson)({ format: 1, record, logs })

/** @category models */
export interface Options {
  /** The store's directory; created if missing. One open store (one process) per directory. */
  readonly directory: string
  /**
   * The pid this store stands for (recorded in the lock). Default: `process.pid`. For tests that play several
   * processes, and their deaths, in one.
   */
  readonly pid?: number | undefined
  /** Whether the pid in a found lock is alive. Default: `process.kill(pid, 0)` semantics. */
  readonly isProcessAlive?: ((pid: number) => boolean) | undefined
}

/** (pid, directory) pairs with a store open in this process: a second open is refused before any file is touched. */
const openInProcess = new Set<string>()

/**
 * Opens (creating if needed) a store on `options.directory`: loads the runtime record and every Worker record,
 * repairs torn log tails and collects diagnostics (unless the last close was clean). Closing the scope marks the
 * store clean when nothing is in flight.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(
  options: Options
): Effect.fn.Return<
  WorkerStore.WorkerStore["Service"],
  Errors.StoreFailure,
  FileSystem.FileSystem | Path.Path | Scope.Scope
> {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = options.directory
  const workersRoot = path.join(root, WORKERS_DIRECTORY)
  const token = (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
  let temporaries = 0
  const diagnostics: Array<RuntimeInfo.Diagnostic> = []
  const workers = new Map<string, WorkerState>()
  const quarantined = new Set<string>()
  let runtime: Option.Option<WorkerStore.RuntimeRecord> = Option.none()
  const runtimeWriter = Semaphore.makeUnsafe(1)
  /** Commits queued or being written, and whether any write failed: a clean marker needs 0 and false. */
  let inFlight = 0
  let writeFailed = false

  // -- the directory lock ----------------------------------------------------------------------------------------

  const pid = options.pid ?? globalThis.process.pid
  const isAlive = options.isProcessAlive ?? LockFile.processAlive
  const lockPath = path.join(root, LOCK_FILE)

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

  /** Takes the directory for this store until its scope closes, or fails with a path- and pid-free `StoreFailure`. */
  const lockDirectory = Effect.gen(function*() {
    const key = `${pid}\u0000${path.resolve(root)}`
    if (openInProcess.has(key)) return yield* failure("open", "the data directory is already open in this process")
    openInProcess.add(key)
    yield* Effect.addFinalizer(() => Effect.sync(() => openInProcess.delete(key)))

    const info: LockFile.LockInfo = {
      pid,
      instanceId: `store_${token}`,
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

  // -- file primitives (errors are PlatformErrors; callers map them to fixed messages) --------------------------

  const syncDirectory = (directory: string) =>
    Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync)).pipe(
      Effect.catchTag("PlatformError", (error) => refusesDirectorySync(error) ? Effect.void : Effect.fail(error))
    )

  /** Replaces `directory/name` with `text`: temp file, write, fsync, rename. The caller fsyncs the directory. */
  const replaceFile = (directory: string, name: string, text: string) =>
    Effect.suspend(() => {
      const target = path.join(directory, name)
      const temporary = path.join(directory, `${name}.${token}-${(temporaries++).toString(36)}.tmp`)
      return AtomicFile.replaceFile(fs, target, temporary, encoder.encode(text))
    })

  /** The file's text, or none if it does not exist (or, with `notDirectoryIsAbsent`, its directory is a file). */
  const readOptional = (file: string, notDirectoryIsAbsent = false) =>
    fs.readFileString(file).pipe(
      Effect.map(Option.some),
      Effect.catchTag("PlatformError", (error) =>
        error.reason._tag === "NotFound" || (notDirectoryIsAbsent && error.reason._tag === "BadResource")
          ? Effect.succeedNone
          : Effect.fail(error))
    )

  const sizeOf = (file: string) =>
    fs.stat(file).pipe(
      Effect.map((info) => Number(info.size)),
      Effect.catchTag("PlatformError", (error) =>
        error.reason._tag === "NotFound" ? Effect.succeed(0) : Effect.fail(error))
    )

  /**
   * Removes a crash's leftover temp files; answers the names listed, `"absent"` when `directory` is no directory
   * (gone, or a stray file), or `undefined` if the listing failed otherwise.
   */
  const removeTemporaries = (directory: string): Effect.Effect<ReadonlySet<string> | "absent" | undefined> =>
    fs.readDirectory(directory).pipe(
      Effect.tap((names) =>
        Effect.forEach(
          names.filter((name) => temporaryName.test(name)),
          (name) => Effect.ignore(fs.remove(path.join(directory, name))),
          { discard: true }
        )
      ),
      Effect.map((names): ReadonlySet<string> | "absent" | undefined => new Set(names)),
      Effect.catchTag("PlatformError", (error) =>
        Effect.succeed(
          // NotFound: removed since the listing; BadResource: ENOTDIR, a stray file where a Worker would be.
          error.reason._tag === "NotFound" || error.reason._tag === "BadResource" ? "absent" as const : undefined
        ))
    )

  /** Exactly the bytes `[from, to)` of `file`, by positional reads; fails if the file ends before `to`. */
  const readSlice = (operation: string, label: string, file: string, from: number, to: number) =>
    Effect.scoped(Effect.gen(function*() {
      const out = new Uint8Array(to - from)
      if (out.length === 0) return out
      const handle = yield* fs.open(file, { flag: "r" })
      let filled = 0
      while (filled < out.length) {
        const chunk = yield* handle.readAlloc(out.length - filled, { position: BigInt(from + filled) })
        if (Option.isNone(chunk)) {
          return yield* failure(operation, `the ${label} is shorter than its committed length`)
        }
        out.set(chunk.value, filled)
        filled += chunk.value.length
      }
      return out
    })).pipe(
      Effect.catchTag(
        "PlatformError",
        (error) => Effect.fail(platformFailure(operation, `could not read the ${label}`)(error))
      )
    )

  const newState = (
    workerId: string,
    record: WorkerStore.WorkerRecord | undefined,
    marks: Watermarks
  ): WorkerState => ({
    directory: path.join(workersRoot, workerId),
    record,
    marks,
    created: false,
    events: undefined,
    pending: [],
    writer: Semaphore.makeUnsafe(1),
    indexer: Semaphore.makeUnsafe(1)
  })

  // -- open: runtime record, Worker records, torn tails ---------------------------------------------------------

  /** Cuts logs that are shorter than their watermarks back to their longest intact prefix. */
  const recoverShortLogs = Effect.fnUntraced(function*(directory: string, marks: Watermarks) {
    let { eventBytes, lastEventSeq, transcriptBytes, transcriptCount } = marks
    const eventsFile = path.join(directory, EVENT_LOG)
    if ((yield* sizeOf(eventsFile)) < marks.eventBytes) {
      const bytes = (yield* fs.readFile(eventsFile)).subarray(0, marks.eventBytes)
      eventBytes = 0
      lastEventSeq = 0
      for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, eventBytes)) {
        const seq = Schema.decodeResult(SeqLine)(decoder.decode(bytes.subarray(eventBytes, end)))
        if (Result.isFailure(seq) || seq.success.seq <= lastEventSeq) break
        lastEventSeq = seq.success.seq
        eventBytes = end + 1
      }
    }
    const transcriptFile = path.join(directory, TRANSCRIPT_LOG)
    const indexFile = path.join(directory, TRANSCRIPT_INDEX)
    if (
      (yield* sizeOf(transcriptFile)) < marks.transcriptBytes || (yield* sizeOf(indexFile)) < marks.indexBytes
    ) {
      // The transcript itself is the source of truth: keep its intact prefix and rebuild the index from it.
      const bytes = (yield* fs.readFile(transcriptFile)).subarray(0, marks.transcriptBytes)
      const index: Array<Uint8Array> = []
      transcriptBytes = 0
      transcriptCount = 0
      for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, transcriptBytes)) {
        const entry = Schema.decodeResult(EntryLine)(decoder.decode(bytes.subarray(transcriptBytes, end)))
        if (Result.isFailure(entry) || entry.success.seq !== transcriptCount + 1) break
        index.push(indexEntry(transcriptBytes))
        transcriptCount++
        transcriptBytes = end + 1
      }
      yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* fs.open(indexFile, { flag: "w" })
        if (index.length > 0) yield* handle.writeAll(concat(index))
        yield* handle.sync
      }))
    }
    return {
      eventBytes,
      lastEventSeq,
      transcriptBytes,
      indexBytes: transcriptCount * INDEX_ENTRY_BYTES,
      transcriptCount
    } satisfies Watermarks
  })

  const loadWorker = Effect.fnUntraced(function*(workerId: string, clean: boolean) {
    const directory = path.join(workersRoot, workerId)
    // After a clean close there are no crash leftovers to remove and no tails to check: only the record is read.
    // Otherwise the listing is the directory check too (one call per Worker fewer than a stat first).
    const listed = clean ? undefined : yield* removeTemporaries(directory)
    if (listed === "absent") return
    const text = yield* readOptional(path.join(directory, WORKER_FILE), clean)
    let record: WorkerStore.WorkerRecord | undefined
    let marks = noLogs
    if (Option.isSome(text)) {
      const decoded = Schema.decodeResult(WorkerFileJson)(text.value)
      if (Result.isFailure(decoded) || inconsistent(workerId, decoded.success.record, decoded.success.logs)) {
        quarantined.add(workerId)
        diagnostics.push(
          new RuntimeInfo.Diagnostic({
            level: "error",
            code: "worker_record_corrupt",
            message: "the Worker's stored record cannot be read; the Worker is left out until it is repaired",
            workerId
          })
        )
        return
      }
      record = decoded.success.record
      marks = decoded.success.logs
    }
    if (clean) {
      if (Option.isSome(text)) {
        workers.set(workerId, Object.assign(newState(workerId, record, marks), { created: true }))
      }
      return
    }
    const logs = [
      { name: EVENT_LOG, label: "event log", committed: (m: Watermarks) => m.eventBytes },
      { name: TRANSCRIPT_LOG, label: "transcript", committed: (m: Watermarks) => m.transcriptBytes },
      { name: TRANSCRIPT_INDEX, label: "transcript index", committed: (m: Watermarks) => m.indexBytes }
    ].map((log) => ({ ...log, file: path.join(directory, log.name) }))
    // A log the listing does not name was never written (a Worker that never ran has none): its size is 0, with no
    // stat and no NotFound error per log — which dominated opening a store of many idle Workers.
    const sizes = yield* Effect.forEach(
      logs,
      (log) => listed === undefined || listed.has(log.name) ? sizeOf(log.file) : Effect.succeed(0)
    )
    if (logs.some((log, i) => sizes[i]! < log.committed(marks))) {
      const kept = yield* recoverShortLogs(directory, marks)
      diagnostics.push(
        new RuntimeInfo.Diagnostic({
          level: "error",
          code: "log_truncated",
          message: `a log was shorter than its committed length; kept events up to seq ${kept.lastEventSeq} ` +
            `(was ${marks.lastEventSeq}) and ${kept.transcriptCount} transcript entries (was ${marks.transcriptCount})`,
          workerId
        })
      )
      marks = kept
      yield* Effect.forEach(logs, (log) => fs.truncate(log.file, log.committed(marks)), { discard: true })
      yield* replaceFile(directory, WORKER_FILE, yield* workerFileText(record, marks))
      yield* syncDirectory(directory)
    } else {
      const torn = logs.filter((log, i) => sizes[i]! > log.committed(marks))
      if (torn.length > 0) {
        const discarded = logs.reduce((sum, log, i) => sum + Math.max(0, sizes[i]! - log.committed(marks)), 0)
        yield* Effect.forEach(torn, (log) => fs.truncate(log.file, log.committed(marks)), { discard: true })
        diagnostics.push(
          new RuntimeInfo.Diagnostic({
            level: "warning",
            code: "torn_tail_truncated",
            message: `discarded ${discarded} uncommitted bytes at the end of the ${
              torn.map((log) => log.label).join(", ")
            }`,
            workerId
          })
        )
      }
    }
    // Without worker.json nothing of this Worker was ever committed.
    if (Option.isNone(text)) return
    const state = newState(workerId, record, marks)
    state.created = true
    workers.set(workerId, state)
  })

  yield* fs.makeDirectory(workersRoot, { recursive: true }).pipe(
    Effect.mapError(platformFailure("open", "could not create the store directory"))
  )
  // Before anything in the directory is read or removed: it may be another process's.
  yield* lockDirectory
  yield* removeTemporaries(root)
  // Consumed before anything is written, so that only the close that ends this opening can mark the store clean.
  const clean = yield* readOptional(path.join(root, CLEAN_FILE)).pipe(
    Effect.flatMap((marker) =>
      Option.isNone(marker)
        ? Effect.succeed(false)
        : fs.remove(path.join(root, CLEAN_FILE)).pipe(Effect.andThen(syncDirectory(root)), Effect.as(true))
    ),
    Effect.mapError(platformFailure("open", "could not read or clear the clean-close marker"))
  )
  const runtimeText = yield* readOptional(path.join(root, RUNTIME_FILE)).pipe(
    Effect.mapError(platformFailure("open", "could not read the runtime record"))
  )
  if (Option.isSome(runtimeText)) {
    const decoded = Schema.decodeResult(RuntimeFileJson)(runtimeText.value)
    if (Result.isSuccess(decoded)) {
      runtime = Option.some(decoded.success)
    } else {
      diagnostics.push(
        new RuntimeInfo.Diagnostic({
          level: "error",
          code: "runtime_record_corrupt",
          message: "the stored runtime record cannot be read; it is ignored and replaced on the next save"
        })
      )
    }
  }
  const names = yield* fs.readDirectory(workersRoot).pipe(
    Effect.mapError(platformFailure("open", "could not list the stored Workers"))
  )
  yield* Effect.forEach(
    names.filter(isWorkerId).sort(),
    (workerId) =>
      loadWorker(workerId, clean).pipe(
        // An unreadable Worker is quarantined like a corrupt one; the rest of the store still opens.
        Effect.catch((error) =>
          Effect.sync(() => {
            quarantined.add(workerId)
            workers.delete(workerId)
            diagnostics.push(
              new RuntimeInfo.Diagnostic({
                level: "error",
                code: "worker_files_unreadable",
                message: `the Worker's files could not be opened (${
                  error._tag === "PlatformError" ? error.reason._tag : error._tag
                }); the Worker is left out`,
                workerId
              })
            )
          })
        )
      ),
    // Opening is syscall-bound: 32 Workers in flight keep the I/O pool fed (measured ~5% faster than 8 on a warm
    // cache and 2 cores), and memory stays bounded by 32 records at a time.
    { concurrency: 32, discard: true }
  )

  // -- commits ---------------------------------------------------------------------------------------------------

  const lookup = (operation: string, workerId: string): Effect.Effect<WorkerState | undefined, Errors.StoreFailure> =>
    !isWorkerId(workerId)
      ? Effect.fail(failure(operation, "the worker id is not a valid identifier"))
      : quarantined.has(workerId)
      ? Effect.fail(failure(operation, "the Worker's stored record is corrupt; see the store diagnostics"))
      : Effect.succeed(workers.get(workerId))

  const prepare = Effect.fnUntraced(
    function*(
      workerId: Ids.WorkerId,
      lastEventSeq: number,
      transcriptCount: number,
      change: WorkerStore.WorkerChange
    ) {
      const checked = WorkerStore.checkChange(workerId, { lastEventSeq, transcriptCount }, change)
      if (Result.isFailure(checked)) return yield* checked.failure
      if (change.record !== undefined) yield* Schema.encodeEffect(WorkerStore.WorkerRecord)(change.record)
      const events = yield* Effect.forEach(
        change.events ?? [],
        (event) =>
          Effect.map(Schema.encodeEffect(EventLine)(event), (text) => ({
            seq: event.seq,
            line: encoder.encode(`${text}\n`)
          }))
      )
      const transcript = yield* Effect.forEach(
        change.transcript ?? [],
        (entry) => Effect.map(Schema.encodeEffect(EntryLine)(entry), (text) => encoder.encode(`${text}\n`))
      )
      return { events, transcript, record: change.record } satisfies PreparedCommit
    },
    Effect.catchTag("SchemaError", () => Effect.fail(failure("commit", "the change cannot be encoded")))
  )

  /** Appends `chunks` to a log after cutting anything past its committed length, then fsyncs it. */
  const appendLog = (directory: string, name: string, label: string, chunks: Array<Uint8Array>, committed: number) =>
    chunks.length === 0 ? Effect.void : Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(path.join(directory, name), { flag: "a" })
      const size = Number((yield* handle.stat).size)
      if (size < committed) return yield* failure("commit", `the ${label} is shorter than its committed length`)
      if (size > committed) yield* handle.truncate(committed)
      yield* handle.writeAll(concat(chunks))
      yield* handle.sync
    })).pipe(
      Effect.catchTag(
        "PlatformError",
        (error) => Effect.fail(platformFailure("commit", `could not append to the ${label}`)(error))
      )
    )

  /** One group commit: validate each queued change in order, write the survivors with one fsync per file. */
  const writeBatch = Effect.fnUntraced(function*(workerId: Ids.WorkerId, worker: WorkerState, batch: Array<Pending>) {
    const start = worker.marks
    let { eventBytes, lastEventSeq, transcriptBytes, transcriptCount } = start
    let record = worker.record
    const eventLines: Array<Uint8Array> = []
    const transcriptLines: Array<Uint8Array> = []
    const indexLines: Array<Uint8Array> = []
    const seqs: Array<number> = []
    const offsets: Array<number> = []
    const accepted: Array<Pending> = []
    for (const pending of batch) {
      const prepared = yield* Effect.result(prepare(workerId, lastEventSeq, transcriptCount, pending.change))
      if (Result.isFailure(prepared)) {
        yield* Deferred.fail(pending.done, prepared.failure)
        continue
      }
      for (const event of prepared.success.events) {
        seqs.push(event.seq)
        offsets.push(eventBytes)
        eventLines.push(event.line)
        eventBytes += event.line.length
        lastEventSeq = event.seq
      }
      for (const line of prepared.success.transcript) {
        indexLines.push(indexEntry(transcriptBytes))
        transcriptLines.push(line)
        transcriptBytes += line.length
        transcriptCount++
      }
      if (prepared.success.record !== undefined) record = prepared.success.record
      accepted.push(pending)
    }
    if (accepted.length === 0) return
    const settle = (outcome: Result.Result<void, Errors.StoreFailure>) =>
      Effect.forEach(
        accepted,
        (pending) =>
          Result.isSuccess(outcome)
            ? Deferred.succeed(pending.done, undefined)
            : Deferred.fail(pending.done, outcome.failure),
        { discard: true }
      )

    const marks: Watermarks = {
      eventBytes,
      lastEventSeq,
      transcriptBytes,
      indexBytes: transcriptCount * INDEX_ENTRY_BYTES,
      transcriptCount
    }
    const written = yield* Effect.result(Effect.gen(function*() {
      const text = yield* workerFileText(record, marks).pipe(
        Effect.catchTag("SchemaError", () => Effect.fail(failure("commit", "the worker record cannot be encoded")))
      )
      if (!worker.created) {
        yield* fs.makeDirectory(worker.directory, { recursive: true }).pipe(
          Effect.andThen(syncDirectory(workersRoot)),
          Effect.mapError(platformFailure("commit", "could not create the Worker's directory"))
        )
        worker.created = true
      }
      yield* Effect.all([
        appendLog(worker.directory, EVENT_LOG, "event log", eventLines, start.eventBytes),
        appendLog(worker.directory, TRANSCRIPT_LOG, "transcript", transcriptLines, start.transcriptBytes),
        appendLog(worker.directory, TRANSCRIPT_INDEX, "transcript index", indexLines, start.indexBytes)
      ], { concurrency: "unbounded", discard: true })
      yield* replaceFile(worker.directory, WORKER_FILE, text).pipe(
        Effect.mapError(platformFailure("commit", "could not write the worker record"))
      )
    }))
    if (Result.isFailure(written)) {
      writeFailed = true
      return yield* settle(written)
    }

    // Renamed into place: the batch is committed. Publish it to readers in one synchronous step.
    worker.marks = marks
    worker.record = record
    if (worker.events !== undefined) {
      for (let i = 0; i < seqs.length; i++) {
        worker.events.seqs.push(seqs[i]!)
        worker.events.offsets.push(offsets[i]!)
      }
    }
    const durable = yield* Effect.result(
      syncDirectory(worker.directory).pipe(
        Effect.mapError(platformFailure("commit", "could not make the worker record durable"))
      )
    )
    yield* settle(durable)
  })

  const drain = (workerId: Ids.WorkerId, worker: WorkerState) =>
    Effect.suspend(() => {
      if (worker.pending.length === 0) return Effect.void
      const batch = worker.pending.splice(0)
      return writeBatch(workerId, worker, batch).pipe(
        // A defect must not leave callers waiting forever.
        Effect.ensuring(Effect.forEach(
          batch,
          (pending) => Deferred.fail(pending.done, failure("commit", "the commit did not complete")),
          { discard: true }
        ))
      )
    })

  const commit = Effect.fn("WorkerStore.commit")(
    function*(workerId: Ids.WorkerId, change: WorkerStore.WorkerChange) {
      inFlight++
      let worker = yield* lookup("commit", workerId)
      if (worker === undefined) {
        worker = newState(workerId, undefined, noLogs)
        workers.set(workerId, worker)
      }
      const done = Deferred.makeUnsafe<void, Errors.StoreFailure>()
      worker.pending.push({ change, done })
      // Whoever holds the lock writes everything queued so far; by the time we hold it, our change is settled.
      yield* worker.writer.withPermits(1)(drain(workerId, worker))
      return yield* Deferred.await(done)
    },
    Effect.ensuring(Effect.sync(() => inFlight--)),
    // Once queued, a commit runs to completion: an interrupted caller never leaves a change half-settled.
    Effect.uninterruptible
  )

  // -- reads ---------------------------------------------------------------------------------------------------

  /** Adds the (seq, offset) of every event line in `[from, to)` to `index`, reading in fixed-size chunks. */
  const scanEvents = (worker: WorkerState, from: number, to: number, index: EventIndex) =>
    Effect.gen(function*() {
      const file = path.join(worker.directory, EVENT_LOG)
      let carry: Uint8Array = new Uint8Array(0)
      let lineStart = from
      for (let position = from; position < to;) {
        const chunk = yield* readSlice(
          "readEvents",
          "event log",
          file,
          position,
          Math.min(to, position + SCAN_CHUNK_BYTES)
        )
        let start = 0
        for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
          const line = carry.length === 0 ? chunk.subarray(start, end) : concat([carry, chunk.subarray(start, end)])
          carry = new Uint8Array(0)
          const decoded = Schema.decodeResult(SeqLine)(decoder.decode(line))
          if (Result.isFailure(decoded)) {
            return yield* failure("readEvents", "the event log has a line that cannot be decoded")
          }
          index.seqs.push(decoded.success.seq)
          index.offsets.push(lineStart)
          lineStart = position + end + 1
          start = end + 1
        }
        carry = concat([carry, chunk.subarray(start)])
        position += chunk.length
      }
      if (carry.length > 0) return yield* failure("readEvents", "the event log has a damaged line")
    })

  const eventIndexOf = (worker: WorkerState): Effect.Effect<EventIndex, Errors.StoreFailure> =>
    worker.events !== undefined ? Effect.succeed(worker.events) : worker.indexer.withPermits(1)(
      Effect.gen(function*() {
        const index: EventIndex = { seqs: [], offsets: [] }
        // Commits may land while we scan: catch up until the scan reaches the committed end, then install the
        // index in the same synchronous step so later commits extend it.
        for (let from = 0;;) {
          if (worker.events !== undefined) return worker.events
          const to = worker.marks.eventBytes
          if (from === to) {
            worker.events = index
            return index
          }
          yield* scanEvents(worker, from, to, index)
          from = to
        }
      })
    )

  const readEvents = Effect.fn("WorkerStore.readEvents")(
    function*(workerId: string, options: { readonly after: number; readonly limit: number }) {
      const worker = yield* lookup("readEvents", workerId)
      if (worker === undefined || !(options.limit >= 1) || worker.marks.lastEventSeq <= options.after) return []
      const index = yield* eventIndexOf(worker)
      // Snapshot: index length and committed end always move together.
      const total = index.seqs.length
      const end = worker.marks.eventBytes
      const first = Sorted.upperBound(index.seqs, options.after, Order.Number)
      const last = Math.min(total, first + Math.floor(options.limit))
      if (first >= last) return []
      const from = index.offsets[first]!
      const to = last < total ? index.offsets[last]! : end
      const bytes = yield* readSlice("readEvents", "event log", path.join(worker.directory, EVENT_LOG), from, to)
      return yield* decodeLines("readEvents", "event log", EventLine, bytes)
    }
  )

  const readTranscript = Effect.fn("WorkerStore.readTranscript")(
    function*(workerId: string, query: Transcript.TranscriptQuery) {
      const worker = yield* lookup("readTranscript", workerId)
      const marks = worker?.marks ?? noLogs
      const total = marks.transcriptCount
      const range = Transcript.pageRange(total, {
        limit: Math.max(0, Math.floor(query.limit)),
        after: query.after === undefined ? undefined : Math.floor(query.after),
        before: query.before === undefined ? undefined : Math.ceil(query.before)
      })
      if (worker === undefined || range.start > range.end) {
        return new Transcript.TranscriptPage({ entries: [], total, hasMore: range.hasMore })
      }
      // Offsets of entries start..end, plus the next entry's offset (where entry `end` stops) when there is one.
      const through = Math.min(range.end + 1, total)
      const indexBytes = yield* readSlice(
        "readTranscript",
        "transcript index",
        path.join(worker.directory, TRANSCRIPT_INDEX),
        (range.start - 1) * INDEX_ENTRY_BYTES,
        through * INDEX_ENTRY_BYTES
      )
      const offsets: Array<number> = []
      for (let at = 0; at < indexBytes.length; at += INDEX_ENTRY_BYTES) {
        const offset = Number(decoder.decode(indexBytes.subarray(at, at + INDEX_DIGITS)))
        if (!Number.isSafeInteger(offset) || offset < 0 || indexBytes[at + INDEX_DIGITS] !== NEWLINE) {
          return yield* failure("readTranscript", "the transcript index is damaged")
        }
        offsets.push(offset)
      }
      const count = range.end - range.start + 1
      const bytes = yield* readSlice(
        "readTranscript",
        "transcript",
        path.join(worker.directory, TRANSCRIPT_LOG),
        offsets[0]!,
        range.end < total ? offsets[count]! : marks.transcriptBytes
      )
      const entries = yield* decodeLines("readTranscript", "transcript", EntryLine, bytes)
      if (entries.length !== count || entries.some((entry, i) => entry.seq !== range.start + i)) {
        return yield* failure("readTranscript", "the transcript does not match its index")
      }
      return new Transcript.TranscriptPage({ entries, total, hasMore: range.hasMore })
    }
  )

  const saveRuntime = Effect.fn("WorkerStore.saveRuntime")(
    function*(record: WorkerStore.RuntimeRecord) {
      const text = yield* Schema.encodeEffect(RuntimeFileJson)(record).pipe(
        Effect.catchTag(
          "SchemaError",
          () => Effect.fail(failure("saveRuntime", "the runtime record cannot be encoded"))
        )
      )
      yield* runtimeWriter.withPermits(1)(
        replaceFile(root, RUNTIME_FILE, text).pipe(
          Effect.andThen(Effect.sync(() => {
            runtime = Option.some(record)
          })),
          Effect.andThen(syncDirectory(root)),
          Effect.mapError(platformFailure("saveRuntime", "could not write the runtime record"))
        )
      )
    },
    Effect.uninterruptible
  )

  // Closing with nothing in flight and every write intact leaves the marker that lets the next open skip log checks.
  // A marker that cannot be written only costs the next open its full check.
  yield* Effect.addFinalizer(() =>
    inFlight > 0 || writeFailed
      ? Effect.void
      : replaceFile(root, CLEAN_FILE, "{\"format\":1}\n").pipe(Effect.andThen(syncDirectory(root)), Effect.ignore)
  )

  return WorkerStore.WorkerStore.of({
    loadRuntime: Effect.sync(() => runtime),
    saveRuntime,
    listWorkers: Effect.sync(() => Array.from(workers.values()).flatMap((worker) => worker.record ?? [])),
    getWorker: (workerId) =>
      Effect.map(lookup("getWorker", workerId), (worker) => Option.fromUndefinedOr(worker?.record)),
    commit,
    readEvents,
    lastEventSeq: (workerId) =>
      Effect.map(lookup("lastEventSeq", workerId), (worker) => worker?.marks.lastEventSeq ?? 0),
    readTranscript,
    transcriptCount: (workerId) =>
      Effect.map(lookup("transcriptCount", workerId), (worker) => worker?.marks.transcriptCount ?? 0),
    diagnostics: Effect.sync(() => diagnostics.slice())
  })
})

/**
 * The `WorkerStore` on `options.directory` (created if missing). Opening repairs torn log tails and reports them,
 * with corrupt records, through `diagnostics`; it fails only when the directory itself cannot be used.
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<WorkerStore.WorkerStore, Errors.StoreFailure, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(WorkerStore.WorkerStore, make(options))
