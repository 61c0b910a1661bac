/**
 * A Runtime over the memory adapters for the Runtime's own tests, around the store and the engines a test picks: a
 * store it keeps across restarts, or one that fails or dies before a write; one engine, or several providers. Also
 * the one way these tests run an input until the Worker is idle again, and an input whose run stays in flight.
 *
 * Deliberately not here: the behavioural suite's harness (`suite/RuntimeBehaviour.ts`, over every transport), the
 * ready-made Runtimes of `RuntimePresets` (they pick their own store), and sample domain values
 * (`@yoi/domain/test/support/fixtures`).
 */
import { MemoryEventBus, MemoryLiveAllocation, MemoryWorkerStore, ScriptedLlmEngine } from "@yoi/adapters"
import {
  type Errors,
  type Ids,
  type LlmEngine,
  LlmProviders,
  type RuntimeEvent,
  WorkerExecution,
  WorkerStore
} from "@yoi/domain"
import { Runtime, type RuntimeConfig } from "@yoi/runtime"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"

export interface Options extends RuntimeConfig.Options {
  /** The store (default: a fresh memory store per build); a test that restarts passes the one it keeps. */
  readonly store?: WorkerStore.WorkerStore["Service"] | undefined
  /** The engines by provider; overrides `engine`. */
  readonly providers?: LlmProviders.LlmProviders["Service"] | undefined
  /** The one engine (default: the scripted engine with its defaults). */
  readonly engine?: Layer.Layer<LlmEngine.LlmEngine> | undefined
  /** Where Workers run (default: `WorkerExecution.layerProviders`, on the engines above). */
  readonly execution?: WorkerExecution.WorkerExecution["Service"] | undefined
}

/** A Runtime on the memory allocation and bus, with the store, engines and execution of `options`. */
export const layer = (options: Options): Layer.Layer<Runtime.Runtime, Errors.StoreFailure> => {
  const { engine, execution, providers, store, ...config } = options
  const engines = providers === undefined
    ? LlmProviders.layerSingle.pipe(Layer.provide(engine ?? ScriptedLlmEngine.layer()))
    : Layer.succeed(LlmProviders.LlmProviders, providers)
  return Runtime.layerNoDeps(config).pipe(
    Layer.provide([
      store === undefined ? MemoryWorkerStore.layer : Layer.succeed(WorkerStore.WorkerStore, store),
      MemoryLiveAllocation.layer,
      MemoryEventBus.layer(),
      (execution === undefined
        ? WorkerExecution.layerProviders
        : Layer.succeed(WorkerExecution.WorkerExecution, execution)).pipe(Layer.provideMerge(engines))
    ])
  )
}

/** The Runtime of `layer(options)` in the current scope: closing the scope ends it, as the process would end. */
export const build = (options: Options) =>
  Layer.build(layer(options)).pipe(Effect.map((context) => Context.get(context, Runtime.Runtime)))

/** An input the scripted engine answers only after a minute of test time: its run stays in flight. */
export const inFlight = { kind: "user", text: "/script {\"delayMs\":60000}" } as const

/** Checks made before a store's operations: a check that fails or dies is a disk that stopped right there. */
export interface Guards {
  readonly commit?: Effect.Effect<void, Errors.StoreFailure> | undefined
  readonly readTranscript?: Effect.Effect<void, Errors.StoreFailure> | undefined
}

/** `store` with `guards` run before the operations they name; the operation runs only if its check succeeds. */
export const guarded = (
  store: WorkerStore.WorkerStore["Service"],
  guards: Guards
): WorkerStore.WorkerStore["Service"] => {
  const { commit, readTranscript } = guards
  return {
    ...store,
    ...(commit === undefined ? {} : {
      commit: (workerId, change) => Effect.flatMap(commit, () => store.commit(workerId, change))
    }),
    ...(readTranscript === undefined ? {} : {
      readTranscript: (workerId, query) => Effect.flatMap(readTranscript, () => store.readTranscript(workerId, query))
    })
  }
}

/**
 * Sends `text` and collects the Worker's events (snapshots left out) until it is idle again; the test clock moves a
 * second, past the scripted engine's delays.
 */
export const runToIdle = (runtime: Runtime.Runtime["Service"], workerId: Ids.WorkerId, text: string) =>
  Effect.gen(function*() {
    const before = yield* runtime.getWorker({ workerId })
    const watcher = yield* runtime.watchWorker({ workerId, after: before.lastSeq }).pipe(
      Stream.filter((item): item is RuntimeEvent.WorkerEvent => item._tag !== "snapshot"),
      Stream.takeUntil((item) => item._tag === "status_changed" && item.to === "idle"),
      Stream.runCollect,
      Effect.forkChild({ startImmediately: true })
    )
    yield* runtime.sendInput({ workerId, input: { kind: "user", text } })
    yield* TestClock.adjust("1 second")
    return yield* Fiber.join(watcher)
  })
