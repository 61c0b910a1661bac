/**
 * The Worker model: status, profile selection, scope rules, usage, and the summary/detail views a Runtime returns.
 *
 * These are the *validated* shapes. What a caller sends on the wire is in `Requests.ts` (tolerant shapes the
 * Runtime validates into these, so bad input becomes a typed `InvalidRequest` instead of a transport defect).
 */
import { Schema } from "effect"
import { InputId, RunId, WorkerRef } from "./Ids.ts"

/** Non-negative integer (counts, sequences, token figures). @category schemas */
export const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** Epoch milliseconds. @category schemas */
export const Timestamp = Schema.Number

/**
 * `running`: a run is in flight. `stopped`: terminal, data stays readable. `failed`: the execution host is gone
 * (readable, not input-capable).
 * @category schemas
 */
export const WorkerStatus = Schema.Literals(["idle", "running", "stopped", "failed"])
/** @category models */
export type WorkerStatus = typeof WorkerStatus.Type

/** What to do with input that arrives while a run is in flight. @category schemas */
export const WhenBusy = Schema.Literals(["reject", "enqueue", "interrupt"])
/** @category models */
export type WhenBusy = typeof WhenBusy.Type

/** @category schemas */
export const ProfileSelector = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("runtime_default") }),
  Schema.Struct({ kind: Schema.Literal("builtin"), name: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("named"), name: Schema.String })
])
/** @category models */
export type ProfileSelector = typeof ProfileSelector.Type

/** Placeholder for versioned configuration bundles: an id and a content digest. @category schemas */
export const ConfigBundleRef = Schema.Struct({ id: Schema.String, digest: Schema.String })
/** @category models */
export type ConfigBundleRef = typeof ConfigBundleRef.Type

/** @category schemas */
export const ScopePermission = Schema.Literals(["read", "write"])
/** @category models */
export type ScopePermission = typeof ScopePermission.Type

/**
 * A filesystem claim. `target` is a normalized absolute POSIX path. `recursive` covers the subtree; otherwise the
 * target and its direct children. Only write rules conflict (see `Allocation.ts`).
 * @category models
 */
export class ScopeRule extends Schema.Class<ScopeRule>("@yoi/domain/ScopeRule")({
  target: Schema.String,
  permission: ScopePermission,
  recursive: Schema.Boolean
}) {}

/** Token figures of one run. @category models */
export class UsageFigures extends Schema.Class<UsageFigures>("@yoi/domain/UsageFigures")({
  inputTokens: Count,
  outputTokens: Count,
  cacheReadTokens: Count,
  reasoningTokens: Count
}) {
  static readonly zero = new UsageFigures({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, reasoningTokens: 0 })
}

/** Cumulative usage of a Worker (or of a whole Runtime). @category models */
export class UsageTotals extends Schema.Class<UsageTotals>("@yoi/domain/UsageTotals")({
  inputTokens: Count,
  outputTokens: Count,
  cacheReadTokens: Count,
  reasoningTokens: Count,
  runs: Count,
  failures: Count,
  cancellations: Count
}) {
  static readonly zero = new UsageTotals({
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    reasoningTokens: 0,
    runs: 0,
    failures: 0,
    cancellations: 0
  })
}

/** Adds a run's figures (and its outcome) to running totals. @category constructors */
export const addUsage = (
  totals: UsageTotals,
  run: UsageFigures,
  outcome: "finished" | "failed" | "cancelled"
): UsageTotals =>
  new UsageTotals({
    inputTokens: totals.inputTokens + run.inputTokens,
    outputTokens: totals.outputTokens + run.outputTokens,
    cacheReadTokens: totals.cacheReadTokens + run.cacheReadTokens,
    reasoningTokens: totals.reasoningTokens + run.reasoningTokens,
    runs: totals.runs + 1,
    failures: totals.failures + (outcome === "failed" ? 1 : 0),
    cancellations: totals.cancellations + (outcome === "cancelled" ? 1 : 0)
  })

/** Sums totals (a runtime overview). @category constructors */
export const sumUsage = (a: UsageTotals, b: UsageTotals): UsageTotals =>
  new UsageTotals({
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    runs: a.runs + b.runs,
    failures: a.failures + b.failures,
    cancellations: a.cancellations + b.cancellations
  })

/** An input waiting for the Worker to become idle. Its `runId` is reserved at acceptance. @category models */
export class QueuedInput extends Schema.Class<QueuedInput>("@yoi/domain/QueuedInput")({
  inputId: InputId,
  runId: RunId,
  text: Schema.String,
  queuedAt: Timestamp
}) {}

/** The run in flight. @category models */
export class CurrentRun extends Schema.Class<CurrentRun>("@yoi/domain/CurrentRun")({
  runId: RunId,
  inputId: InputId,
  startedAt: Timestamp
}) {}

/** The last failure of a Worker, sanitized for display. @category models */
export class LastError extends Schema.Class<LastError>("@yoi/domain/LastError")({
  code: Schema.String,
  message: Schema.String,
  at: Timestamp
}) {}

/** What a caller may do with a Worker right now. @category models */
export class WorkerCapabilities extends Schema.Class<WorkerCapabilities>("@yoi/domain/WorkerCapabilities")({
  canAcceptInput: Schema.Boolean,
  canCancel: Schema.Boolean,
  canStop: Schema.Boolean,
  tools: Schema.Array(Schema.String)
}) {}

const SummaryFields = {
  ref: WorkerRef,
  displayName: Schema.String,
  displayRef: Schema.String,
  status: WorkerStatus,
  profile: ProfileSelector,
  profileName: Schema.String,
  /** The provider the Worker runs on (its configured name) and the model: never a URL. */
  provider: Schema.String,
  model: Schema.String,
  createdAt: Timestamp,
  lastActivityAt: Timestamp,
  currentRun: Schema.optional(CurrentRun),
  queueLength: Count,
  usage: UsageTotals,
  lastError: Schema.optional(LastError),
  binding: Schema.Literals(["connected", "stale"]),
  capabilities: WorkerCapabilities
}

/** @category models */
export class WorkerSummary extends Schema.Class<WorkerSummary>("@yoi/domain/WorkerSummary")(SummaryFields) {}

/** @category models */
export class WorkerDetail extends Schema.Class<WorkerDetail>("@yoi/domain/WorkerDetail")({
  ...SummaryFields,
  queue: Schema.Array(QueuedInput),
  scope: Schema.Array(ScopeRule),
  configBundle: Schema.optional(ConfigBundleRef),
  lastSeq: Count,
  transcriptCount: Count
}) {}

/** A page of `ListWorkers`; pass `nextCursor` back as `cursor` for the next page. @category models */
export class WorkerPage extends Schema.Class<WorkerPage>("@yoi/domain/WorkerPage")({
  workers: Schema.Array(WorkerSummary),
  nextCursor: Schema.optional(Schema.String)
}) {}
