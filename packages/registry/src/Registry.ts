/**
 * The RuntimeRegistry: a backend's one routing boundary over its runtimes — embedded (in-process RPC client),
 * remote (HTTP RPC client) and a read-only legacy pod projection. It resolves `runtimeId + workerId`, asks the
 * `Policy`, reports to the `Audit`, keeps each runtime's health current and returns browser-safe `Views` only.
 *
 * **Details**
 * - Embedded and remote runtimes are the same `RuntimeClient` type; the registry wraps either in one `SourceClient`
 *   and never branches on transport. The legacy projection is another `SourceClient` whose commands are
 *   `OperationUnsupported`.
 * - Health: every client source is probed (`GetRuntime`) at start and then every `healthInterval`; a probe that
 *   cannot read the summary, for whatever reason, marks the source `unavailable`, a probe that can marks it
 *   `available` again and refreshes its counts and limits. Between probes only an outage seen by a call — a
 *   `SourceClient.TransportFailure` (refused, network error, a gateway's 502/503/504, rejected credentials) or a
 *   call past `callTimeout` — marks it unavailable. A runtime's typed errors, its 4xx rejections and one odd answer
 *   (`UnexpectedAnswer`) fail that call only. Calls to an unavailable runtime fail fast with `RuntimeUnavailable`;
 *   lists across runtimes query every source in parallel, each within `listTimeout`, and return the others' results.
 * - Input text longer than the runtime's advertised `limits.maxInputChars` (from its last probe) is an
 *   `InvalidRequest` before anything is sent, as the runtime itself would answer.
 * - Errors: registry errors (`UnknownRuntime`, `UnknownWorker`, `RuntimeUnavailable`, `OperationUnsupported`,
 *   `WorkerNotVisible`, `UnexpectedAnswer`) plus the runtime's own, passed through unchanged.
 *
 * Deliberately not here: running Workers, Worker storage, scope allocation (the runtimes own those).
 */
import { Errors, HttpRuntimeClient, Ids, type Requests, RuntimeClient, type RuntimeEvent } from "@yoi/domain"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  type FileSystem,
  Layer,
  Option,
  type Path,
  type Redacted,
  Schedule,
  Stream
} from "effect"
import * as Audit from "./Audit.ts"
import * as LegacySource from "./LegacySource.ts"
import * as Policy from "./Policy.ts"
import * as RegistryErrors from "./RegistryErrors.ts"
import * as SourceClient from "./SourceClient.ts"
import * as Views from "./Views.ts"

/** Every error a registry call can end with: the runtime's own (passed through) and the registry's. @category models */
export type RegistryError =
  | Exclude<SourceClient.SourceError, SourceClient.TransportFailure>
  | RegistryErrors.UnknownRuntime
  | RegistryErrors.RuntimeUnavailable
  | RegistryErrors.WorkerNotVisible

/** @category models */
export interface WorkerRef {
  readonly runtimeId: string
  readonly workerId: string
}

/** @category models */
export interface ListWorkersOptions {
  readonly runtimeId?: string | undefined
  readonly status?: string | undefined
  /** Per runtime (default 100, at most 200). */
  readonly limit?: number | undefined
}

/** @category models */
export interface SendInputOptions {
  readonly text: string
  readonly whenBusy?: string | undefined
  readonly idempotencyKey?: string | undefined
}

/** @category models */
export interface TranscriptQuery {
  readonly before?: number | undefined
  readonly after?: number | undefined
  readonly limit?: number | undefined
}

/** @category services */
export class RuntimeRegistry extends Context.Service<RuntimeRegistry, {
  listRuntimes(viewer: Policy.Viewer): Effect.Effect<ReadonlyArray<Views.RuntimeView>>
  getRuntime(viewer: Policy.Viewer, runtimeId: string): Effect.Effect<Views.RuntimeView, RegistryError>
  listWorkers(viewer: Policy.Viewer, options: ListWorkersOptions): Effect.Effect<Views.WorkerListView, RegistryError>
  getWorker(viewer: Policy.Viewer, ref: WorkerRef): Effect.Effect<Views.WorkerView, RegistryError>
  createWorker(
    viewer: Policy.Viewer,
    runtimeId: string,
    request: Requests.CreateWorkerRequest
  ): Effect.Effect<Views.CreatedWorkerView, RegistryError>
  sendInput(
    viewer: Policy.Viewer,
    ref: WorkerRef,
    input: SendInputOptions
  ): Effect.Effect<Views.InputAcceptedView, RegistryError>
  cancelRun(viewer: Policy.Viewer, ref: WorkerRef, reason?: string): Effect.Effect<Views.CancelView, RegistryError>
  stopWorker(viewer: Policy.Viewer, ref: WorkerRef, reason?: string): Effect.Effect<Views.StopView, RegistryError>
  getTranscript(
    viewer: Policy.Viewer,
    ref: WorkerRef,
    query: TranscriptQuery
  ): Effect.Effect<Views.TranscriptView, RegistryError>
  /** A snapshot, then every event after `after`, then live (the Runtime's `WatchWorker`). */
  watchWorker(
    viewer: Policy.Viewer,
    ref: WorkerRef,
    after?: number
  ): Stream.Stream<RuntimeEvent.WorkerWatchItem, RegistryError>
  getUsage(viewer: Policy.Viewer, ref: WorkerRef): Effect.Effect<Views.UsageReportView, RegistryError>
}>()("@yoi/registry/RuntimeRegistry") {}

// ---------------------------------------------------------------------------------------------------------------
// Configuration

interface SourceBase {
  readonly runtimeId: string
  readonly displayName: string
  /** `backend_internal` (visible to every viewer; the default for embedded) or the workspace it belongs to. */
  readonly workspace?: string | undefined
}

/** A Runtime in this process, reached through the embedded client (no HTTP, no token). @category models */
export interface EmbeddedSource extends SourceBase {
  readonly kind: "embedded"
  readonly client: Layer.Layer<RuntimeClient.RuntimeClient>
}

/** A runtime process reached over HTTP. @category models */
export interface RemoteSource extends SourceBase {
  readonly kind: "remote"
  readonly url: string
  readonly token?: Redacted.Redacted<string> | undefined
}

/** A read-only projection of legacy pod metadata for one workspace root. @category models */
export interface LegacySourceConfig extends SourceBase {
  readonly kind: "legacy"
  readonly dataDir: string
  readonly workspaceRoot: string
}

/** @category models */
export type SourceConfig = EmbeddedSource | RemoteSource | LegacySourceConfig

/** @category models */
export interface Options {
  readonly sources: ReadonlyArray<SourceConfig>
  /** Bound on one call to a runtime (default 5 s); past it the call fails with `RuntimeUnavailable(timeout)`. */
  readonly callTimeout?: Duration.Input | undefined
  /** Bound on each runtime's part of a list across runtimes (default 2 s). */
  readonly listTimeout?: Duration.Input | undefined
  /** How often runtimes are probed to keep their health current (default 5 s). */
  readonly healthInterval?: Duration.Input | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Implementation

interface Health {
  readonly state: "available" | "unavailable"
  readonly reason?: RegistryErrors.RuntimeUnavailable["reason"] | undefined
  readonly probe?: SourceClient.Probe | undefined
}

interface Source {
  readonly config: SourceConfig
  readonly implementation: Views.Implementation
  readonly workspace: string
  readonly client: SourceClient.SourceClient
  health: Health
}

const implementationOf = (config: SourceConfig): Views.Implementation =>
  config.kind === "legacy" ? "legacy_compatibility" : config.kind

const unavailableMessage: Record<RegistryErrors.RuntimeUnavailable["reason"], string> = {
  unreachable: "the runtime cannot be reached",
  timeout: "the runtime did not answer in time",
  unauthorized: "the runtime rejected the backend's credentials"
}

/**
 * Builds the registry: validates the sources, builds their clients in the registry's scope, probes them once and
 * keeps probing in the background.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const policy = yield* Policy.Policy
  const audit = yield* Audit.Audit
  const callTimeout = Duration.fromInputUnsafe(options.callTimeout ?? "5 seconds")
  const listTimeout = Duration.fromInputUnsafe(options.listTimeout ?? "2 seconds")
  const healthInterval = Duration.fromInputUnsafe(options.healthInterval ?? "5 seconds")

  const sources = new Map<string, Source>()
  for (const config of options.sources) {
    const runtimeId = yield* Ids.parse(Ids.RuntimeId, "runtimeId", config.runtimeId).pipe(Effect.orDie)
    if (sources.has(runtimeId)) return yield* Effect.die(new Error(`duplicate runtime id ${runtimeId}`))
    const implementation = implementationOf(config)
    const client: SourceClient.SourceClient = config.kind === "legacy"
      ? yield* LegacySource.make({ runtimeId, dataDir: config.dataDir, workspaceRoot: config.workspaceRoot })
      : SourceClient.fromRuntimeClient(
        Context.get(
          yield* Layer.build(
            config.kind === "embedded"
              ? config.client
              : HttpRuntimeClient.layer({
                url: config.url,
                token: config.token,
                // the registry's own bound (callTimeout) classifies slow answers as timeouts; this one only
                // guards exchanges the registry does not bound itself (a watch that never gets its headers)
                timeout: Duration.times(callTimeout, 2)
              })
          ),
          RuntimeClient.RuntimeClient
        ),
        runtimeId,
        implementation
      )
    sources.set(runtimeId, {
      config,
      implementation,
      workspace: config.workspace ?? (config.kind === "embedded" ? Policy.backendInternal : "default"),
      client,
      health: { state: "available" }
    })
  }

  const markUnavailable = (source: Source, reason: RegistryErrors.RuntimeUnavailable["reason"]) =>
    Effect.sync(() => {
      source.health = { ...source.health, state: "unavailable", reason }
    })

  const probe = (source: Source) =>
    source.client.probe.pipe(
      Effect.timeoutOrElse({
        duration: callTimeout,
        orElse: () => Effect.fail("timeout" as const)
      }),
      Effect.matchEffect({
        onFailure: (failure) => markUnavailable(source, failure === "timeout" ? "timeout" : failure.reason),
        onSuccess: (result) =>
          Effect.sync(() => {
            source.health = { state: "available", probe: result }
          })
      })
    )

  // an array, not `sources.values()`: an iterator is spent by the first pass and every later probe would check nothing
  const all = [...sources.values()]
  const probeAll = Effect.forEach(all, probe, { concurrency: "unbounded", discard: true })
  yield* probeAll
  yield* Effect.forkScoped(Effect.repeat(probeAll, Schedule.spaced(healthInterval)).pipe(Effect.delay(healthInterval)))

  // ---- resolution, policy, audit ----------------------------------------------------------------------------

  const target = (source: Source, workerId?: string): Policy.Target => ({
    runtimeId: source.config.runtimeId,
    workspace: source.workspace,
    ...(workerId !== undefined ? { workerId } : {})
  })

  const resolve = (viewer: Policy.Viewer, runtimeId: string) =>
    Effect.gen(function*() {
      const id = yield* Ids.parse(Ids.RuntimeId, "runtimeId", runtimeId)
      const source = sources.get(id)
      if (source === undefined || !policy.canSee(viewer, target(source))) {
        return yield* new RegistryErrors.UnknownRuntime({ runtimeId: id })
      }
      return source
    })

  const resolveWorker = (viewer: Policy.Viewer, ref: WorkerRef, action: Policy.Action) =>
    Effect.gen(function*() {
      const source = yield* resolve(viewer, ref.runtimeId)
      const workerId = yield* Ids.parse(Ids.WorkerId, "workerId", ref.workerId)
      const t = target(source, workerId)
      if (!policy.canSee(viewer, t) || (action !== "read" && !policy.canAct(viewer, action, t))) {
        return yield* new RegistryErrors.WorkerNotVisible({ runtimeId: source.config.runtimeId, workerId })
      }
      return { source, workerId }
    })

  /** One call to a source: fails fast when it is unavailable, bounded by `callTimeout`, health kept current. */
  const call = <A, E>(source: Source, f: (client: SourceClient.SourceClient) => Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      const runtimeId = source.config.runtimeId
      if (source.health.state === "unavailable") {
        return Effect.fail(
          new RegistryErrors.RuntimeUnavailable({ runtimeId, reason: source.health.reason ?? "unreachable" })
        )
      }
      return f(source.client).pipe(
        Effect.timeoutOrElse({
          duration: callTimeout,
          orElse: () =>
            Effect.andThen(
              markUnavailable(source, "timeout"),
              Effect.fail(new RegistryErrors.RuntimeUnavailable({ runtimeId, reason: "timeout" }))
            )
        }),
        Effect.catchIf(
          (error): error is Extract<E, SourceClient.TransportFailure> => error instanceof SourceClient.TransportFailure,
          (failure) =>
            Effect.andThen(
              markUnavailable(source, failure.reason),
              Effect.fail(new RegistryErrors.RuntimeUnavailable({ runtimeId, reason: failure.reason }))
            )
        )
      )
    }) as Effect.Effect<A, Exclude<E, SourceClient.TransportFailure> | RegistryErrors.RuntimeUnavailable>

  /** The runtime's own length check, made here so that a text it would refuse is never sent. */
  const checkText = (source: Source, field: string, text: string | undefined) => {
    const max = source.health.probe?.maxInputChars
    return max !== undefined && text !== undefined && text.length > max
      ? Effect.fail(new Errors.InvalidRequest({ field, message: `must be at most ${max} characters` }))
      : Effect.void
  }

  const audited = <A, E>(
    viewer: Policy.Viewer,
    action: Policy.Action,
    ref: { readonly runtimeId: string; readonly workerId?: string | undefined },
    effect: Effect.Effect<A, E>
  ) =>
    Effect.onExit(effect, (exit) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        audit.record({
          at,
          viewer: viewer.id,
          action,
          runtimeId: ref.runtimeId,
          workerId: ref.workerId,
          outcome: exit._tag === "Success"
            ? "ok"
            : Option.match(Cause.findErrorOption(exit.cause), {
              onNone: () => "defect",
              onSome: (error) =>
                typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "error"
            })
        })))

  // ---- views ----------------------------------------------------------------------------------------------------

  const runtimeView = (source: Source): Views.RuntimeView => {
    const health = source.health
    const diagnostics = [
      ...(health.state === "unavailable"
        ? [
          Views.diagnosticView(
            "error",
            `runtime_${health.reason ?? "unreachable"}`,
            unavailableMessage[health.reason ?? "unreachable"]
          )
        ]
        : []),
      ...(health.probe?.diagnostics ?? [])
    ].slice(0, 16)
    return {
      runtimeId: source.config.runtimeId,
      displayName: source.config.displayName,
      implementation: source.implementation,
      state: health.state,
      visibility: source.workspace === Policy.backendInternal ? "backend_internal" : "workspace",
      capabilities: source.client.capabilities,
      ...(health.probe?.counts !== undefined && health.state === "available" ? { counts: health.probe.counts } : {}),
      diagnostics
    }
  }

  const visibleSources = (viewer: Policy.Viewer) => all.filter((source) => policy.canSee(viewer, target(source)))

  const listWorkers = (viewer: Policy.Viewer, options: ListWorkersOptions) =>
    Effect.gen(function*() {
      const limit = options.limit ?? 100
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
        return yield* new Errors.InvalidRequest({ field: "limit", message: "must be between 1 and 200" })
      }
      const selected = options.runtimeId === undefined
        ? visibleSources(viewer)
        : [yield* resolve(viewer, options.runtimeId)]
      const parts = yield* Effect.forEach(selected, (source) =>
        call(source, (client) =>
          client.listWorkers({ limit, status: options.status })).pipe(
            Effect.timeoutOrElse({
              duration: listTimeout,
              orElse: () =>
                Effect.andThen(
                  markUnavailable(source, "timeout"),
                  Effect.fail(
                    new RegistryErrors.RuntimeUnavailable({ runtimeId: source.config.runtimeId, reason: "timeout" })
                  )
                )
            }),
            Effect.result,
            Effect.map((result) => ({ source, result }))
          ), { concurrency: "unbounded" })
      const workers: Array<Views.WorkerView> = []
      const runtimes: Array<Views.RuntimeListState> = []
      for (const { source, result } of parts) {
        if (result._tag === "Success") {
          for (const worker of result.success) {
            if (policy.canSee(viewer, target(source, worker.workerId))) {
              workers.push(worker)
            }
          }
          runtimes.push({ runtimeId: source.config.runtimeId, state: "available", diagnostics: [] })
        } else if (result.failure._tag === "RuntimeUnavailable" || options.runtimeId === undefined) {
          // across runtimes, one runtime's failure is a diagnostic, not the list's failure
          if (options.runtimeId !== undefined) {
            return yield* Effect.fail(result.failure)
          }
          runtimes.push({
            runtimeId: source.config.runtimeId,
            state: "unavailable",
            diagnostics: [
              runtimeView(source).diagnostics[0] ??
                Views.diagnosticView("error", "runtime_error", "the runtime failed to list its workers")
            ]
          })
        } else {
          return yield* Effect.fail(result.failure)
        }
      }
      return { workers, runtimes }
    })

  return RuntimeRegistry.of({
    listRuntimes: (viewer) => Effect.sync(() => visibleSources(viewer).map(runtimeView)),
    getRuntime: (viewer, runtimeId) => Effect.map(resolve(viewer, runtimeId), runtimeView),
    listWorkers,
    getWorker: (viewer, ref) =>
      Effect.flatMap(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => call(source, (client) => client.getWorker(workerId))
      ),
    createWorker: (viewer, runtimeId, request) =>
      audited(
        viewer,
        "create",
        { runtimeId },
        Effect.gen(function*() {
          const source = yield* resolve(viewer, runtimeId)
          if (!policy.canAct(viewer, "create", target(source))) {
            return yield* new RegistryErrors.UnknownRuntime({ runtimeId: source.config.runtimeId })
          }
          yield* checkText(source, "initialInput.text", request.initialInput?.text)
          return yield* call(source, (client) => client.createWorker(request))
        })
      ),
    sendInput: (viewer, ref, input) =>
      audited(
        viewer,
        "input",
        ref,
        Effect.flatMap(resolveWorker(viewer, ref, "input"), ({ source, workerId }) =>
          Effect.andThen(
            checkText(source, "input.text", input.text),
            call(source, (client) => client.sendInput(workerId, input))
          ))
      ),
    cancelRun: (viewer, ref, reason) =>
      audited(
        viewer,
        "cancel",
        ref,
        Effect.flatMap(resolveWorker(viewer, ref, "cancel"), ({ source, workerId }) =>
          call(source, (client) => client.cancelRun(workerId, reason)))
      ),
    stopWorker: (viewer, ref, reason) =>
      audited(
        viewer,
        "stop",
        ref,
        Effect.flatMap(resolveWorker(viewer, ref, "stop"), ({ source, workerId }) =>
          call(source, (client) => client.stopWorker(workerId, reason)))
      ),
    getTranscript: (viewer, ref, query) =>
      Effect.flatMap(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => call(source, (client) => client.getTranscript(workerId, query))
      ),
    watchWorker: (viewer, ref, after) =>
      Effect.map(resolveWorker(viewer, ref, "read"), ({ source, workerId }) =>
        source.health.state === "unavailable"
          ? Stream.fail(
            new RegistryErrors.RuntimeUnavailable({
              runtimeId: source.config.runtimeId,
              reason: source.health.reason ?? "unreachable"
            })
          )
          : source.client.watchWorker(workerId, after).pipe(
            Stream.catchTag("TransportFailure", (failure) =>
              Stream.fromEffect(
                Effect.andThen(
                  markUnavailable(source, failure.reason),
                  Effect.fail(
                    new RegistryErrors.RuntimeUnavailable({
                      runtimeId: source.config.runtimeId,
                      reason: failure.reason
                    })
                  )
                )
              ))
          )).pipe(Stream.unwrap),
    getUsage: (viewer, ref) =>
      Effect.flatMap(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => call(source, (client) => client.getUsage(workerId))
      )
  })
})

/**
 * The registry with its sources; needs a `Policy`, an `Audit`, and `FileSystem | Path` (legacy sources).
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<RuntimeRegistry, never, Policy.Policy | Audit.Audit | FileSystem.FileSystem | Path.Path> =>
  Layer.effect(RuntimeRegistry, make(options))
