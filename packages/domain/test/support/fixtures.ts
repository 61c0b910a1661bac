/**
 * Sample domain values for tests of every package: ids, refs, scope rules, Worker records, transcript entries and
 * events, built the same way wherever a test needs one (import `@yoi/domain/test/support/fixtures`).
 *
 * Builders are deterministic functions of their arguments (a seq, a revision), so a test can rebuild the value it
 * expects instead of keeping the one it wrote. Deliberately not here: anything effectful (stores, temp directories,
 * servers: each package's own test support) and values only one test file uses.
 */
import * as Ids from "../../src/Ids.ts"
import * as LlmEngine from "../../src/LlmEngine.ts"
import * as Requests from "../../src/Requests.ts"
import * as RuntimeEvent from "../../src/RuntimeEvent.ts"
import * as Transcript from "../../src/Transcript.ts"
import * as Worker from "../../src/Worker.ts"
import * as WorkerExecution from "../../src/WorkerExecution.ts"
import * as WorkerStore from "../../src/WorkerStore.ts"

export const w1 = Ids.WorkerId.make("w_1")
export const w2 = Ids.WorkerId.make("w_2")
export const runId = Ids.RunId.make("run_1")
export const inputId = Ids.InputId.make("in_1")

export const ref = (runtimeId: string, workerId: string): Ids.WorkerRef =>
  new Ids.WorkerRef({ runtimeId: Ids.RuntimeId.make(runtimeId), workerId: Ids.WorkerId.make(workerId) })

export const writeRule = (target: string, recursive = true): Worker.ScopeRule =>
  new Worker.ScopeRule({ target, permission: "write", recursive })

export const readRule = (target: string, recursive = true): Worker.ScopeRule =>
  new Worker.ScopeRule({ target, permission: "read", recursive })

/** A Worker record with every optional field set; `revision` changes what a later commit would change. */
export const workerRecord = (workerId: Ids.WorkerId, revision: number): WorkerStore.WorkerRecord =>
  new WorkerStore.WorkerRecord({
    workerId,
    displayName: `Worker ${workerId} r${revision}`,
    profile: { kind: "builtin", name: "companion" },
    profileName: "companion",
    configBundle: { id: "bundle_1", digest: "sha256:00ff" },
    requestedCapabilities: ["filesystem"],
    scope: [writeRule("/srv/project")],
    createdAt: 1_000,
    lastActivityAt: 1_000 + revision,
    status: "running",
    currentRun: new Worker.CurrentRun({ runId, inputId, startedAt: 1_500 }),
    queue: [
      new Worker.QueuedInput({
        inputId: Ids.InputId.make("in_2"),
        runId: Ids.RunId.make("run_2"),
        text: "next",
        queuedAt: 1_600
      })
    ],
    usage: new Worker.UsageTotals({ ...Worker.UsageTotals.zero, inputTokens: 10 * revision, runs: revision }),
    lastError: new Worker.LastError({ code: "engine_failure", message: "upstream timed out", at: 1_400 }),
    seqReserved: 100 * revision,
    createIdempotencyKey: "create-key-1",
    recentInputs: [
      new WorkerStore.RecentInput({
        key: "send-key-1",
        accepted: new Requests.InputAccepted({ inputId, runId, status: "started", transcriptSeq: 1, eventSeq: 1 })
      })
    ],
    binding: new WorkerExecution.BindingRecord({
      kind: "fixture",
      state: { host: `h${revision}`, n: [revision, null] }
    })
  })

/** A record with only the required fields. */
export const minimalRecord = (workerId: Ids.WorkerId): WorkerStore.WorkerRecord =>
  new WorkerStore.WorkerRecord({
    workerId,
    displayName: "minimal",
    profile: { kind: "runtime_default" },
    profileName: "default",
    requestedCapabilities: [],
    scope: [],
    createdAt: 5,
    lastActivityAt: 5,
    status: "idle",
    queue: [],
    usage: Worker.UsageTotals.zero,
    seqReserved: 0,
    recentInputs: []
  })

/** Transcript entry `seq` of run `runId`, user and assistant in turn; `text` defaults to `entry <seq>`. */
export const transcriptEntry = (seq: number, text = `entry ${seq}`): Transcript.TranscriptEntry =>
  new Transcript.TranscriptEntry({ seq, runId, kind: seq % 2 === 1 ? "user" : "assistant", text, at: 2_000 + seq })

/** Entries `from..to` inclusive (none when `to < from`). */
export const transcriptEntries = (
  from: number,
  to: number,
  text?: (seq: number) => string
): Array<Transcript.TranscriptEntry> => range(from, to).map((seq) => transcriptEntry(seq, text?.(seq)))

/** An entry of the history an engine is given: any kind, possibly interrupted. */
export const historyEntry = (
  seq: number,
  kind: Transcript.TranscriptKind,
  text: string,
  interrupted?: boolean
): Transcript.TranscriptEntry =>
  new Transcript.TranscriptEntry({
    seq,
    runId: `run_${seq}`,
    kind,
    text,
    at: 1_000 + seq,
    ...(interrupted === undefined ? {} : { interrupted })
  })

/** A request to an engine, with the fields engine tests vary. */
export const engineRequest = (
  input: string,
  options: {
    readonly systemPrompt?: string
    readonly history?: ReadonlyArray<Transcript.TranscriptEntry>
    readonly model?: string
    readonly generation?: LlmEngine.GenerationSettings
  } = {}
): LlmEngine.EngineRequest => ({
  workerId: "w_1",
  runId: "run_1",
  profile: new LlmEngine.Profile({
    name: "test",
    description: "a test profile",
    systemPrompt: options.systemPrompt ?? "",
    tools: [],
    ...(options.generation === undefined ? {} : { generation: options.generation })
  }),
  model: options.model ?? "request-model",
  history: options.history ?? [],
  input
})

/** A durable event; the kind varies with `seq` so a store round-trips more than one shape. */
export const durableEvent = (seq: number): RuntimeEvent.WorkerEvent => {
  const at = 3_000 + seq
  switch (seq % 5) {
    case 0:
      return RuntimeEvent.InputAcceptedEvent.make({ seq, at, runId, inputId, text: "hello" })
    case 1:
      return RuntimeEvent.RunStartedEvent.make({ seq, at, runId, inputId })
    case 2:
      return RuntimeEvent.TextDoneEvent.make({ seq, at, runId, text: "partial answer" })
    case 3:
      return RuntimeEvent.UsageEvent.make({
        seq,
        at,
        runId,
        run: new Worker.UsageFigures({ ...Worker.UsageFigures.zero, outputTokens: 3 }),
        total: new Worker.UsageTotals({ ...Worker.UsageTotals.zero, outputTokens: 3, runs: 1 })
      })
    default:
      return RuntimeEvent.StatusChangedEvent.make({ seq, at, from: "running", to: "idle" })
  }
}

export const textDelta = (seq: number): RuntimeEvent.WorkerEvent =>
  RuntimeEvent.TextDeltaEvent.make({ seq, at: 3_000 + seq, runId, delta: "tok" })

export const reasoningDelta = (seq: number): RuntimeEvent.WorkerEvent =>
  RuntimeEvent.ReasoningDeltaEvent.make({ seq, at: 3_000 + seq, runId, delta: "hmm" })

/** `from..to` inclusive (empty when `to < from`). */
export const range = (from: number, to: number): Array<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

export const seqsOf = (items: ReadonlyArray<{ readonly seq: number }>): Array<number> => items.map((item) => item.seq)
