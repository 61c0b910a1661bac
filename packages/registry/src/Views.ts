/**
 * Browser-safe views: the only shapes the registry returns and the browser-facing API serves, and every projection
 * that builds them (from the runtime's shapes, from the registry's knowledge of a source, from legacy pod metadata).
 *
 * **Details** Safety by construction: these are separate schemas, not the runtime's, and none has a field able to
 * hold a URL, token, path, pid or credential — only ids, display text, statuses, counts and sanitized
 * diagnostics. Building a view copies the allowed fields one by one, so a new field in a runtime shape can never
 * leak through.
 *
 * Deliberately not here: deciding what a viewer may see (`Policy`) and which runtimes answer (the registry).
 */
import type { Requests, RuntimeInfo, Transcript, Worker } from "@yoi/domain"
import { Schema } from "effect"
import * as Policy from "./Policy.ts"
import type * as RegistryErrors from "./RegistryErrors.ts"

/** How a runtime is reached, for people. @category schemas */
export const Implementation = Schema.Literals(["embedded", "remote", "legacy_compatibility"])
/** @category models */
export type Implementation = typeof Implementation.Type

/** @category schemas */
export const DiagnosticView = Schema.Struct({
  level: Schema.Literals(["info", "warning", "error"]),
  code: Schema.String,
  message: Schema.String
})
/** @category models */
export type DiagnosticView = typeof DiagnosticView.Type

/** @category schemas */
export const CountsView = Schema.Struct({
  idle: Schema.Number,
  running: Schema.Number,
  stopped: Schema.Number,
  failed: Schema.Number,
  total: Schema.Number
})

/** @category schemas */
export const RuntimeView = Schema.Struct({
  runtimeId: Schema.String,
  displayName: Schema.String,
  implementation: Implementation,
  state: Schema.Literals(["available", "unavailable"]),
  /** `backend_internal` runtimes are visible to every viewer of this backend; `workspace` ones to their workspace. */
  visibility: Schema.Literals(["backend_internal", "workspace"]),
  capabilities: Schema.Struct({
    canCreateWorkers: Schema.Boolean,
    canAcceptInput: Schema.Boolean,
    canStreamEvents: Schema.Boolean
  }),
  counts: Schema.optional(CountsView),
  diagnostics: Schema.Array(DiagnosticView)
})
/** @category models */
export type RuntimeView = typeof RuntimeView.Type

/** @category schemas */
export const UsageView = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  cacheReadTokens: Schema.Number,
  reasoningTokens: Schema.Number,
  runs: Schema.Number,
  failures: Schema.Number,
  cancellations: Schema.Number
})
/** @category models */
export type UsageView = typeof UsageView.Type

/** @category schemas */
export const WorkerView = Schema.Struct({
  runtimeId: Schema.String,
  workerId: Schema.String,
  displayName: Schema.String,
  displayRef: Schema.String,
  implementation: Implementation,
  status: Schema.Literals(["idle", "running", "stopped", "failed"]),
  profileName: Schema.String,
  /** The provider's configured name and the model (runtime Workers; a legacy pod has neither). */
  provider: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  createdAt: Schema.optional(Schema.Number),
  lastActivityAt: Schema.optional(Schema.Number),
  currentRunId: Schema.optional(Schema.String),
  queueLength: Schema.Number,
  usage: Schema.optional(UsageView),
  lastError: Schema.optional(Schema.Struct({ code: Schema.String, message: Schema.String })),
  capabilities: Schema.Struct({
    canAcceptInput: Schema.Boolean,
    canCancel: Schema.Boolean,
    canStop: Schema.Boolean
  })
})
/** @category models */
export type WorkerView = typeof WorkerView.Type

/** A runtime's part in a list across runtimes: answered, or unavailable (with why). @category schemas */
export const RuntimeListState = Schema.Struct({
  runtimeId: Schema.String,
  state: Schema.Literals(["available", "unavailable"]),
  diagnostics: Schema.Array(DiagnosticView)
})
/** @category models */
export type RuntimeListState = typeof RuntimeListState.Type

/** @category schemas */
export const WorkerListView = Schema.Struct({
  workers: Schema.Array(WorkerView),
  runtimes: Schema.Array(RuntimeListState)
})
/** @category models */
export type WorkerListView = typeof WorkerListView.Type

/** @category schemas */
export const TranscriptEntryView = Schema.Struct({
  seq: Schema.Number,
  runId: Schema.String,
  kind: Schema.String,
  text: Schema.String,
  at: Schema.Number,
  interrupted: Schema.optional(Schema.Boolean)
})

/** @category schemas */
export const TranscriptView = Schema.Struct({
  entries: Schema.Array(TranscriptEntryView),
  total: Schema.Number,
  hasMore: Schema.Boolean
})
/** @category models */
export type TranscriptView = typeof TranscriptView.Type

/** @category schemas */
export const InputAcceptedView = Schema.Struct({
  inputId: Schema.String,
  runId: Schema.String,
  status: Schema.Literals(["started", "queued"]),
  transcriptSeq: Schema.optional(Schema.Number),
  eventSeq: Schema.Number
})
/** @category models */
export type InputAcceptedView = typeof InputAcceptedView.Type

/** @category schemas */
export const CreatedWorkerView = Schema.Struct({
  worker: WorkerView,
  input: Schema.optional(InputAcceptedView)
})
/** @category models */
export type CreatedWorkerView = typeof CreatedWorkerView.Type

/** @category schemas */
export const CancelView = Schema.Struct({
  outcome: Schema.Literals(["cancelled", "not_running"]),
  runId: Schema.optional(Schema.String)
})
/** @category models */
export type CancelView = typeof CancelView.Type

/** @category schemas */
export const StopView = Schema.Struct({
  outcome: Schema.Literals(["stopped", "already_stopped"]),
  droppedQueued: Schema.Number
})
/** @category models */
export type StopView = typeof StopView.Type

/** @category schemas */
export const UsageReportView = Schema.Struct({ runtimeId: Schema.String, workerId: Schema.String, usage: UsageView })
/** @category models */
export type UsageReportView = typeof UsageReportView.Type

/** The legacy `/api/hosts` view: one host per runtime. @category schemas */
export const HostView = Schema.Struct({
  hostId: Schema.String,
  displayName: Schema.String,
  kind: Schema.Literals(["embedded-worker-runtime-host", "remote-worker-runtime-host", "local-pod-host"]),
  state: Schema.Literals(["available", "unavailable"])
})
/** @category models */
export type HostView = typeof HostView.Type

// ---- projections (copy allowed fields only) ---------------------------------------------------------------------

const clip = (text: string, max = 200) => text.length > max ? `${text.slice(0, max)}…` : text

/** @category constructors */
export const usageView = (usage: Worker.UsageTotals): UsageView => ({
  inputTokens: usage.inputTokens,
  outputTokens: usage.outputTokens,
  cacheReadTokens: usage.cacheReadTokens,
  reasoningTokens: usage.reasoningTokens,
  runs: usage.runs,
  failures: usage.failures,
  cancellations: usage.cancellations
})

/** @category constructors */
export const workerView = (
  worker: Worker.WorkerSummary,
  runtimeId: string,
  implementation: Implementation
): WorkerView => ({
  runtimeId,
  workerId: worker.ref.workerId,
  displayName: worker.displayName,
  displayRef: `${worker.displayName}@${runtimeId}`,
  implementation,
  status: worker.status,
  profileName: worker.profileName,
  provider: clip(worker.provider, 64),
  model: clip(worker.model, 128),
  createdAt: worker.createdAt,
  lastActivityAt: worker.lastActivityAt,
  ...(worker.currentRun !== undefined ? { currentRunId: worker.currentRun.runId } : {}),
  queueLength: worker.queueLength,
  usage: usageView(worker.usage),
  ...(worker.lastError !== undefined
    ? { lastError: { code: clip(worker.lastError.code, 64), message: clip(worker.lastError.message) } }
    : {}),
  capabilities: {
    canAcceptInput: worker.capabilities.canAcceptInput,
    canCancel: worker.capabilities.canCancel,
    canStop: worker.capabilities.canStop
  }
})

/** @category constructors */
export const transcriptView = (page: Transcript.TranscriptPage): TranscriptView => ({
  entries: page.entries.map((e) => ({
    seq: e.seq,
    runId: e.runId,
    kind: e.kind,
    text: e.text,
    at: e.at,
    ...(e.interrupted !== undefined ? { interrupted: e.interrupted } : {})
  })),
  total: page.total,
  hasMore: page.hasMore
})

/** @category constructors */
export const inputAcceptedView = (accepted: Requests.InputAccepted): InputAcceptedView => ({
  inputId: accepted.inputId,
  runId: accepted.runId,
  status: accepted.status,
  ...(accepted.transcriptSeq !== undefined ? { transcriptSeq: accepted.transcriptSeq } : {}),
  eventSeq: accepted.eventSeq
})

/** Sanitizes a diagnostic from elsewhere: code and message clipped, anything path- or URL-like removed. @category constructors */
export const diagnosticView = (
  level: DiagnosticView["level"],
  code: string,
  message: string
): DiagnosticView => ({
  level,
  code: clip(code.replace(/[^A-Za-z0-9_.:-]/g, "_"), 64),
  message: clip(
    message.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, "<address>").replace(/(^|\s)(\/|~\/|\.\.?\/)\S*/g, "$1<path>")
  )
})

/** @category constructors */
export const countsView = (counts: RuntimeInfo.WorkerCounts): typeof CountsView.Type => ({
  idle: counts.idle,
  running: counts.running,
  stopped: counts.stopped,
  failed: counts.failed,
  total: counts.total
})

/** @category constructors */
export const createdWorkerView = (
  created: Requests.CreatedWorker,
  runtimeId: string,
  implementation: Implementation
): CreatedWorkerView => ({
  worker: workerView(created.worker, runtimeId, implementation),
  ...(created.input !== undefined ? { input: inputAcceptedView(created.input) } : {})
})

/** @category constructors */
export const cancelView = (result: Requests.CancelRunResult): CancelView => ({
  outcome: result.outcome,
  ...(result.runId !== undefined ? { runId: result.runId } : {})
})

/** @category constructors */
export const stopView = (result: Requests.StopWorkerResult): StopView => ({
  outcome: result.outcome,
  droppedQueued: result.droppedQueued
})

/** @category constructors */
export const usageReportView = (
  runtimeId: string,
  workerId: string,
  report: RuntimeInfo.UsageReport
): UsageReportView => ({
  runtimeId,
  workerId,
  usage: usageView(report.usage)
})

/**
 * A legacy pod as a Worker: nothing here can reach it, so it takes no command and is never `running` — `idle` when
 * its metadata has an active session, `stopped` when it is metadata only.
 * @category constructors
 */
export const legacyPodWorkerView = (pod: {
  readonly runtimeId: string
  readonly workerId: string
  readonly displayName: string
  readonly active: boolean
  readonly profileName: string
}): WorkerView => ({
  runtimeId: pod.runtimeId,
  workerId: pod.workerId,
  displayName: pod.displayName,
  displayRef: `${pod.displayName}@${pod.runtimeId}`,
  implementation: "legacy_compatibility",
  status: pod.active ? "idle" : "stopped",
  profileName: pod.profileName,
  queueLength: 0,
  capabilities: { canAcceptInput: false, canCancel: false, canStop: false }
})

const unavailableMessages: Record<RegistryErrors.RuntimeUnavailable["reason"], string> = {
  unreachable: "the runtime cannot be reached",
  timeout: "the runtime did not answer in time",
  unauthorized: "the runtime rejected the backend's credentials"
}

/** Why a runtime is unavailable, for people (`runtime_<reason>`). @category constructors */
export const unavailableDiagnostic = (reason: RegistryErrors.RuntimeUnavailable["reason"]): DiagnosticView =>
  diagnosticView("error", `runtime_${reason}`, unavailableMessages[reason])

/**
 * A runtime as the registry knows it: its configuration, its last probe and its health. An unavailable runtime
 * shows no counts and leads its diagnostics with why; at most 16 diagnostics.
 * @category constructors
 */
export const runtimeView = (runtime: {
  readonly runtimeId: string
  readonly displayName: string
  readonly implementation: Implementation
  /** `backend_internal`, or the workspace the runtime belongs to. */
  readonly workspace: string
  readonly capabilities: RuntimeView["capabilities"]
  /** `undefined` when available. */
  readonly unavailable: RegistryErrors.RuntimeUnavailable["reason"] | undefined
  readonly counts?: RuntimeView["counts"] | undefined
  readonly diagnostics: ReadonlyArray<DiagnosticView>
}): RuntimeView => ({
  runtimeId: runtime.runtimeId,
  displayName: runtime.displayName,
  implementation: runtime.implementation,
  state: runtime.unavailable === undefined ? "available" : "unavailable",
  visibility: runtime.workspace === Policy.backendInternal ? "backend_internal" : "workspace",
  capabilities: runtime.capabilities,
  ...(runtime.counts !== undefined && runtime.unavailable === undefined ? { counts: runtime.counts } : {}),
  diagnostics: [
    ...(runtime.unavailable !== undefined ? [unavailableDiagnostic(runtime.unavailable)] : []),
    ...runtime.diagnostics
  ].slice(0, 16)
})

const hostKinds = {
  embedded: "embedded-worker-runtime-host",
  remote: "remote-worker-runtime-host",
  legacy_compatibility: "local-pod-host"
} as const satisfies Record<Implementation, HostView["kind"]>

/** The legacy host view of a runtime. @category constructors */
export const hostView = (runtime: RuntimeView): HostView => ({
  hostId: runtime.runtimeId,
  displayName: runtime.displayName,
  kind: hostKinds[runtime.implementation],
  state: runtime.state
})

/** A runtime's part in a list across runtimes when it answered. @category constructors */
export const answeredListState = (runtimeId: string): RuntimeListState => ({
  runtimeId,
  state: "available",
  diagnostics: []
})

/** …and when it did not: the first of its diagnostics says why (its unavailability, if that was it). @category constructors */
export const failedListState = (runtime: RuntimeView): RuntimeListState => ({
  runtimeId: runtime.runtimeId,
  state: "unavailable",
  diagnostics: [
    runtime.diagnostics[0] ?? diagnosticView("error", "runtime_error", "the runtime failed to list its workers")
  ]
})
