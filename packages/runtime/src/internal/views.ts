/**
 * What the Runtime shows: a Worker's summary and detail, the page of `ListWorkers`, the worker counts, usage and
 * the Runtime's own summary. Views are immutable values built from the live entries.
 *
 * Building a summary runs its Schema constructors (structure checks on every nested field), which made a
 * `ListWorkers` page cost ~12× more than the lookups themselves; a Worker listed again before its record changes
 * gets the same summary object. Details are not kept: one per Worker after `CreateWorker` cost more memory than it
 * saved.
 *
 * Deliberately not here: validation of a request (the Runtime) and anything that writes.
 */
import { Ids, type LlmEngine, RuntimeInfo, Sorted, Worker, type WorkerStore } from "@yoi/domain"
import { Effect, Order } from "effect"
import * as Profiles from "../Profiles.ts"
import * as RuntimeConfig from "../RuntimeConfig.ts"
import { modelOf, providerOf, type RuntimeContext, type WorkerEntry } from "./live.ts"

const workerCapabilities = (record: WorkerStore.WorkerRecord, profile: LlmEngine.Profile | undefined) =>
  new Worker.WorkerCapabilities({
    canAcceptInput: record.status === "idle" || record.status === "running",
    canCancel: record.status === "running",
    canStop: record.status !== "stopped",
    tools: profile?.tools ?? []
  })

/**
 * `stale`: the Worker has no live binding and needs one it cannot get for free — its host is gone (`failed`), or it
 * carries a `BindingRecord` no binding of this process holds (after a restart or a shutdown; its next run re-binds).
 */
const bindingOf = (entry: WorkerEntry): Worker.WorkerSummary["binding"] => {
  const { binding, status } = entry.record
  if (status === "failed") return "stale"
  return status !== "stopped" && entry.bound === undefined && binding !== undefined ? "stale" : "connected"
}

const summaryFields = (ctx: RuntimeContext, entry: WorkerEntry) => {
  const record = entry.record
  const runtimeId = ctx.config.runtimeId
  const provider = providerOf(ctx, record)
  return {
    ref: new Ids.WorkerRef({ runtimeId, workerId: record.workerId }),
    displayName: record.displayName,
    displayRef: Ids.displayRef(record.displayName, runtimeId),
    status: record.status,
    profile: record.profile,
    profileName: record.profileName,
    createdAt: record.createdAt,
    lastActivityAt: record.lastActivityAt,
    currentRun: record.currentRun,
    queueLength: record.queue.length,
    usage: record.usage,
    lastError: record.lastError,
    provider,
    model: modelOf(ctx, record),
    binding: bindingOf(entry),
    capabilities: workerCapabilities(record, Profiles.find(ctx.config.catalog, record.profileName))
  }
}

/** A Worker's summary, reused while its record and binding are unchanged. */
export const toSummary = (ctx: RuntimeContext, entry: WorkerEntry): Worker.WorkerSummary => {
  const cached = entry.summaryView
  if (cached !== undefined && cached.record === entry.record && cached.view.binding === bindingOf(entry)) {
    return cached.view
  }
  const view = new Worker.WorkerSummary(summaryFields(ctx, entry))
  entry.summaryView = { record: entry.record, view }
  return view
}

/** A Worker's detail. */
export const toDetail = (ctx: RuntimeContext, entry: WorkerEntry): Worker.WorkerDetail =>
  new Worker.WorkerDetail({
    ...summaryFields(ctx, entry),
    queue: entry.record.queue,
    scope: entry.record.scope,
    configBundle: entry.record.configBundle,
    lastSeq: entry.lastSeq,
    transcriptCount: entry.transcriptCount
  })

/** The Runtime's Workers by status. */
export const counts = (ctx: RuntimeContext): RuntimeInfo.WorkerCounts => {
  const c = { idle: 0, running: 0, stopped: 0, failed: 0 }
  for (const entry of ctx.workers.values()) c[entry.record.status]++
  return new RuntimeInfo.WorkerCounts({ ...c, total: ctx.workers.size })
}

/** Up to `limit` summaries after `cursor` (ids in creation order), of one status or all. */
export const listWorkers = (
  ctx: RuntimeContext,
  query: {
    readonly status: Worker.WorkerStatus | undefined
    readonly limit: number
    readonly cursor: Ids.WorkerId | undefined
  }
): Worker.WorkerPage => {
  const { cursor, limit, status } = query
  const order = ctx.order
  let i = cursor === undefined ? 0 : Sorted.upperBound(order, cursor, Order.String)
  const page: Array<Worker.WorkerSummary> = []
  for (; i < order.length && page.length < limit; i++) {
    const entry = ctx.workers.get(order[i]!)!
    if (status === undefined || entry.record.status === status) page.push(toSummary(ctx, entry))
  }
  const nextCursor = i < order.length && page.length === limit ? order[i - 1] : undefined
  return new Worker.WorkerPage({ workers: page, ...(nextCursor !== undefined ? { nextCursor } : {}) })
}

/** Usage of one Worker, or of every Worker with the counts. */
export const usage = (ctx: RuntimeContext, entry: WorkerEntry | undefined): RuntimeInfo.UsageReport => {
  if (entry !== undefined) return new RuntimeInfo.UsageReport({ workerId: entry.workerId, usage: entry.record.usage })
  let total = Worker.UsageTotals.zero
  for (const each of ctx.workers.values()) total = Worker.sumUsage(total, each.record.usage)
  return new RuntimeInfo.UsageReport({ usage: total, counts: counts(ctx) })
}

/** The Runtime's summary (its store's diagnostics read each time). */
export const runtimeSummary = (ctx: RuntimeContext) => {
  const defaultEngine = ctx.providers.get(ctx.providers.defaultProvider)!
  const engine = defaultEngine.info.scripted
    ? "scripted (no model)"
    : `${defaultEngine.info.provider}/${defaultEngine.info.model}`
  const limits = RuntimeConfig.runtimeLimits(ctx.config)
  return Effect.map(ctx.store.diagnostics, (diagnostics) =>
    new RuntimeInfo.RuntimeSummary({
      runtimeId: ctx.config.runtimeId,
      displayName: ctx.config.displayName,
      implementation: ctx.config.implementation,
      status: ctx.stopping ? "stopping" : "ready",
      startedAt: ctx.startedAt,
      engine,
      providers: ctx.providers.summaries,
      capabilities: ctx.config.capabilities,
      limits,
      counts: counts(ctx),
      diagnostics
    }))
}
