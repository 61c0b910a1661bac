/**
 * The one rule of a call routed to a source: a source known to be unavailable fails fast with
 * `RuntimeUnavailable`; otherwise the call is bounded (`sources.bounded`), and an outage it meets — a
 * `TransportFailure` (refused, network error, a gateway's 502/503/504, rejected credentials) or no answer in time —
 * marks the source unavailable and fails the call with `RuntimeUnavailable` of that reason. Everything else the
 * call fails with (the runtime's typed errors, an `UnexpectedAnswer`) fails that call only and leaves health alone.
 *
 * Deliberately not here: which source (resolution and policy are the registry's) and probing (`sources.ts`).
 */
import { type Duration, Effect, Stream } from "effect"
import * as RegistryErrors from "../RegistryErrors.ts"
import * as SourceClient from "../SourceClient.ts"
import * as Sources from "./sources.ts"

/** What a routed call can fail with: its own errors, an outage turned into `RuntimeUnavailable`. */
export type Routed<E> = Exclude<E, SourceClient.TransportFailure> | RegistryErrors.RuntimeUnavailable

const unavailable = (source: Sources.Source, reason: RegistryErrors.RuntimeUnavailable["reason"]) =>
  new RegistryErrors.RuntimeUnavailable({ runtimeId: source.runtimeId, reason })

const isTransportFailure = <E>(error: E): error is Extract<E, SourceClient.TransportFailure> =>
  error instanceof SourceClient.TransportFailure

/** An outage seen by a call: the source is marked unavailable and the call fails with why. */
const outage = (source: Sources.Source, failure: SourceClient.TransportFailure) =>
  Effect.andThen(Sources.markUnavailable(source, failure.reason), Effect.fail(unavailable(source, failure.reason)))

// The casts below: a generic refinement narrows `E` in its true branch only, so the compiler cannot see that what is
// left is `Exclude<E, TransportFailure>`; it is by construction (the same as in `SourceClient`).

/** One call to a source, within `timeout`, under the rule above. */
export const call = <A, E, R>(
  source: Sources.Source,
  timeout: Duration.Duration,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Routed<E>, R> =>
  Effect.suspend(() =>
    source.health.state === "unavailable"
      ? Effect.fail(unavailable(source, source.health.reason ?? "unreachable"))
      : Effect.catchIf(Sources.bounded(effect, timeout), isTransportFailure, (failure) => outage(source, failure))
  ) as Effect.Effect<A, Routed<E>, R>

/** A stream from a source under the same rule; not bounded in time, since a watch stays open. */
export const stream = <A, E, R>(
  source: Sources.Source,
  effect: Stream.Stream<A, E, R>
): Stream.Stream<A, Routed<E>, R> =>
  Stream.suspend(() =>
    source.health.state === "unavailable"
      ? Stream.fail(unavailable(source, source.health.reason ?? "unreachable"))
      : Stream.catchIf(effect, isTransportFailure, (failure) => Stream.fromEffect(outage(source, failure)))
  ) as Stream.Stream<A, Routed<E>, R>
