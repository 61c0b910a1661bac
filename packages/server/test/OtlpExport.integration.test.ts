/**
 * OTLP export of `yoi-runtime serve` as a real process, against a local receiver on loopback: with
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set, one run's RPC spans (`RuntimeRpcs.<Rpc>`) and its debug logs reach
 * `/v1/traces` and `/v1/logs` under `OTEL_SERVICE_NAME` by the time a graceful stop completes, without the token or
 * a directory; without the variables nothing is sent at all; with a collector that is down or never answers the
 * process still stops promptly and cleanly (each exporter's last flush is bounded by `OtlpExport.shutdownTimeout`).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { HttpRuntimeClient, RuntimeClient } from "@yoi/domain"
import { Effect, Redacted, Schema } from "effect"
import { fileURLToPath } from "node:url"
import { oneTurn } from "./support/oneTurn.ts"
import { otlpReceiver, otlpReceiverHanging } from "./support/otlpReceiver.ts"
import { closedPort, serveArgs, serverDirs, type ServerProcess, spawnServer } from "./support/serverProcess.ts"

const token = "otlp-token-91c5e7a0"
const serviceName = "yoi-otlp-test"

const AnyValue = Schema.Struct({ stringValue: Schema.optional(Schema.String) })
const KeyValue = Schema.Struct({ key: Schema.String, value: AnyValue })
const Resource = Schema.Struct({ attributes: Schema.Array(KeyValue) })
const TracesRequest = Schema.fromJsonString(Schema.Struct({
  resourceSpans: Schema.Array(Schema.Struct({
    resource: Resource,
    scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(Schema.Struct({ name: Schema.String })) }))
  }))
}))
const LogsRequest = Schema.fromJsonString(Schema.Struct({
  resourceLogs: Schema.Array(Schema.Struct({
    resource: Resource,
    scopeLogs: Schema.Array(Schema.Struct({ logRecords: Schema.Array(Schema.Struct({ body: AnyValue })) }))
  }))
}))

/** Where this checkout lives: a stack frame would name it. */
const installRoot = fileURLToPath(new URL("../../..", import.meta.url)).replace(/\/$/, "")

/** `GetWorker` of a Worker that does not exist: the typed failure, as the client sees it. */
const missingWorker = (url: string) =>
  Effect.gen(function*() {
    const client = yield* RuntimeClient.RuntimeClient
    return yield* Effect.flip(client.GetWorker({ workerId: "w_missing" }))
  }).pipe(Effect.provide(HttpRuntimeClient.layer({ url, token: Redacted.make(token), timeout: "30 seconds" })))

const serviceNameOf = (resource: typeof Resource.Type) =>
  resource.attributes.find((attribute) => attribute.key === "service.name")?.value.stringValue

/** `serve` with a one-second grace and debug logs, so the request log is exported too. */
const serve = (env: Record<string, string>) =>
  Effect.flatMap(
    serverDirs,
    (dirs) =>
      Effect.map(
        spawnServer([...serveArgs({ ...dirs, runtimeId: "otlp", grace: 1 }), "--log-level", "debug"], {
          YOI_RUNTIME_TOKEN: token,
          ...env
        }),
        (server) => ({ server, dirs })
      )
  )

/**
 * SIGTERM, then the exit within `seconds`, so a shutdown that hangs on its exporters fails the test. The bound for
 * a collector that is down: the one-second grace, the HTTP server's two-second close and two exporters' two-second
 * flush bound, with room for a slow machine.
 */
const stop = (server: ServerProcess, seconds = 12) =>
  Effect.andThen(server.kill("SIGTERM"), server.exited).pipe(
    Effect.timeoutOrElse({
      duration: `${seconds} seconds`,
      orElse: () => Effect.die(new Error(`the server did not stop within ${seconds} seconds:\n${server.output()}`))
    })
  )

describe("OTLP export", () => {
  it.live(
    "traces and logs reach the collector, named and under the service name, flushed by a graceful stop",
    () =>
      Effect.gen(function*() {
        const receiver = yield* otlpReceiver
        const { server, dirs } = yield* serve({
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: serviceName
        })
        yield* oneTurn(server.url, token)
        // a failed RPC: its spans end with a typed failure, which leaves by its tag only
        const missing = yield* missingWorker(server.url)
        assert.strictEqual(missing._tag, "WorkerNotFound")
        const exit = yield* stop(server)
        assert.strictEqual(exit.code, 0, server.output())

        const received = receiver.received()
        for (const request of received) {
          assert.strictEqual(request.method, "POST")
          assert.match(request.contentType ?? "", /^application\/json/)
          for (const secret of [token, dirs.dataDir, dirs.allocationDir]) assert.notInclude(request.body, secret)
          // no stack frame, so no path of the install
          for (const frame of [installRoot, "node_modules", "file://"]) assert.notInclude(request.body, frame)
          assert.notMatch(request.body, /\.ts:\d+/)
        }
        assert.isTrue(
          received.some((r) => r.path === "/v1/traces" && r.body.includes("WorkerNotFound")),
          "the failed span is exported with its error's tag"
        )
        const traces = received.filter((r) => r.path === "/v1/traces").map((r) =>
          Schema.decodeSync(TracesRequest)(r.body)
        )
        const logs = received.filter((r) => r.path === "/v1/logs").map((r) => Schema.decodeSync(LogsRequest)(r.body))
        assert.isAbove(traces.length, 0, "traces were exported")
        assert.isAbove(logs.length, 0, "logs were exported")

        const spans = traces.flatMap((t) => t.resourceSpans).flatMap((r) => {
          assert.strictEqual(serviceNameOf(r.resource), serviceName)
          return r.scopeSpans.flatMap((s) => s.spans.map((span) => span.name))
        })
        for (const rpc of ["CreateWorker", "SendInput", "WatchWorker"]) assert.include(spans, `RuntimeRpcs.${rpc}`)
        for (const method of ["createWorker", "sendInput", "watchWorker"]) assert.include(spans, `Runtime.${method}`)
        const lines = logs.flatMap((l) => l.resourceLogs).flatMap((r) => {
          assert.strictEqual(serviceNameOf(r.resource), serviceName)
          return r.scopeLogs.flatMap((s) => s.logRecords.map((record) => record.body.stringValue ?? ""))
        })
        assert.isTrue(lines.some((line) => line.startsWith("http POST /rpc 200 ")), lines.join("\n"))
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )

  it.live("without OTEL_EXPORTER_OTLP_ENDPOINT nothing is sent", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      // the service name alone does not turn export on
      const { server } = yield* serve({ OTEL_SERVICE_NAME: serviceName, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })
      yield* oneTurn(server.url, token)
      const exit = yield* stop(server)
      assert.strictEqual(exit.code, 0, server.output())
      assert.deepStrictEqual(receiver.received(), [])
    }).pipe(Effect.provide(NodeServices.layer)), { timeout: 60_000 })

  it.live(
    "a collector that is down: the server works and still stops promptly, with exit code 0",
    () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const { server } = yield* serve({
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
        })
        yield* oneTurn(server.url, token)
        const exit = yield* stop(server)
        assert.strictEqual(exit.code, 0, server.output())
        assert.notMatch(server.stderr(), /error/i)
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )

  it.live(
    "a collector that never answers: the server still stops promptly, with exit code 0",
    () =>
      Effect.gen(function*() {
        const receiver = yield* otlpReceiverHanging
        const { server } = yield* serve({
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
        })
        yield* oneTurn(server.url, token)
        const exit = yield* stop(server)
        assert.strictEqual(exit.code, 0, server.output())
        assert.isAbove(receiver.received().length, 0, "the exporters did try")
        assert.notMatch(server.stderr(), /error/i)
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )
})
