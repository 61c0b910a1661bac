/**
 * The Runtime: the environment that runs many Workers, with one implementation of Worker semantics whether it is
 * embedded in a backend or served over HTTP.
 *
 * It owns Worker lifecycle, single-flight input (`whenBusy`: reject | enqueue | interrupt), runs, cancellation,
 * per-Worker event sequences, watch streams (snapshot → replay → live), the transcript projection and usage, and
 * validates every request itself, so bad input is a typed `InvalidRequest` on every transport. Each method is a
 * span (`Runtime.<method>`) and reads validate → lock → transition → append: the decision is a pure function
 * (`internal/transitions`), the one writer appends it as one store commit (`internal/workerLog`), and run fibers
 * follow the commit (`internal/runs`) on the Worker's execution binding (`internal/bindings`: bound at create,
 * released at stop, at shutdown and with the Runtime's scope; a lost one fails its Worker). Views, watch streams and
 * startup reconciliation have their own modules.
 *
 * Deliberately not here: transports, authentication, adapters (picked by `RuntimePresets`), process signals,
 * configuration defaults (`RuntimeConfig`).
 */
import {
  Errors,
  EventBus,
  Ids,
  LiveAllocation,
  LlmProviders,
  Requests,
  type RuntimeEvent,
  type RuntimeInfo,
  type Transcript,
  Worker,
  WorkerExecution,
  WorkerStore
} from "@yoi/domain"
import { Clock, Context, type Duration, Effect, FiberMap, Layer, Scope, Semaphore, Stream } from "effect"
import * as Bindings from "./internal/bindings.ts"
import { makeIdGenerator } from "./internal/ids.ts"
import { lookup, makeEntry, register, type RuntimeContext } from "./internal/live.ts"
import { loadAndReconcile } from "./internal/reconcile.ts"
import * as Runs from "./internal/runs.ts"
import * as Transitions from "./internal/transitions.ts"
import * as Validate from "./internal/validate.ts"
import * as Views from "./internal/views.ts"
import * as Watch from "./internal/watch.ts"
import * as WorkerLog from "./internal/workerLog.ts"
import * as Profiles from "./Profiles.ts"
import * as RuntimeConfig from "./RuntimeConfig.ts"

type CommandError = Errors.InvalidRequest | Errors.WorkerNotFound | Errors.RuntimeStopping | Errors.StoreFailure

/** @category services */
export class Runtime extends Context.Service<Runtime, {
  readonly runtimeId: Ids.RuntimeId
  readonly getRuntime: Effect.Effect<RuntimeInfo.RuntimeSummary, Errors.StoreFailure>
  watchRuntime(
    request: Requests.WatchRuntimeRequest
  ): Stream.Stream<
    RuntimeEvent.RuntimeWatchItem,
    Errors.InvalidRequest | Errors.CursorOutOfRange | Errors.SubscriberLagged
  >
  listWorkers(
    request: Requests.ListWorkersRequest
  ): Effect.Effect<Worker.WorkerPage, Errors.InvalidRequest | Errors.StoreFailure>
  getWorker(request: { readonly workerId: string }): Effect.Effect<
    Worker.WorkerDetail,
    Errors.InvalidRequest | Errors.WorkerNotFound
  >
  createWorker(
    request: Requests.CreateWorkerRequest
  ): Effect.Effect<
    Requests.CreatedWorker,
    | Errors.InvalidRequest
    | Errors.InvalidProfile
    | Errors.ScopeConflict
    | Errors.ExecutionUnavailable
    | Errors.RuntimeStopping
    | Errors.StoreFailure
  >
  stopWorker(request: Requests.ReasonPayload): Effect.Effect<Requests.StopWorkerResult, CommandError>
  sendInput(
    request: Requests.SendInputRequest
  ): Effect.Effect<
    Requests.InputAccepted,
    CommandError | Errors.WorkerBusy | Errors.WorkerStopped | Errors.QueueFull
  >
  cancelRun(request: Requests.ReasonPayload): Effect.Effect<Requests.CancelRunResult, CommandError>
  cancelQueued(request: Requests.CancelQueuedRequest): Effect.Effect<Requests.CancelQueuedResult, CommandError>
  getTranscript(
    request: Requests.GetTranscriptRequest
  ): Effect.Effect<Transcript.TranscriptPage, Errors.InvalidRequest | Errors.WorkerNotFound | Errors.StoreFailure>
  watchWorker(
    request: Requests.WatchWorkerRequest
  ): Stream.Stream<
    RuntimeEvent.WorkerWatchItem,
    | Errors.InvalidRequest
    | Errors.WorkerNotFound
    | Errors.CursorOutOfRange
    | Errors.SubscriberLagged
    | Errors.StoreFailure
  >
  getUsage(
    request: Requests.GetUsageRequest
  ): Effect.Effect<RuntimeInfo.UsageReport, Errors.InvalidRequest | Errors.WorkerNotFound>
  /**
   * Graceful shutdown: from now on refuse new input and Workers (`RuntimeStopping`), let runs in flight finish for
   * up to `grace`, then cancel the rest (`run_cancelled { reason: "runtime_stopping" }`). Queued inputs stay queued
   * in the store and start after the next start; then every Worker's execution binding is released. Idempotent.
   */
  shutdown(grace: Duration.Input): Effect.Effect<void>
}>()("@yoi/runtime/Runtime") {}

/**
 * Builds a Runtime over the five ports.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: RuntimeConfig.Options) {
  const store = yield* WorkerStore.WorkerStore
  const allocation = yield* LiveAllocation.LiveAllocation
  const providers = yield* LlmProviders.LlmProviders
  const execution = yield* WorkerExecution.WorkerExecution
  const bus = yield* EventBus.EventBus
  const config = yield* RuntimeConfig.resolve(options)
  const { capabilities, catalog, limits, runtimeId } = config
  // Made first, so they close last: every binding after its watcher, every watcher after the runs.
  const bindings = yield* Scope.fork(yield* Effect.scope, "parallel")
  const watchers = yield* FiberMap.make<string, void, never>()
  // Added before the run fibers' FiberMap, so it runs after they are interrupted: the queued inputs this Runtime
  // leaves queued and the runs its closing scope interrupted leave the process-wide gauges with it.
  yield* Effect.addFinalizer(() => Effect.sync(() => Runs.releaseGauges(ctx)))
  const ctx: RuntimeContext = {
    config,
    store,
    allocation,
    providers,
    execution,
    bus,
    metrics: yield* Effect.context<never>(),
    runs: yield* FiberMap.make<string, void, never>(),
    bindings,
    watchers,
    workers: new Map(),
    order: [],
    createKeys: new Map(),
    startedAt: yield* Clock.currentTimeMillis,
    stopping: false,
    runtimeSeq: 0
  }
  const nextId = yield* makeIdGenerator
  const createLock = yield* Semaphore.make(1)
  const ensureRunning = Effect.suspend(() => ctx.stopping ? Effect.fail(new Errors.RuntimeStopping()) : Effect.void)
  const newInput = (text: string) =>
    Effect.gen(function*() {
      const inputId = yield* nextId("i_")
      const runId = yield* nextId("r_")
      return { inputId, runId, text }
    })

  // ---- commands -------------------------------------------------------------------------------------------------

  const createWorker = Effect.fn("Runtime.createWorker")(function*(request: Requests.CreateWorkerRequest) {
    yield* ensureRunning
    const selector = yield* Validate.profile(request.profile)
    const displayName = request.displayName === undefined
      ? undefined
      : yield* Ids.parse(Ids.DisplayName, "displayName", request.displayName)
    const configBundle = request.configBundle === undefined ? undefined : {
      id: yield* Ids.parse(Validate.BundleField, "configBundle.id", request.configBundle.id),
      digest: yield* Ids.parse(Validate.BundleField, "configBundle.digest", request.configBundle.digest)
    }
    const requested = request.requestedCapabilities ?? []
    for (let i = 0; i < requested.length; i++) {
      if (!capabilities.tools.includes(requested[i]!)) {
        return yield* new Errors.InvalidRequest({
          field: `requestedCapabilities[${i}]`,
          message: "is not offered by this runtime"
        })
      }
    }
    const scope = yield* Validate.scope(request.scope, limits.maxScopeRules)
    const initialText = request.initialInput === undefined
      ? undefined
      : yield* Validate.text(request.initialInput, "initialInput", limits.maxInputChars)
    const key = yield* Validate.optionalKey(request.idempotencyKey, "idempotencyKey")
    const profile = yield* Profiles.resolve(selector, catalog)
    const provider = profile.provider ?? providers.defaultProvider
    const engine = providers.get(provider)
    if (engine === undefined) {
      return yield* new Errors.InvalidProfile({
        message: `the profile "${profile.name.slice(0, 64)}" runs on the provider "${
          provider.slice(0, 64)
        }", which this runtime does not have`
      })
    }
    const model = profile.model ?? engine.info.model

    return yield* createLock.withPermit(Effect.gen(function*() {
      if (key !== undefined) {
        const existing = ctx.createKeys.get(key)
        const entry = existing === undefined ? undefined : ctx.workers.get(existing)
        if (entry !== undefined) {
          const initial = entry.record.recentInputs.find((r) => r.key === Transitions.initialInputKey)
          return new Requests.CreatedWorker({
            worker: Views.toDetail(ctx, entry),
            ...(initial !== undefined ? { input: initial.accepted } : {})
          })
        }
      }
      const workerId = (yield* nextId("w_")) as Ids.WorkerId
      const ref = new Ids.WorkerRef({ runtimeId, workerId })
      if (scope.length > 0) yield* allocation.claim(ref, scope)
      // Bound before the commit: a failed bind creates nothing; a failed commit closes the binding.
      const created = Bindings.withBinding(
        ctx,
        { workerId, profile, provider },
        (bound) =>
          Effect.uninterruptible(Effect.gen(function*() {
            const at = yield* Clock.currentTimeMillis
            const record = new WorkerStore.WorkerRecord({
              workerId,
              displayName: displayName ?? profile.name,
              profile: selector,
              profileName: profile.name,
              provider,
              model,
              configBundle,
              requestedCapabilities: requested,
              scope,
              createdAt: at,
              lastActivityAt: at,
              status: "idle",
              currentRun: undefined,
              queue: [],
              usage: Worker.UsageTotals.zero,
              lastError: undefined,
              seqReserved: 0,
              createIdempotencyKey: key,
              recentInputs: [],
              binding: bound.binding.record
            })
            const entry = yield* makeEntry(record, 0, 0)
            // The Worker and its initial input (with the key that makes a retry answer both) are one commit; the
            // initial input's run streams on the new binding.
            entry.bound = bound
            const initial = initialText === undefined ? undefined : yield* newInput(initialText)
            const { accepted, transition } = Transitions.createWorker(record, initial)
            const moved = yield* entry.lock.withPermit(Runs.apply(ctx, entry, transition, true))
            register(ctx, entry)
            yield* Bindings.install(ctx, entry, bound, Runs.lose(ctx))
            return { at, entry, record, accepted, moved }
          }))
      ).pipe(
        Effect.catchTag(
          "EngineFailure",
          (failure) => Effect.fail(new Errors.ExecutionUnavailable({ code: failure.code, message: failure.message }))
        ),
        Effect.onError(() => scope.length > 0 ? Effect.ignore(allocation.release(ref)) : Effect.void)
      )
      const { accepted, at, entry, moved, record } = yield* created
      yield* WorkerLog.publishRuntime(ctx, { _tag: "worker_created", at, workerId, displayName: record.displayName })
      yield* WorkerLog.announceStatus(ctx, entry, moved, at)
      return new Requests.CreatedWorker({
        worker: Views.toDetail(ctx, entry),
        ...(accepted !== undefined ? { input: accepted } : {})
      })
    }))
  })

  const sendInput = Effect.fn("Runtime.sendInput")(function*(request: Requests.SendInputRequest) {
    const entry = yield* lookup(ctx, request.workerId)
    const text = yield* Validate.text(request.input, "input", limits.maxInputChars)
    const whenBusy = request.whenBusy === undefined
      ? "reject" as const
      : yield* Ids.parse(Worker.WhenBusy, "whenBusy", request.whenBusy)
    const key = yield* Validate.optionalKey(request.idempotencyKey, "idempotencyKey")
    return yield* entry.lock.withPermit(Effect.gen(function*() {
      yield* ensureRunning
      const status = entry.record.status
      if (status === "stopped" || status === "failed") {
        return yield* new Errors.WorkerStopped({ workerId: entry.workerId, status })
      }
      if (key !== undefined) {
        const seen = entry.record.recentInputs.find((r) => r.key === key)
        if (seen !== undefined) return seen.accepted
      }
      const run = entry.run
      if (run !== undefined && whenBusy === "reject") {
        return yield* new Errors.WorkerBusy({ workerId: entry.workerId, runId: run.runId, startedAt: run.startedAt })
      }
      const input = yield* newInput(text)
      const at = yield* Clock.currentTimeMillis
      if (run !== undefined && whenBusy === "enqueue") {
        if (entry.record.queue.length >= limits.maxQueuedInputs) {
          return yield* new Errors.QueueFull({ workerId: entry.workerId, capacity: limits.maxQueuedInputs })
        }
        const { accepted, transition } = Transitions.queueInput(entry, at, input, key)
        yield* Runs.commit(ctx, entry, transition)
        return accepted
      }
      // interrupt: the cancelled run's end and this input's start are one commit
      const interrupted = yield* Runs.interrupt(entry)
      const { accepted, transition } = Transitions.startInput(entry, at, input, key, interrupted)
      yield* Runs.commit(ctx, entry, transition)
      return accepted
    }))
  })

  const stopWorker = Effect.fn("Runtime.stopWorker")(function*(request: Requests.ReasonPayload) {
    const entry = yield* lookup(ctx, request.workerId)
    const reason = Validate.sanitize(request.reason, "stopped")
    const result = yield* entry.lock.withPermit(Effect.gen(function*() {
      if (entry.record.status === "stopped") {
        return new Requests.StopWorkerResult({ outcome: "already_stopped", droppedQueued: 0 })
      }
      // The cancelled run, the dropped queue and the stop are one commit.
      const at = yield* Clock.currentTimeMillis
      const run = yield* Runs.interrupt(entry)
      const droppedQueued = entry.record.queue.length
      yield* Runs.commit(ctx, entry, Transitions.stop(entry, at, run, reason))
      if (entry.record.scope.length > 0) {
        yield* allocation.release(new Ids.WorkerRef({ runtimeId, workerId: entry.workerId }))
      }
      return new Requests.StopWorkerResult({
        outcome: "stopped",
        droppedQueued,
        ...(run !== undefined ? { cancelledRunId: run.runId } : {})
      })
    }))
    // After the commit, outside the lock (the binding's watcher may be waiting for it): stop(grace), then close.
    yield* Bindings.release(ctx, entry)
    return result
  })

  const cancelRun = Effect.fn("Runtime.cancelRun")(function*(request: Requests.ReasonPayload) {
    const entry = yield* lookup(ctx, request.workerId)
    const reason = Validate.sanitize(request.reason, "cancelled")
    return yield* entry.lock.withPermit(Effect.gen(function*() {
      if (entry.run === undefined) return new Requests.CancelRunResult({ outcome: "not_running" })
      const at = yield* Clock.currentTimeMillis
      const run = (yield* Runs.interrupt(entry))!
      yield* Runs.commit(ctx, entry, Transitions.endRun(entry, at, run, { _tag: "cancelled", reason }, ctx.stopping))
      return new Requests.CancelRunResult({ outcome: "cancelled", runId: run.runId })
    }))
  })

  const cancelQueued = Effect.fn("Runtime.cancelQueued")(function*(request: Requests.CancelQueuedRequest) {
    const entry = yield* lookup(ctx, request.workerId)
    const inputId = yield* Ids.parse(Ids.InputId, "inputId", request.inputId)
    return yield* entry.lock.withPermit(Effect.gen(function*() {
      const queued = entry.record.queue.find((q) => q.inputId === inputId)
      if (queued === undefined) return new Requests.CancelQueuedResult({ outcome: "not_queued" })
      yield* Runs.commit(ctx, entry, Transitions.cancelQueued(entry, yield* Clock.currentTimeMillis, queued))
      return new Requests.CancelQueuedResult({ outcome: "cancelled" })
    }))
  })

  const shutdown = Effect.fn("Runtime.shutdown")(function*(grace: Duration.Input) {
    ctx.stopping = true
    yield* Effect.timeoutOption(FiberMap.awaitEmpty(ctx.runs), grace)
    yield* Effect.forEach([...ctx.workers.values()], (entry) =>
      entry.run === undefined
        ? Effect.void
        : entry.lock.withPermit(Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          const run = yield* Runs.interrupt(entry)
          if (run === undefined) return
          yield* Runs.commit(ctx, entry, Transitions.cancelForShutdown(entry, at, run))
        })).pipe(
          Effect.catchTag(
            "StoreFailure",
            (failure) => Effect.logError("a cancelled run could not be recorded", failure.operation, failure.message)
          )
        ), { discard: true })
    yield* Effect.forEach(ctx.workers.values(), (entry) => Bindings.release(ctx, entry), {
      concurrency: "unbounded",
      discard: true
    })
  })

  // ---- reads ----------------------------------------------------------------------------------------------------

  const listWorkers = Effect.fn("Runtime.listWorkers")(function*(request: Requests.ListWorkersRequest) {
    const status = request.status === undefined
      ? undefined
      : yield* Ids.parse(Worker.WorkerStatus, "status", request.status)
    const limit = yield* Validate.limit(request.limit, "limit", RuntimeConfig.defaultPageSize, limits.maxTranscriptPage)
    const cursor = request.cursor === undefined ? undefined : yield* Ids.parse(Ids.WorkerId, "cursor", request.cursor)
    return Views.listWorkers(ctx, { status, limit, cursor })
  })

  const getWorker = Effect.fn("Runtime.getWorker")(function*(request: { readonly workerId: string }) {
    return Views.toDetail(ctx, yield* lookup(ctx, request.workerId))
  })

  const getTranscript = Effect.fn("Runtime.getTranscript")(function*(request: Requests.GetTranscriptRequest) {
    const entry = yield* lookup(ctx, request.workerId)
    const limit = yield* Validate.limit(request.limit, "limit", RuntimeConfig.defaultPageSize, limits.maxTranscriptPage)
    const before = yield* Validate.int(request.before, "before")
    const after = yield* Validate.int(request.after, "after")
    return yield* store.readTranscript(entry.workerId, { before, after, limit })
  })

  const openWorker = Effect.fn("Runtime.watchWorker")(function*(request: Requests.WatchWorkerRequest) {
    const entry = yield* lookup(ctx, request.workerId)
    const after = (yield* Validate.int(request.after, "after")) ?? 0
    return yield* Watch.watchWorker(ctx, entry, after)
  })

  const openRuntime = Effect.fn("Runtime.watchRuntime")(function*(request: Requests.WatchRuntimeRequest) {
    const after = (yield* Validate.int(request.after, "after")) ?? 0
    return yield* Watch.watchRuntime(ctx, after)
  })

  const getUsage = Effect.fn("Runtime.getUsage")(function*(request: Requests.GetUsageRequest) {
    const entry = request.workerId === undefined ? undefined : yield* lookup(ctx, request.workerId)
    return Views.usage(ctx, entry)
  })

  const getRuntime = Views.runtimeSummary(ctx).pipe(Effect.withSpan("Runtime.getRuntime"))

  yield* loadAndReconcile(ctx)

  return Runtime.of({
    runtimeId,
    getRuntime,
    watchRuntime: (request) => Stream.unwrap(openRuntime(request)),
    listWorkers,
    getWorker,
    createWorker,
    stopWorker,
    sendInput,
    cancelRun,
    cancelQueued,
    getTranscript,
    watchWorker: (request) => Stream.unwrap(openWorker(request)),
    getUsage,
    shutdown
  })
})

/**
 * The Runtime over whatever port adapters are provided.
 * @category layers
 */
export const layerNoDeps = (
  options: RuntimeConfig.Options
): Layer.Layer<
  Runtime,
  Errors.StoreFailure,
  | WorkerStore.WorkerStore
  | LiveAllocation.LiveAllocation
  | LlmProviders.LlmProviders
  | WorkerExecution.WorkerExecution
  | EventBus.EventBus
> => Layer.effect(Runtime, make(options))
