/**
 * Adapter: the `WorkerStore` port on a directory, through Effect's `FileSystem` and `Path` services (never Node
 * directly), for Runtimes whose Workers must survive a restart. The files are `FileSystemStoreFormat`'s; opening
 * repairs what a crash left (`internal/storeRecovery.ts`).
 *
 * **Commit point** A commit appends and fsyncs the logs, then replaces `worker.json` (the record and the logs'
 * watermarks); readers never look past the watermarks. Commits to one Worker queue up: whoever holds its write lock
 * validates the queue in order (`WorkerStore.checkChange`; a bad change fails alone) and writes the batch with one
 * fsync per touched log. Different Workers commit in parallel. Event reads use an in-memory (seq, offset) index.
 *
 * **One owner** An open store holds `<dir>/runtime.lock` until it closes; a second open fails with a path- and
 * pid-free `StoreFailure`. A lock whose holder is dead, or bears this pid (a previous incarnation), is taken over at
 * once; a live holder's, never. Closing with nothing in flight leaves the `clean` marker that spares the next open
 * its log checks. Deliberately not here: Worker semantics, config bundles, compaction, and paths in any message.
 */
import { type Errors, Ids, Sorted, Transcript, WorkerStore } from "@yoi/domain"
import {
  Deferred,
  Effect,
  FileSystem,
  Layer,
  Option,
  Order,
  Path,
  Random,
  Result,
  Schema,
  type Scope,
  Semaphore
} from "effect"
import * as Format from "./FileSystemStoreFormat.ts"
import * as LockFile from "./internal/lockFile.ts"
import { concat, failure, make as makeStoreFiles, platformFailure } from "./internal/storeFiles.ts"
import * as StoreLock from "./internal/storeLock.ts"
import * as StoreRecovery from "./internal/storeRecovery.ts"

const SCAN_CHUNK_BYTES = 64 * 1024
const NEWLINE = 10
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
  marks: Format.Watermarks
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
  const workersRoot = path.join(root, Format.workersDirectory)
  const token = (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
  const files = makeStoreFiles(fs, path, token)
  const workers = new Map<string, WorkerState>()
  const runtimeWriter = Semaphore.makeUnsafe(1)
  /** Commits queued or being written, and whether any write failed: a clean marker needs 0 and false. */
  let inFlight = 0
  let writeFailed = false

  const newState = (
    workerId: string,
    record: WorkerStore.WorkerRecord | undefined,
    marks: Format.Watermarks
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

  yield* fs.makeDirectory(workersRoot, { recursive: true }).pipe(
    Effect.mapError(platformFailure("open", "could not create the store directory"))
  )
  // Before anything in the directory is read or removed: it may be another process's.
  yield* StoreLock.lockDirectory({
    fs,
    path,
    root,
    pid: options.pid ?? globalThis.process.pid,
    isAlive: options.isProcessAlive ?? LockFile.processAlive,
    instanceId: `store_${token}`
  })
  const opened = yield* StoreRecovery.open(files, root, isWorkerId)
  const { diagnostics, quarantined } = opened
  let runtime = opened.runtime
  for (const [workerId, { record, marks }] of opened.workers) {
    workers.set(workerId, Object.assign(newState(workerId, record, marks), { created: true }))
  }

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
          Effect.map(Schema.encodeEffect(Format.EventLine)(event), (text) => ({
            seq: event.seq,
            line: encoder.encode(`${text}\n`)
          }))
      )
      const transcript = yield* Effect.forEach(
        change.transcript ?? [],
        (entry) => Effect.map(Schema.encodeEffect(Format.EntryLine)(entry), (text) => encoder.encode(`${text}\n`))
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
        indexLines.push(Format.indexEntry(transcriptBytes))
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

    const marks: Format.Watermarks = {
      eventBytes,
      lastEventSeq,
      transcriptBytes,
      indexBytes: transcriptCount * Format.indexEntryBytes,
      transcriptCount
    }
    const written = yield* Effect.result(Effect.gen(function*() {
      const text = yield* Format.workerFileText(record, marks).pipe(
        Effect.catchTag("SchemaError", () => Effect.fail(failure("commit", "the worker record cannot be encoded")))
      )
      if (!worker.created) {
        yield* fs.makeDirectory(worker.directory, { recursive: true }).pipe(
          Effect.andThen(files.syncDirectory(workersRoot)),
          Effect.mapError(platformFailure("commit", "could not create the Worker's directory"))
        )
        worker.created = true
      }
      yield* Effect.all([
        appendLog(worker.directory, Format.eventLog, "event log", eventLines, start.eventBytes),
        appendLog(worker.directory, Format.transcriptLog, "transcript", transcriptLines, start.transcriptBytes),
        appendLog(worker.directory, Format.transcriptIndex, "transcript index", indexLines, start.indexBytes)
      ], { concurrency: "unbounded", discard: true })
      yield* files.replaceFile(worker.directory, Format.workerFile, text).pipe(
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
      files.syncDirectory(worker.directory).pipe(
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
        worker = newState(workerId, undefined, Format.noLogs)
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
      const file = path.join(worker.directory, Format.eventLog)
      let carry: Uint8Array = new Uint8Array(0)
      let lineStart = from
      for (let position = from; position < to;) {
        const chunk = yield* files.readSlice(
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
          const decoded = Schema.decodeResult(Format.SeqLine)(decoder.decode(line))
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
      const bytes = yield* files.readSlice(
        "readEvents",
        "event log",
        path.join(worker.directory, Format.eventLog),
        from,
        to
      )
      return yield* Format.decodeLines("readEvents", "event log", Format.EventLine, bytes)
    }
  )

  const readTranscript = Effect.fn("WorkerStore.readTranscript")(
    function*(workerId: string, query: Transcript.TranscriptQuery) {
      const worker = yield* lookup("readTranscript", workerId)
      const marks = worker?.marks ?? Format.noLogs
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
      const indexBytes = yield* files.readSlice(
        "readTranscript",
        "transcript index",
        path.join(worker.directory, Format.transcriptIndex),
        (range.start - 1) * Format.indexEntryBytes,
        through * Format.indexEntryBytes
      )
      const offsets = Format.decodeIndex(indexBytes)
      if (offsets === undefined) return yield* failure("readTranscript", "the transcript index is damaged")
      const count = range.end - range.start + 1
      const bytes = yield* files.readSlice(
        "readTranscript",
        "transcript",
        path.join(worker.directory, Format.transcriptLog),
        offsets[0]!,
        range.end < total ? offsets[count]! : marks.transcriptBytes
      )
      const entries = yield* Format.decodeLines("readTranscript", "transcript", Format.EntryLine, bytes)
      if (entries.length !== count || entries.some((entry, i) => entry.seq !== range.start + i)) {
        return yield* failure("readTranscript", "the transcript does not match its index")
      }
      return new Transcript.TranscriptPage({ entries, total, hasMore: range.hasMore })
    }
  )

  const saveRuntime = Effect.fn("WorkerStore.saveRuntime")(
    function*(record: WorkerStore.RuntimeRecord) {
      const text = yield* Schema.encodeEffect(Format.RuntimeFile)(record).pipe(
        Effect.catchTag(
          "SchemaError",
          () => Effect.fail(failure("saveRuntime", "the runtime record cannot be encoded"))
        )
      )
      yield* runtimeWriter.withPermits(1)(
        files.replaceFile(root, Format.runtimeFile, text).pipe(
          Effect.andThen(Effect.sync(() => {
            runtime = Option.some(record)
          })),
          Effect.andThen(files.syncDirectory(root)),
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
      : files.replaceFile(root, Format.cleanMarker, Format.cleanMarkerText).pipe(
        Effect.andThen(files.syncDirectory(root)),
        Effect.ignore
      )
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
