/**
 * The Runtime's metrics: what an operator scrapes from `/metrics` (Prometheus text) or receives over OTLP.
 *
 * Counters count runs by how they ended and the text/reasoning deltas delivered to watchers; gauges hold the runs in
 * flight, the inputs waiting in Worker queues and the open watch streams; a histogram records how long a store
 * commit takes (seconds). They live in Effect's `Metric.MetricRegistry`, so a test (or a process hosting several
 * Runtimes that wants them apart) provides its own registry; the default is one per process.
 *
 * No attribute names a Worker or a run: metrics are per process, and their cardinality stays fixed.
 *
 * Deliberately not here: exporting them (the server's `/metrics` route and the optional OTLP layer) and deciding
 * when to update them (the Runtime's internals, at the transition that changes the number).
 */
import { Metric } from "effect"

/** @category metrics */
export const runsStarted = Metric.counter("yoi_runs_started_total", {
  description: "Runs started",
  incremental: true
})

/** @category metrics */
export const runsFinished = Metric.counter("yoi_runs_finished_total", {
  description: "Runs that finished with a reply",
  incremental: true
})

/** @category metrics */
export const runsFailed = Metric.counter("yoi_runs_failed_total", {
  description: "Runs that failed (the engine or the store failed, or the run was interrupted by a restart)",
  incremental: true
})

/** @category metrics */
export const runsCancelled = Metric.counter("yoi_runs_cancelled_total", {
  description: "Runs cancelled by a caller or by stopping their Worker",
  incremental: true
})

/** @category metrics */
export const activeRuns = Metric.gauge("yoi_active_runs", { description: "Runs in flight" })

/** @category metrics */
export const queuedInputs = Metric.gauge("yoi_queued_inputs", { description: "Inputs waiting in Worker queues" })

/** @category metrics */
export const watchers = Metric.gauge("yoi_watchers", { description: "Open WatchWorker and WatchRuntime streams" })

/** @category metrics */
export const deltasDelivered = Metric.counter("yoi_deltas_delivered_total", {
  description: "Text and reasoning deltas delivered to watchers",
  incremental: true
})

/** @category metrics */
export const storeCommitSeconds = Metric.histogram("yoi_store_commit_seconds", {
  description: "Time to commit one Worker transition to the store",
  boundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
})
