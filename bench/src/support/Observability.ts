/**
 * The observability settings cases 1 and 2 compare in one run: spans on or off (`References.TracerEnabled`) and
 * metrics recorded or discarded (`Metric.MetricRegistry`), so the cost of the RPC server's spans, the Runtime's
 * `Effect.fn` spans and the `RuntimeMetrics` updates is a ratio of the same subject with and without them.
 *
 * **Details** A setting is ambient: it applies where a stack is built (the fibers the stack forks, e.g. the RPC
 * server's, inherit it) and around each timed call (the client's spans), so every variant builds its own stack
 * under `under(setting)` and runs its calls under it too. "Recorded" is a fresh registry of the variant's own,
 * "discarded" one whose every series is a no-op, so both pay the same lookup and differ only in the recording.
 *
 * Deliberately not here: what is measured (the cases) and any target (the cases' rows say ≤ 1.05×).
 */
import { Effect, Metric, References } from "effect"
import { type Row, row } from "../CaseResult.ts"

export interface Setting {
  readonly label: string
  readonly tracing: boolean
  readonly metrics: boolean
}

export const on: Setting = { label: "spans + metrics", tracing: true, metrics: true }
export const tracingOff: Setting = { label: "spans off", tracing: false, metrics: true }
export const metricsOff: Setting = { label: "metrics discarded", tracing: true, metrics: false }
export const allOff: Setting = { label: "spans off, metrics discarded", tracing: false, metrics: false }

/** The four settings, `on` first. */
export const settings: ReadonlyArray<Setting> = [on, tracingOff, metricsOff, allOff]

const discarded: Metric.Metric.Metadata<unknown, undefined> = {
  id: "discarded",
  type: "Counter",
  description: undefined,
  attributes: undefined,
  hooks: { get: () => undefined, update: () => {}, modify: () => {} }
}

/** A registry that records nothing: every metric resolves to one no-op series and nothing is ever stored. */
class DiscardingRegistry extends Map<string, Metric.Metric.Metadata<unknown, undefined>> {
  override get(_key: string) {
    return discarded
  }
  override set(_key: string, _value: Metric.Metric.Metadata<unknown, undefined>) {
    return this
  }
}

/**
 * `setting` as a wrapper: each variant gets one, with its own registry, and wraps its stack's build and each timed
 * call in it.
 */
export const under = (setting: Setting) => {
  const registry: Metric.MetricRegistry = setting.metrics ? new Map() : new DiscardingRegistry()
  return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(References.TracerEnabled, setting.tracing),
      Effect.provideService(Metric.MetricRegistry, registry)
    )
}

/** The four variants' figures, named by setting. */
export interface Figures<S> {
  readonly on: S
  readonly tracingOff: S
  readonly metricsOff: S
  readonly allOff: S
}

/** The rows: `on` against each setting that turns something off, on `figure` (the case's headline statistic). */
export const rows = <S extends { readonly mean: number; readonly p50: number }>(
  figures: Figures<S>,
  figure: "mean" | "p50"
): ReadonlyArray<Row> => [
  row({
    metric: `spans cost: ${figure}, on / spans off`,
    unit: "µs",
    baseline: figures.tracingOff[figure],
    subject: figures.on[figure],
    maxRatio: 1.05
  }),
  row({
    metric: `metrics cost: ${figure}, on / metrics discarded`,
    unit: "µs",
    baseline: figures.metricsOff[figure],
    subject: figures.on[figure],
    maxRatio: 1.05
  }),
  row({
    metric: `spans + metrics cost: ${figure}, on / both off`,
    unit: "µs",
    baseline: figures.allOff[figure],
    subject: figures.on[figure],
    maxRatio: 1.05
  })
]

/** What the observability rows measure, for the case's notes. */
export const note = "observability rows: the subject on four stacks of its own (spans + metrics on; spans off; " +
  "metrics into a registry that discards them; both off), timed in a second alternating loop; ratio = on / off"
