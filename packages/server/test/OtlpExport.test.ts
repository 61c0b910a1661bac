/**
 * `OtlpExport.fromConfig`: the standard `OTEL_*` variables turn export on (endpoint), name the service and pick the
 * serialization; unset or empty means off; an invalid value is an `InvalidConfig` naming the variable and never
 * echoing the value (an endpoint can carry credentials).
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import * as OtlpExport from "../src/OtlpExport.ts"

const withEnv = (env: Record<string, string>) =>
  OtlpExport.fromConfig.pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))

describe("OtlpExport.fromConfig", () => {
  it.effect("off without an endpoint, whatever else is set", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* withEnv({})))
      assert.isTrue(
        Option.isNone(yield* withEnv({ OTEL_SERVICE_NAME: "svc", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }))
      )
      assert.isTrue(Option.isNone(yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "" })))
    }))

  it.effect("an endpoint turns it on, with the defaults yoi-runtime and http/protobuf", () =>
    Effect.gen(function*() {
      const options = yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })
      assert.isTrue(Option.isSome(options))
      const value = Option.getOrThrow(options)
      assert.strictEqual(value.endpoint.toString(), "http://collector:4318/")
      assert.strictEqual(value.serviceName, "yoi-runtime")
      assert.strictEqual(value.protocol, "http/protobuf")
      // an empty variable is an unset one, as for the endpoint
      const empty = yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SERVICE_NAME: "" })
      assert.strictEqual(Option.getOrThrow(empty).serviceName, "yoi-runtime")
    }))

  it.effect("OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_PROTOCOL are honoured", () =>
    Effect.gen(function*() {
      const value = Option.getOrThrow(
        yield* withEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector.example/otlp/",
          OTEL_SERVICE_NAME: "runtime-eu-1",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
        })
      )
      assert.strictEqual(value.serviceName, "runtime-eu-1")
      assert.strictEqual(value.protocol, "http/json")
    }))

  it.effect("invalid values name the variable, never the value", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url secret-1" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
        [{ OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://user:secret-1@collector" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
        [
          { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc secret-1" },
          "OTEL_EXPORTER_OTLP_PROTOCOL"
        ]
      ]
      for (const [env, variable] of cases) {
        const error = yield* Effect.flip(withEnv(env))
        assert.strictEqual(error._tag, "InvalidConfig")
        assert.strictEqual(error.field, variable)
        assert.notInclude(error.message, "secret-1")
      }
    }))
})
