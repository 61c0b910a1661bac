/**
 * The Runtime's live state, shared by its internal modules through one small context object (as cluster's
 * `Sharding` shares its state with `entityManager`): the ports, the resolved configuration, one entry per Worker
 * (its lock, its record as last committed, its seq counters, its run in flight, its execution binding) and the
 * Runtime-wide counters.
 *
 * Entries change only under their Worker's lock, and only `workerLog.append` moves an entry's record and seqs; the
 * run fiber of an entry is launched and forgotten by `runs`.
 *
 * Deliberately not here: any decision (`transitions`) or any write (`workerLog`).
 */
import {
  Errors,
  type EventBus,
  Ids,
  type LiveAllocation,
  type LlmEngine,
  type LlmProviders,
  type Worker,
  type WorkerExecution,
  type WorkerStore
} from "@yoi/domain"
import { type Context, Effect, type Fiber, type FiberMap, type Scope, Semaphore } from "effect"
import type * as RuntimeConfig from "../RuntimeConfig.ts"

/** A run in flight: what it streamed so far, and its fiber. */
export interface RunState {
  readonly runId: string
  readonly inputId: string
  readonly startedAt: number
  text: string
  reasoning: string
  usage: Worker.UsageFigures
  /** Why the provider stopped, when it said. */
  finishReason: LlmEngine.FinishReason | undefined
  fiber: Fiber.Fiber<void, never> | undefined
}

/** A Worker's live execution binding, in its own scope (see `bindings`). */
export interface Bound {
  readonly binding: WorkerExecution.Binding
  readonly scope: Scope.Closeable
  /** Set as soon as `lost` completes, before the watcher takes the lock: a run ending meanwhile leaves it the end. */
  lost: WorkerExecution.ExecutionLost | undefined
}

/** One Worker of this Runtime. */
export interface WorkerEntry {
  readonly workerId: Ids.WorkerId
  readonly lock: Semaphore.Semaphore
  record: WorkerStore.WorkerRecord
  /** The last seq an event of this Worker carries (0 when none). */
  lastSeq: number
  /**
   * The seq the next event gets: `lastSeq + 1` while the process lives; after a restart, past every seq the last
   * process may have handed out to transient events (`seqReserved`). Cursors below it are valid.
   */
  nextSeq: number
  /** The last durable seq the previous process left: watchers from before it may have missed its deltas. */
  restoredSeq: number
  transcriptCount: number
  run: RunState | undefined
  /** The live binding; none before the first run of a restored Worker, after a stop, a loss or a shutdown. */
  bound: Bound | undefined
  /** The summary last built from this entry, reused while its record and binding stand (views are immutable). */
  summaryView?: { readonly record: WorkerStore.WorkerRecord; readonly view: Worker.WorkerSummary } | undefined
}

/** What the internal modules share. */
export interface RuntimeContext {
  readonly config: RuntimeConfig.Resolved
  readonly store: WorkerStore.WorkerStore["Service"]
  readonly allocation: LiveAllocation.LiveAllocation["Service"]
  readonly providers: LlmProviders.LlmProviders["Service"]
  readonly execution: WorkerExecution.WorkerExecution["Service"]
  readonly bus: EventBus.EventBus["Service"]
  /** The context metrics are updated in (synchronously, on the hot path): it holds the `MetricRegistry`. */
  readonly metrics: Context.Context<never>
  readonly runs: FiberMap.FiberMap<string, void, never>
  /** The parent of every binding's scope: closed (in parallel) after the runs and the watchers. */
  readonly bindings: Scope.Closeable
  /** Each bound Worker's watcher of `lost`, by Worker id. */
  readonly watchers: FiberMap.FiberMap<string, void, never>
  readonly workers: Map<string, WorkerEntry>
  /** Worker ids in creation (= id) order, for paging. */
  readonly order: Array<Ids.WorkerId>
  readonly createKeys: Map<string, Ids.WorkerId>
  readonly startedAt: number
  stopping: boolean
  /** The last seq of the Runtime-wide stream (per process). */
  runtimeSeq: number
}

/** A new entry for `record`, whose last durable event is `lastDurable`. */
export const makeEntry = (
  record: WorkerStore.WorkerRecord,
  lastDurable: number,
  transcriptCount: number
): Effect.Effect<WorkerEntry> =>
  Effect.map(Semaphore.make(1), (lock) => ({
    workerId: record.workerId,
    lock,
    record,
    lastSeq: lastDurable,
    nextSeq: Math.max(record.seqReserved, lastDurable) + 1,
    restoredSeq: lastDurable,
    transcriptCount,
    run: undefined,
    bound: undefined
  }))

/** Adds an entry to the Runtime's Workers (ids are created in order). */
export const register = (ctx: RuntimeContext, entry: WorkerEntry) => {
  ctx.workers.set(entry.workerId, entry)
  ctx.order.push(entry.workerId)
  const key = entry.record.createIdempotencyKey
  if (key !== undefined) ctx.createKeys.set(key, entry.workerId)
}

/** The provider a Worker runs on: the one recorded with it (older records: the default). */
export const providerOf = (ctx: RuntimeContext, record: WorkerStore.WorkerRecord) =>
  record.provider ?? ctx.providers.defaultProvider

/** The model a Worker runs on: the one recorded with it (older records: its provider's). */
export const modelOf = (ctx: RuntimeContext, record: WorkerStore.WorkerRecord) =>
  record.model ?? ctx.providers.get(providerOf(ctx, record))?.info.model ?? "unknown"

/** The entry of a request's `workerId`, or why not. */
export const lookup = (ctx: RuntimeContext, raw: unknown) =>
  Effect.flatMap(Ids.parse(Ids.WorkerId, "workerId", raw), (workerId) => {
    const entry = ctx.workers.get(workerId)
    return entry === undefined ? Effect.fail(new Errors.WorkerNotFound({ workerId })) : Effect.succeed(entry)
  })
