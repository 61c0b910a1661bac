/**
 * The registry's sources and their health. Each configured source is built once, in the registry's scope, into one
 * `SourceClient` (embedded and remote alike over their `RuntimeClient`; legacy pods over their projection), and
 * carries a `Health`: probed at start and then every `healthInterval`. A probe that cannot read the summary, for
 * whatever reason, marks the source `unavailable`; one that can marks it `available` again and refreshes its counts
 * and limits. A call's outage marks it too (`routing.ts`).
 *
 * Deliberately not here: resolving, policy and audit (the registry service), and the browser views of a source
 * (`Views.runtimeView`).
 */
import { HttpRuntimeClient, Ids, LegacyPods, RuntimeClient } from "@yoi/domain"
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import * as LegacyPodSource from "../LegacyPodSource.ts"
import * as Policy from "../Policy.ts"
import type * as RegistryErrors from "../RegistryErrors.ts"
import type * as RegistrySource from "../RegistrySource.ts"
import * as SourceClient from "../SourceClient.ts"
import * as Views from "../Views.ts"

/** @category models */
export interface Health {
  readonly state: "available" | "unavailable"
  readonly reason?: RegistryErrors.RuntimeUnavailable["reason"] | undefined
  readonly probe?: SourceClient.Probe | undefined
}

/** One built source; its health is the only mutable part. @category models */
export interface Source {
  readonly config: RegistrySource.SourceConfig
  readonly runtimeId: string
  readonly implementation: Views.Implementation
  /** `backend_internal`, or the workspace it belongs to (`default` unless configured). */
  readonly workspace: string
  readonly client: SourceClient.SourceClient
  health: Health
}

const implementationOf = (config: RegistrySource.SourceConfig): Views.Implementation =>
  config.kind === "legacy" ? "legacy_compatibility" : config.kind

const clientOf = (config: RegistrySource.SourceConfig, runtimeId: string, callTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    if (config.kind === "legacy") {
      const pods = Context.get(yield* Layer.build(config.pods), LegacyPods.LegacyPods)
      return yield* LegacyPodSource.make({ runtimeId, dataDir: config.dataDir, workspaceRoot: config.workspaceRoot })
        .pipe(Effect.provideService(LegacyPods.LegacyPods, pods))
    }
    const layer = config.kind === "embedded"
      ? config.client
      : HttpRuntimeClient.layer({
        url: config.url,
        token: config.token,
        // the registry's own bound (callTimeout) classifies slow answers as timeouts; this one only guards
        // exchanges the registry does not bound itself (a watch that never gets its headers)
        timeout: Duration.times(callTimeout, 2)
      })
    const client = Context.get(yield* Layer.build(layer), RuntimeClient.RuntimeClient)
    return SourceClient.fromRuntimeClient(client, runtimeId, implementationOf(config))
  })

/**
 * Builds every source in the caller's scope, in configuration order. A malformed or repeated runtime id is a
 * defect: the configuration is the backend's own code.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(
  configs: ReadonlyArray<RegistrySource.SourceConfig>,
  callTimeout: Duration.Duration
) {
  const sources: Array<Source> = []
  for (const config of configs) {
    const runtimeId = yield* Ids.parse(Ids.RuntimeId, "runtimeId", config.runtimeId).pipe(Effect.orDie)
    if (sources.some((source) => source.runtimeId === runtimeId)) {
      return yield* Effect.die(new Error(`duplicate runtime id ${runtimeId}`))
    }
    sources.push({
      config,
      runtimeId,
      implementation: implementationOf(config),
      workspace: config.workspace ?? (config.kind === "embedded" ? Policy.backendInternal : "default"),
      client: yield* clientOf(config, runtimeId, callTimeout),
      health: { state: "available" }
    })
  }
  return sources
})

/** @category constructors */
export const markUnavailable = (source: Source, reason: RegistryErrors.RuntimeUnavailable["reason"]) =>
  Effect.sync(() => {
    source.health = { ...source.health, state: "unavailable", reason }
  })

/**
 * The one bound on an exchange with a source: past `duration` it is a `TransportFailure(timeout)`, the same outage
 * as a refused connection.
 * @category constructors
 */
export const bounded = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  duration: Duration.Duration
): Effect.Effect<A, E | SourceClient.TransportFailure, R> =>
  Effect.timeoutOrElse(effect, {
    duration,
    orElse: () => Effect.fail(new SourceClient.TransportFailure({ reason: "timeout" }))
  })

const probe = (source: Source, callTimeout: Duration.Duration) =>
  bounded(source.client.probe, callTimeout).pipe(
    Effect.matchEffect({
      onFailure: (failure) => markUnavailable(source, failure.reason),
      onSuccess: (result) =>
        Effect.sync(() => {
          source.health = { state: "available", probe: result }
        })
    })
  )

/**
 * Probes every source once, then keeps probing every `healthInterval` in the caller's scope.
 * @category constructors
 */
export const keepHealth = Effect.fnUntraced(function*(
  sources: ReadonlyArray<Source>,
  options: { readonly callTimeout: Duration.Duration; readonly healthInterval: Duration.Duration }
) {
  const probeAll = Effect.forEach(sources, (source) => probe(source, options.callTimeout), {
    concurrency: "unbounded",
    discard: true
  })
  yield* probeAll
  yield* Effect.forkScoped(
    Effect.repeat(probeAll, Schedule.spaced(options.healthInterval)).pipe(Effect.delay(options.healthInterval))
  )
})

/** The browser view of a source as the registry knows it now. @category constructors */
export const runtimeView = (source: Source): Views.RuntimeView =>
  Views.runtimeView({
    runtimeId: source.runtimeId,
    displayName: source.config.displayName,
    implementation: source.implementation,
    workspace: source.workspace,
    capabilities: source.client.capabilities,
    unavailable: source.health.state === "unavailable" ? source.health.reason ?? "unreachable" : undefined,
    counts: source.health.probe?.counts,
    diagnostics: source.health.probe?.diagnostics ?? []
  })
