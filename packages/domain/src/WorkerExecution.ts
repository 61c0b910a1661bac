/**
 * Port: where a Worker's runs execute, bound for the Worker's lifetime. An `LlmEngine` runs one turn and has no
 * Worker lifetime; an execution host (a legacy pod process) lives with its Worker, can be lost while idle and must be
 * stopped. The Runtime binds every Worker through this one port: at `CreateWorker`, or — for a Worker restored by a
 * restart — before its next run (`restore` is the `BindingRecord` the Worker's record carries); it runs each turn on
 * the binding, watches `lost`, and closes the binding's scope when the Worker stops, when the Runtime shuts down and
 * when its scope closes (closing runs `stop(grace)` first).
 *
 * `layerProviders` is the default every preset uses: a binding over the Runtime's `LlmProviders` that holds nothing,
 * records nothing and is never lost, so a Worker bound to it behaves exactly as one that calls its engine directly.
 *
 * Deliberately not here: any host (adapters implement them), what the Runtime does when a binding is lost (the
 * Worker fails: the Runtime's transitions), and choosing an execution per Worker (the Runtime's presets compose one).
 */
import { Context, type Duration, Effect, Layer, Schema, type Scope, Stream } from "effect"
import { EngineFailure } from "./Errors.ts"
import type { WorkerId } from "./Ids.ts"
import type { EngineEvent, EngineRequest, Profile } from "./LlmEngine.ts"
import { LlmProviders } from "./LlmProviders.ts"

/**
 * What an execution needs to find its host again after a restart (a pod's name, pid, start time, runtime
 * directory…), persisted with the Worker's record and never shown in a view. Opaque to the Runtime: `kind` names the
 * execution that wrote it and `state` is that execution's own JSON, which it decodes with its own schema.
 * @category models
 */
export class BindingRecord extends Schema.Class<BindingRecord>("@yoi/domain/BindingRecord")({
  kind: Schema.String,
  state: Schema.Json
}) {}

/**
 * Why a binding's host is gone. Both fields are fixed, sanitized text (no path, pid, socket or command line): the
 * Runtime records them as the Worker's `lastError` and in the run's `run_failed`.
 * @category models
 */
export class ExecutionLost extends Schema.Class<ExecutionLost>("@yoi/domain/ExecutionLost")({
  code: Schema.String,
  message: Schema.String
}) {}

/** The Worker a binding is for. @category models */
export interface BindTarget {
  readonly workerId: WorkerId
  /** The profile the Worker runs (resolved), and the provider it was created on. */
  readonly profile: Profile
  readonly provider: string
  /** The record of the binding the Worker had before a restart, if it had one. */
  readonly restore?: BindingRecord | undefined
}

/**
 * A Worker's bound execution host.
 *
 * **Details** `run` has `LlmEngine.stream`'s contract (interruption is cancel; a stream that ends without a failure
 * is a complete reply). `lost` completes once the host is gone and may be awaited more than once (a completed
 * `Deferred`'s `await`); a host that cannot be lost has none, so nothing waits on it. When the host dies during a run, `lost` completes and the run's stream neither ends nor
 * fails by itself: the Runtime interrupts it and the run ends `execution_lost` (a stream that fails first ends its
 * run as an engine failure). `stop(grace)` is the graceful part of a stop: the binding's scope closes after it,
 * which must release whatever is left.
 * @category models
 */
export interface Binding {
  /** Persisted with the Worker; `undefined` for a host with nothing to find again. */
  readonly record: BindingRecord | undefined
  run(request: EngineRequest): Stream.Stream<EngineEvent, EngineFailure>
  readonly lost: Effect.Effect<ExecutionLost> | undefined
  stop(grace: Duration.Duration): Effect.Effect<void>
}

/** @category services */
export class WorkerExecution extends Context.Service<WorkerExecution, {
  /** Binds a Worker in the given scope; a failure (sanitized) leaves nothing behind. */
  bind(target: BindTarget): Effect.Effect<Binding, EngineFailure, Scope.Scope>
}>()("@yoi/domain/WorkerExecution") {}

/** The default binding of a Worker on `provider`: each run streams that provider's engine. */
const engineBinding = (providers: LlmProviders["Service"], provider: string): Binding => ({
  record: undefined,
  // looked up per run: a provider the configuration no longer has fails the Worker's runs, typed, not its binding
  run: (request) => {
    const engine = providers.get(provider)
    return engine === undefined
      ? Stream.fail(
        new EngineFailure({
          provider,
          code: "provider_unavailable",
          message: `the provider "${provider.slice(0, 64)}" is not configured in this runtime`
        })
      )
      : engine.stream(request)
  },
  lost: undefined,
  stop: () => Effect.void
})

/**
 * The default execution: every Worker runs on its provider's engine; binding is free, never fails and is never lost.
 * @category constructors
 */
export const fromProviders = (providers: LlmProviders["Service"]): WorkerExecution["Service"] =>
  WorkerExecution.of({ bind: (target) => Effect.succeed(engineBinding(providers, target.provider)) })

/** `fromProviders` over the `LlmProviders` in context. @category layers */
export const layerProviders: Layer.Layer<WorkerExecution, never, LlmProviders> = Layer.effect(
  WorkerExecution,
  Effect.map(Effect.service(LlmProviders), fromProviders)
)
