/**
 * Optional OTLP/HTTP export of the runtime process's traces and logs, configured by the standard OpenTelemetry
 * variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL; unset means off), `OTEL_SERVICE_NAME`
 * (default `yoi-runtime`) and `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `http/json`).
 *
 * **Details** Off is nothing at all: no exporter, no timer, no HTTP client, nothing per request. On, spans and log
 * records are batched and posted to `<endpoint>/v1/traces` and `<endpoint>/v1/logs` over `fetch`; the process's
 * shutdown flushes them within a bound (`shutdownTimeout`), so a collector that is down or hangs never holds the
 * process up. Metrics are not pushed: Prometheus scrapes `GET /metrics`. An invalid endpoint or protocol is an
 * `InvalidConfig` naming the variable, never echoing its value (a URL can carry credentials). A failure leaves
 * as its tag only (`internal/otlpRedaction`): stacks and platform messages name paths.
 *
 * Deliberately not here: what is traced or logged (the RPC server's spans, the Runtime's `Effect.fn` spans,
 * `RequestLog`), sampling, and the per-signal `OTEL_EXPORTER_OTLP_{TRACES,LOGS}_*` variables.
 */
import { RuntimeSettings } from "@yoi/runtime"
import { Config, Duration, Effect, Layer, Logger, Option, Tracer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpExporter, OtlpLogger, OtlpSerialization, OtlpTracer } from "effect/observability"
import * as Redaction from "./internal/otlpRedaction.ts"

/** @category models */
export interface Options {
  /** The collector's base URL; signals go to `/v1/traces` and `/v1/logs` below it. */
  readonly endpoint: URL
  readonly serviceName: string
  readonly protocol: "http/protobuf" | "http/json"
}

/**
 * How long shutdown waits for the last batch of each signal before giving up on it.
 * @category models
 */
export const shutdownTimeout = Duration.seconds(2)

const signalUrl = (endpoint: URL, signal: "traces" | "logs") => {
  const url = new URL(endpoint)
  url.pathname = `${url.pathname.replace(/\/$/, "")}/v1/${signal}`
  return url.toString()
}

/**
 * The traces and logs exporters for `options`.
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<OtlpExporter.Flusher> => {
  const resource = { serviceName: options.serviceName }
  const traces = Layer.effect(
    Tracer.Tracer,
    Effect.map(
      OtlpTracer.make({ url: signalUrl(options.endpoint, "traces"), resource, shutdownTimeout }),
      Redaction.tracer
    )
  )
  const logs = Logger.layer([
    Effect.map(
      OtlpLogger.make({ url: signalUrl(options.endpoint, "logs"), resource, shutdownTimeout }),
      Redaction.logger
    )
  ], { mergeWithExisting: true })
  return Layer.mergeAll(traces, logs).pipe(
    Layer.provideMerge(OtlpExporter.layerFlusher),
    Layer.provide(options.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(FetchHttpClient.layer)
  )
}

const invalid = (variable: string, expected: string) => () =>
  new RuntimeSettings.InvalidConfig({ field: variable, message: `must be ${expected}` })

/**
 * The options from the `OTEL_*` variables; none when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset or empty.
 * @category constructors
 */
export const fromConfig: Effect.Effect<Option.Option<Options>, RuntimeSettings.InvalidConfig> = Effect.gen(
  function*() {
    const endpoint = yield* Config.option(Config.NonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
      Effect.mapError(invalid("OTEL_EXPORTER_OTLP_ENDPOINT", "an http or https URL"))
    )
    if (Option.isNone(endpoint)) return Option.none()
    const url = URL.parse(endpoint.value)
    if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
      return yield* Effect.fail(invalid("OTEL_EXPORTER_OTLP_ENDPOINT", "an http or https URL")())
    }
    const serviceName = yield* Config.NonEmptyString("OTEL_SERVICE_NAME").pipe(
      Config.withDefault("yoi-runtime"),
      Effect.mapError(invalid("OTEL_SERVICE_NAME", "a non-empty string"))
    )
    const protocol = yield* Config.Literals(["http/protobuf", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
      Config.withDefault("http/protobuf" as const),
      Effect.mapError(invalid("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf or http/json"))
    )
    return Option.some({ endpoint: url, serviceName, protocol })
  }
)

/**
 * The exporters configured by the `OTEL_*` variables, or nothing at all when they are unset.
 * @category layers
 */
export const layerConfig: Layer.Layer<OtlpExporter.Flusher, RuntimeSettings.InvalidConfig> = Layer.unwrap(
  // off: the flusher alone (an empty set), so callers see one type either way
  Effect.map(fromConfig, Option.match({ onNone: () => OtlpExporter.layerFlusher, onSome: layer }))
)
