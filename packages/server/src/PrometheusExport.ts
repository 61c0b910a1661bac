/**
 * The Runtime's metrics (`RuntimeMetrics`) as Prometheus text, for the server's `GET /metrics`.
 *
 * **Details** Every `yoi_*` metric is registered before formatting, so a scrape lists all of them from the first
 * request on, at zero until the Runtime first updates one. Only `yoi_*` series are exported: anything else that
 * registers a metric in the process (a library, with attributes nobody here chose) cannot reach a scraper, so the
 * output never carries a path, URL, token or pid. Metrics are per process and carry no Worker or run id.
 *
 * Deliberately not here: the route and its authentication (`Server`), and deciding when metrics change (the Runtime).
 */
import { RuntimeMetrics } from "@yoi/runtime"
import { Context, Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"

/**
 * The content type of the text exposition format, version 0.0.4.
 * @category models
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** The prefix every exported metric name carries. */
const prefix = "yoi_"

const runtimeMetrics = Object.values(RuntimeMetrics).filter(Metric.isMetric)

/**
 * The `yoi_*` metrics of the current `Metric.MetricRegistry` in the text exposition format.
 * @category constructors
 */
export const format: Effect.Effect<string> = Effect.withFiber((fiber) => {
  const context = fiber.context
  // reading a value registers the metric, so an untouched one is exported at zero
  for (const metric of runtimeMetrics) metric.valueUnsafe(context)
  const own: Metric.MetricRegistry = new Map()
  for (const [key, metadata] of Context.get(context, Metric.MetricRegistry)) {
    if (metadata.id.startsWith(prefix)) own.set(key, metadata)
  }
  return Effect.succeed(PrometheusMetrics.formatUnsafe(Context.add(context, Metric.MetricRegistry, own)))
})
