/**
 * What a Runtime says about itself: summary, host capabilities, limits, worker counts and diagnostics.
 *
 * Capabilities describe the *host* (embedded, filesystem, shell, …), never transcript or stream abilities: those
 * are part of every Worker's contract. Diagnostics are sanitized (codes + messages, no paths).
 */
import { Schema } from "effect"
import { RuntimeId } from "./Ids.ts"
import { ProviderSummary } from "./LlmProviders.ts"
import { Count, Timestamp, UsageTotals } from "./Worker.ts"

/** @category models */
export class RuntimeCapabilities extends Schema.Class<RuntimeCapabilities>("@yoi/domain/RuntimeCapabilities")({
  embedded: Schema.Boolean,
  localProcess: Schema.Boolean,
  remoteHost: Schema.Boolean,
  filesystem: Schema.Boolean,
  shell: Schema.Boolean,
  git: Schema.Boolean,
  worktrees: Schema.Boolean,
  tools: Schema.Array(Schema.String)
}) {}

/** @category models */
export class RuntimeLimits extends Schema.Class<RuntimeLimits>("@yoi/domain/RuntimeLimits")({
  maxQueuedInputs: Count,
  maxTranscriptPage: Count,
  maxInputChars: Count,
  maxScopeRules: Count,
  watchBuffer: Count,
  replayBuffer: Count
}) {}

/** @category models */
export class WorkerCounts extends Schema.Class<WorkerCounts>("@yoi/domain/WorkerCounts")({
  idle: Count,
  running: Count,
  stopped: Count,
  failed: Count,
  total: Count
}) {}

/** @category models */
export class Diagnostic extends Schema.Class<Diagnostic>("@yoi/domain/Diagnostic")({
  level: Schema.Literals(["info", "warning", "error"]),
  code: Schema.String,
  message: Schema.String,
  workerId: Schema.optional(Schema.String)
}) {}

/** @category models */
export class RuntimeSummary extends Schema.Class<RuntimeSummary>("@yoi/domain/RuntimeSummary")({
  runtimeId: RuntimeId,
  displayName: Schema.String,
  implementation: Schema.Literals(["embedded", "process"]),
  status: Schema.Literals(["ready", "stopping"]),
  startedAt: Timestamp,
  /** The default provider for people: `scripted (no model)` or `<provider>/<model>`. */
  engine: Schema.String,
  providers: Schema.Array(ProviderSummary),
  capabilities: RuntimeCapabilities,
  limits: RuntimeLimits,
  counts: WorkerCounts,
  diagnostics: Schema.Array(Diagnostic)
}) {}

/** `GetUsage`: one Worker's totals, or the Runtime's sum with Worker counts. @category models */
export class UsageReport extends Schema.Class<UsageReport>("@yoi/domain/UsageReport")({
  workerId: Schema.optional(Schema.String),
  usage: UsageTotals,
  counts: Schema.optional(WorkerCounts)
}) {}
