/**
 * The on-disk format of `FileSystemWorkerStore`: file names, the JSON line encoding of its logs, the fixed-width
 * transcript index and `worker.json` with its commit watermarks. Public so that tools writing or inspecting a
 * store directly (the bench writes 10⁶-entry stores) use the adapter's own definition instead of restating it.
 *
 * Layout: `<dir>/runtime.json` and `<dir>/workers/<workerId>/{worker.json, events.jsonl, transcript.jsonl,
 * transcript.idx}`. Logs are JSON lines encoded with the domain schemas, only ever appended to. `worker.json` holds
 * the record and the committed byte length of each log (its *watermarks*): bytes past them were never committed.
 * `transcript.idx` holds one entry per transcript entry — 16 zero-padded decimal digits of its byte offset and a
 * newline — so a page costs one index slice and one transcript slice.
 *
 * Deliberately not here: any I/O (the store and its recovery do it), locking and the clean-close protocol.
 */
import { Errors, RuntimeEvent, Transcript, Worker, WorkerStore } from "@yoi/domain"
import { Effect, Schema } from "effect"

/** @category constants */
export const runtimeFile = "runtime.json"
/** @category constants */
export const workersDirectory = "workers"
/** @category constants */
export const workerFile = "worker.json"
/** @category constants */
export const eventLog = "events.jsonl"
/** @category constants */
export const transcriptLog = "transcript.jsonl"
/** @category constants */
export const transcriptIndex = "transcript.idx"
/** Written on a clean close, consumed by the next open (see `FileSystemWorkerStore`). @category constants */
export const cleanMarker = "clean"
/** @category constants */
export const cleanMarkerText = "{\"format\":1}\n"
/** The directory lock (a lock file of `internal/lockFile.ts`). @category constants */
export const lockFile = "runtime.lock"

/** Digits of one transcript index entry. @category constants */
export const indexDigits = 16
/** Bytes of one transcript index entry (its digits and a newline). @category constants */
export const indexEntryBytes = indexDigits + 1

/** Temp files the store creates while replacing a record; leftovers of a crash are removed on open. @category constants */
export const temporaryName = /^(?:runtime\.json|worker\.json|clean)\.[a-z0-9]+-[a-z0-9]+\.tmp$/

/** How much of each log `worker.json` says is committed. @category schemas */
export const Watermarks = Schema.Struct({
  eventBytes: Worker.Count,
  lastEventSeq: Worker.Count,
  transcriptBytes: Worker.Count,
  indexBytes: Worker.Count,
  transcriptCount: Worker.Count
})
/** @category models */
export type Watermarks = typeof Watermarks.Type

/** The watermarks of a Worker with no logs. @category constants */
export const noLogs: Watermarks = {
  eventBytes: 0,
  lastEventSeq: 0,
  transcriptBytes: 0,
  indexBytes: 0,
  transcriptCount: 0
}

/** `worker.json`: format 1, the record (absent before the first commit with one) and the watermarks. @category schemas */
export const WorkerFile = Schema.fromJsonString(Schema.Struct({
  format: Schema.Literal(1),
  record: Schema.optional(WorkerStore.WorkerRecord),
  logs: Watermarks
}))

/** @category schemas */
export const RuntimeFile = Schema.fromJsonString(WorkerStore.RuntimeRecord)
/** One line of `events.jsonl` (without its newline). @category schemas */
export const EventLine = Schema.fromJsonString(RuntimeEvent.WorkerEvent)
/** One line of `transcript.jsonl` (without its newline). @category schemas */
export const EntryLine = Schema.fromJsonString(Transcript.TranscriptEntry)
/** Just the seq of an event or transcript line, for scans that need no more. @category schemas */
export const SeqLine = Schema.fromJsonString(Schema.Struct({ seq: Worker.Count }))

/** The text of `worker.json`. @category constructors */
export const workerFileText = (record: WorkerStore.WorkerRecord | undefined, logs: Watermarks) =>
  Schema.encodeEffect(WorkerFile)({ format: 1, record, logs })

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const NEWLINE = 10

/** The index entry of a transcript line at byte `offset`. @category constructors */
export const indexEntryText = (offset: number): string => `${offset.toString().padStart(indexDigits, "0")}\n`

/** @category constructors */
export const indexEntry = (offset: number): Uint8Array => encoder.encode(indexEntryText(offset))

/** The byte offsets in a slice of the index, or `undefined` when an entry is damaged. @category constructors */
export const decodeIndex = (bytes: Uint8Array): Array<number> | undefined => {
  const offsets: Array<number> = []
  for (let at = 0; at < bytes.length; at += indexEntryBytes) {
    const offset = Number(decoder.decode(bytes.subarray(at, at + indexDigits)))
    if (!Number.isSafeInteger(offset) || offset < 0 || bytes[at + indexDigits] !== NEWLINE) return undefined
    offsets.push(offset)
  }
  return offsets
}

/** Splits newline-terminated lines; `undefined` when the bytes do not end on a line boundary. @category constructors */
export const splitLines = (bytes: Uint8Array): Array<string> | undefined => {
  const lines: Array<string> = []
  let start = 0
  for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
    lines.push(decoder.decode(bytes.subarray(start, end)))
    start = end + 1
  }
  return start === bytes.length ? lines : undefined
}

/**
 * Decodes whole lines of a log with `schema`; a torn or undecodable line is a `StoreFailure` naming the log by
 * `label` (never by path).
 * @category constructors
 */
export const decodeLines = <A>(
  operation: string,
  label: string,
  schema: Schema.Codec<A, string>,
  bytes: Uint8Array
): Effect.Effect<Array<A>, Errors.StoreFailure> => {
  const lines = splitLines(bytes)
  if (lines === undefined) {
    return Effect.fail(new Errors.StoreFailure({ operation, message: `the ${label} has a damaged line` }))
  }
  return Effect.forEach(lines, (line) => Schema.decodeEffect(schema)(line)).pipe(
    Effect.catchTag("SchemaError", () =>
      Effect.fail(
        new Errors.StoreFailure({ operation, message: `the ${label} has a line that cannot be decoded` })
      ))
  )
}

/** `worker.json` contents that contradict themselves or their directory. @category constructors */
export const inconsistent = (
  workerId: string,
  record: WorkerStore.WorkerRecord | undefined,
  logs: Watermarks
): boolean =>
  (record !== undefined && record.workerId !== workerId) ||
  logs.indexBytes !== logs.transcriptCount * indexEntryBytes ||
  (logs.transcriptCount === 0) !== (logs.transcriptBytes === 0) ||
  (logs.lastEventSeq === 0) !== (logs.eventBytes === 0)
