/**
 * Opening a `FileSystemWorkerStore` directory: what it holds, with every crash leftover repaired or reported.
 *
 * Bytes past a log's watermark were never committed: a longer log is truncated back to it (diagnostic
 * `torn_tail_truncated`), a shorter one is cut back to its longest intact prefix and its watermarks rewritten
 * (`log_truncated`; the transcript index is rebuilt from the transcript), and a `worker.json` that cannot be decoded
 * or contradicts itself quarantines that Worker (`worker_record_corrupt`, or `worker_files_unreadable` when its
 * files cannot be opened) while the rest of the store opens. Leftover temp files are removed.
 *
 * After a clean close (the `clean` marker, consumed here before anything is written so that a later crash is never
 * taken for a clean stop) only each `worker.json` is read: no per-Worker listing, no log sizes. The store still
 * checks every append against the committed length and bounds every read by the watermarks.
 *
 * Deliberately not here: the directory lock (taken before this runs), and paths in diagnostics: messages are fixed.
 */
import { type Ids, RuntimeInfo, type WorkerStore } from "@yoi/domain"
import { Effect, Option, Result, Schema } from "effect"
import * as Format from "../FileSystemStoreFormat.ts"
import { concat, platformFailure, type StoreFiles } from "./storeFiles.ts"

const NEWLINE = 10
const decoder = new TextDecoder()

/** A Worker found on open: its record (absent before its first record commit) and its committed watermarks. */
export interface OpenedWorker {
  readonly record: WorkerStore.WorkerRecord | undefined
  readonly marks: Format.Watermarks
}

/** What the directory holds once repaired. */
export interface Opened {
  readonly clean: boolean
  readonly runtime: Option.Option<WorkerStore.RuntimeRecord>
  readonly workers: ReadonlyMap<Ids.WorkerId, OpenedWorker>
  /** Workers whose files cannot be used: every call on them fails until they are repaired. */
  readonly quarantined: ReadonlySet<string>
  readonly diagnostics: ReadonlyArray<RuntimeInfo.Diagnostic>
}

/** Cuts logs that are shorter than their watermarks back to their longest intact prefix. */
const recoverShortLogs = Effect.fnUntraced(function*(files: StoreFiles, directory: string, marks: Format.Watermarks) {
  const { fs, path } = files
  let { eventBytes, lastEventSeq, transcriptBytes, transcriptCount } = marks
  const eventsFile = path.join(directory, Format.eventLog)
  if ((yield* files.sizeOf(eventsFile)) < marks.eventBytes) {
    const bytes = (yield* fs.readFile(eventsFile)).subarray(0, marks.eventBytes)
    eventBytes = 0
    lastEventSeq = 0
    for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, eventBytes)) {
      const seq = Schema.decodeResult(Format.SeqLine)(decoder.decode(bytes.subarray(eventBytes, end)))
      if (Result.isFailure(seq) || seq.success.seq <= lastEventSeq) break
      lastEventSeq = seq.success.seq
      eventBytes = end + 1
    }
  }
  const transcriptFile = path.join(directory, Format.transcriptLog)
  const indexFile = path.join(directory, Format.transcriptIndex)
  if (
    (yield* files.sizeOf(transcriptFile)) < marks.transcriptBytes ||
    (yield* files.sizeOf(indexFile)) < marks.indexBytes
  ) {
    // The transcript itself is the source of truth: keep its intact prefix and rebuild the index from it.
    const bytes = (yield* fs.readFile(transcriptFile)).subarray(0, marks.transcriptBytes)
    const index: Array<Uint8Array> = []
    transcriptBytes = 0
    transcriptCount = 0
    for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, transcriptBytes)) {
      const entry = Schema.decodeResult(Format.EntryLine)(decoder.decode(bytes.subarray(transcriptBytes, end)))
      if (Result.isFailure(entry) || entry.success.seq !== transcriptCount + 1) break
      index.push(Format.indexEntry(transcriptBytes))
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
    indexBytes: transcriptCount * Format.indexEntryBytes,
    transcriptCount
  } satisfies Format.Watermarks
})

/** Outcome of opening one Worker's directory. */
type WorkerOutcome =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Corrupt" }
  | { readonly _tag: "Opened"; readonly worker: OpenedWorker }

const absent: WorkerOutcome = { _tag: "Absent" }

/** Opens one Worker's directory, repairing its logs; diagnostics are pushed to `diagnostics` as they are found. */
const openWorker = Effect.fnUntraced(function*(
  files: StoreFiles,
  workersRoot: string,
  workerId: string,
  clean: boolean,
  diagnostics: Array<RuntimeInfo.Diagnostic>
) {
  const { fs, path } = files
  const directory = path.join(workersRoot, workerId)
  // After a clean close there are no crash leftovers to remove and no tails to check: only the record is read.
  // Otherwise the listing is the directory check too.
  const listed = clean ? undefined : yield* files.removeTemporaries(directory)
  if (listed === "absent") return absent
  const text = yield* files.readOptional(path.join(directory, Format.workerFile), clean)
  let record: WorkerStore.WorkerRecord | undefined
  let marks = Format.noLogs
  if (Option.isSome(text)) {
    const decoded = Schema.decodeResult(Format.WorkerFile)(text.value)
    if (Result.isFailure(decoded) || Format.inconsistent(workerId, decoded.success.record, decoded.success.logs)) {
      diagnostics.push(
        new RuntimeInfo.Diagnostic({
          level: "error",
          code: "worker_record_corrupt",
          message: "the Worker's stored record cannot be read; the Worker is left out until it is repaired",
          workerId
        })
      )
      return { _tag: "Corrupt" } satisfies WorkerOutcome
    }
    record = decoded.success.record
    marks = decoded.success.logs
  }
  if (clean) {
    return Option.isSome(text) ? { _tag: "Opened", worker: { record, marks } } satisfies WorkerOutcome : absent
  }
  const logs = [
    { name: Format.eventLog, label: "event log", committed: (m: Format.Watermarks) => m.eventBytes },
    { name: Format.transcriptLog, label: "transcript", committed: (m: Format.Watermarks) => m.transcriptBytes },
    { name: Format.transcriptIndex, label: "transcript index", committed: (m: Format.Watermarks) => m.indexBytes }
  ].map((log) => ({ ...log, file: path.join(directory, log.name) }))
  // A log the listing does not name was never written (a Worker that never ran has none): its size is 0, with no
  // stat and no NotFound error per log.
  const sizes = yield* Effect.forEach(
    logs,
    (log) => listed === undefined || listed.has(log.name) ? files.sizeOf(log.file) : Effect.succeed(0)
  )
  if (logs.some((log, i) => sizes[i]! < log.committed(marks))) {
    const kept = yield* recoverShortLogs(files, directory, marks)
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
    yield* files.replaceFile(directory, Format.workerFile, yield* Format.workerFileText(record, marks))
    yield* files.syncDirectory(directory)
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
  if (Option.isNone(text)) return absent
  return { _tag: "Opened", worker: { record, marks } } satisfies WorkerOutcome
})

/**
 * Opens the store directory `root` (its `workers` directory exists and the lock is held): removes temp files,
 * consumes the clean marker, reads the runtime record and opens every Worker, 32 at a time.
 */
export const open = Effect.fnUntraced(
  function*(files: StoreFiles, root: string, isWorkerId: (u: unknown) => u is Ids.WorkerId) {
    const { fs, path } = files
    const workersRoot = path.join(root, Format.workersDirectory)
    const diagnostics: Array<RuntimeInfo.Diagnostic> = []
    const workers = new Map<Ids.WorkerId, OpenedWorker>()
    const quarantined = new Set<string>()
    yield* files.removeTemporaries(root)
    // Consumed before anything is written, so that only the close that ends this opening can mark the store clean.
    const clean = yield* files.readOptional(path.join(root, Format.cleanMarker)).pipe(
      Effect.flatMap((marker) =>
        Option.isNone(marker)
          ? Effect.succeed(false)
          : fs.remove(path.join(root, Format.cleanMarker)).pipe(
            Effect.andThen(files.syncDirectory(root)),
            Effect.as(true)
          )
      ),
      Effect.mapError(platformFailure("open", "could not read or clear the clean-close marker"))
    )
    const runtimeText = yield* files.readOptional(path.join(root, Format.runtimeFile)).pipe(
      Effect.mapError(platformFailure("open", "could not read the runtime record"))
    )
    let runtime = Option.none<WorkerStore.RuntimeRecord>()
    if (Option.isSome(runtimeText)) {
      const decoded = Schema.decodeResult(Format.RuntimeFile)(runtimeText.value)
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
        openWorker(files, workersRoot, workerId, clean, diagnostics).pipe(
          Effect.map((outcome) => {
            if (outcome._tag === "Opened") workers.set(workerId, outcome.worker)
            else if (outcome._tag === "Corrupt") quarantined.add(workerId)
          }),
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
      // Syscall-bound: 32 Workers in flight keep the I/O pool fed while memory stays bounded by 32 records.
      { concurrency: 32, discard: true }
    )
    return { clean, runtime, workers, quarantined, diagnostics } satisfies Opened
  }
)
