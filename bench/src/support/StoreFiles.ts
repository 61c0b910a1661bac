/**
 * Writes `FileSystemWorkerStore` directories directly, for volumes too slow to create through the Runtime
 * (10⁶ transcript entries), in the adapter's own format (`FileSystemStoreFormat`: file names, line and index
 * encoding, `worker.json` with its watermarks). `events.jsonl` holds the durable events of the Worker's last run —
 * seven lines, numbered as if every earlier run had written its seven too; opening a store only checks the log's
 * size, and transcript reads never touch it.
 *
 * Lines are written from a template checked against the domain schema's own encoding, and every case reads its
 * data back through the store, which decodes each line with the schema and checks seqs against the index.
 */
import { FileSystemStoreFormat as Format } from "@yoi/adapters"
import { type RuntimeEvent, Transcript, Worker, WorkerStore } from "@yoi/domain"
import { Schema } from "effect"
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs"
import { join } from "node:path"

const BATCH_LINES = 8192

const encodeEntry = Schema.encodeSync(Format.EntryLine)
const encodeEvent = Schema.encodeSync(Format.EventLine)
const encodeWorkerFile = Schema.encodeSync(Format.WorkerFile)
const eventsPerRun = 7

const at = 1_750_000_000_000

const entryText = (seq: number): string =>
  seq % 2 === 1
    ? `question number ${seq >> 1}: what changed since the last turn?`
    : `Scripted reply to: question number ${(seq >> 1) - 1}: what changed since the last turn?`

const runIdOf = (seq: number): string => `r_bench_${String((seq + 1) >> 1).padStart(10, "0")}`

/** The JSON line of entry `seq`, built by hand in the schema's key order. */
const entryLine = (seq: number): string =>
  `{"seq":${seq},"runId":"${runIdOf(seq)}","kind":"${seq % 2 === 1 ? "user" : "assistant"}","text":${
    JSON.stringify(entryText(seq))
  },"at":${at + seq}}\n`

/** Fails loudly if the hand-built line ever differs from the schema's encoding. */
export const checkTemplate = (): void => {
  for (const seq of [1, 2, 99_999]) {
    const encoded = encodeEntry(
      new Transcript.TranscriptEntry({
        seq,
        runId: runIdOf(seq),
        kind: seq % 2 === 1 ? "user" : "assistant",
        text: entryText(seq),
        at: at + seq
      })
    )
    if (`${encoded}\n` !== entryLine(seq)) {
      throw new Error("bench/StoreFiles: the transcript line template no longer matches the schema encoding")
    }
  }
}

export const workerId = (i: number): string => `w_bench_${String(i).padStart(8, "0")}`

export interface Generated {
  readonly transcriptBytes: number
  readonly entries: number
}

/** The durable events of run `run` (1-based), as the Runtime writes them, from seq `first`. */
const lastRunEvents = (run: number, first: number, entries: number): string => {
  const runId = runIdOf(2 * run)
  const inputId = `i_bench_${String(run).padStart(10, "0")}`
  const when = at + entries
  const usage = new Worker.UsageFigures({ inputTokens: 40, outputTokens: 20, cacheReadTokens: 0, reasoningTokens: 0 })
  const total = new Worker.UsageTotals({
    inputTokens: 40 * run,
    outputTokens: 20 * run,
    cacheReadTokens: 0,
    reasoningTokens: 0,
    runs: run,
    failures: 0,
    cancellations: 0
  })
  const events: ReadonlyArray<RuntimeEvent.WorkerEventInput> = [
    { _tag: "input_accepted", at: when, runId, inputId, text: entryText(2 * run - 1) },
    { _tag: "run_started", at: when, runId, inputId },
    { _tag: "status_changed", at: when, from: "idle", to: "running" },
    { _tag: "text_done", at: when, runId, text: entryText(2 * run) },
    { _tag: "usage", at: when, runId, run: usage, total },
    { _tag: "run_finished", at: when, runId },
    { _tag: "status_changed", at: when, from: "running", to: "idle" }
  ]
  return events.map((event, i) => `${encodeEvent({ ...event, seq: first + i } as RuntimeEvent.WorkerEvent)}\n`)
    .join("")
}

/** Writes one Worker with `entries` transcript entries (user/assistant pairs) under `<root>/workers/`. */
export const writeWorker = (root: string, id: string, entries: number): Generated => {
  const directory = join(root, Format.workersDirectory, id)
  mkdirSync(directory, { recursive: true })
  const transcript = openSync(join(directory, Format.transcriptLog), "w")
  const index = openSync(join(directory, Format.transcriptIndex), "w")
  let offset = 0
  try {
    for (let seq = 1; seq <= entries;) {
      let lines = ""
      let offsets = ""
      for (let i = 0; i < BATCH_LINES && seq <= entries; i++, seq++) {
        const line = entryLine(seq)
        offsets += Format.indexEntryText(offset)
        lines += line
        offset += Buffer.byteLength(line)
      }
      writeSync(transcript, lines)
      writeSync(index, offsets)
    }
  } finally {
    closeSync(transcript)
    closeSync(index)
  }
  const runs = Math.floor(entries / 2)
  const lastEventSeq = runs * eventsPerRun
  const events = runs === 0 ? "" : lastRunEvents(runs, lastEventSeq - eventsPerRun + 1, entries)
  if (events.length > 0) writeFileSync(join(directory, Format.eventLog), events)
  const record = new WorkerStore.WorkerRecord({
    workerId: id as WorkerStore.WorkerRecord["workerId"],
    displayName: "companion",
    profile: { kind: "builtin", name: "companion" },
    profileName: "companion",
    requestedCapabilities: [],
    scope: [],
    createdAt: at,
    lastActivityAt: at + entries,
    status: "idle",
    queue: [],
    usage: Worker.UsageTotals.zero,
    seqReserved: lastEventSeq + 1024,
    recentInputs: []
  })
  const logs: Format.Watermarks = {
    eventBytes: Buffer.byteLength(events),
    lastEventSeq,
    transcriptBytes: offset,
    indexBytes: entries * Format.indexEntryBytes,
    transcriptCount: entries
  }
  writeFileSync(join(directory, Format.workerFile), encodeWorkerFile({ format: 1, record, logs }))
  return { transcriptBytes: offset, entries }
}

/** Writes `workers` Workers of `entriesEach` entries into a new store at `root`. */
export const writeStore = (root: string, workers: number, entriesEach: number): Generated => {
  checkTemplate()
  mkdirSync(join(root, Format.workersDirectory), { recursive: true })
  let bytes = 0
  for (let i = 0; i < workers; i++) bytes += writeWorker(root, workerId(i), entriesEach).transcriptBytes
  return { transcriptBytes: bytes, entries: workers * entriesEach }
}
