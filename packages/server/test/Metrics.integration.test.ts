/**
 * `GET /metrics` on `yoi-runtime serve` as a real process: after one run driven through the HTTP RPC client it
 * answers the Prometheus text format with every `yoi_*` metric of `RuntimeMetrics` (a HELP and a TYPE line, then
 * valid samples), only those, and nothing that names the token or a directory; it takes the same bearer token as
 * `/rpc` (and, like it, is open when the server has no token, which only a loopback listener may lack). With
 * `--log-level debug` each request is one log line — method, route, status, duration — without its
 * query string or any header.
 */
import { NodeHttpServer, NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { RuntimePresets } from "@yoi/runtime"
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { createServer } from "node:http"
import * as Server from "../src/Server.ts"
import { oneTurn } from "./support/oneTurn.ts"
import { serveArgs, serverDirs, spawnServer } from "./support/serverProcess.ts"

const token = "metrics-token-3b8e61d2"

/** Every metric `RuntimeMetrics` defines, with its Prometheus type. */
const expected: ReadonlyArray<readonly [string, "counter" | "gauge" | "histogram"]> = [
  ["yoi_runs_started_total", "counter"],
  ["yoi_runs_finished_total", "counter"],
  ["yoi_runs_failed_total", "counter"],
  ["yoi_runs_cancelled_total", "counter"],
  ["yoi_deltas_delivered_total", "counter"],
  ["yoi_active_runs", "gauge"],
  ["yoi_queued_inputs", "gauge"],
  ["yoi_watchers", "gauge"],
  ["yoi_store_commit_seconds", "histogram"]
]

/** One sample line: a name, optional `{label="value",…}`, a value (a float, `+Inf`, `-Inf` or `NaN`). */
const sampleLine =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?|[+-]Inf|NaN)$/

interface Exposition {
  readonly help: ReadonlyMap<string, string>
  readonly type: ReadonlyMap<string, string>
  /** Sample name (with its labels) → value. */
  readonly samples: ReadonlyMap<string, number>
}

/** Parses the text exposition format, failing the test on any line that is not valid in it. */
const parse = (text: string): Exposition => {
  const help = new Map<string, string>()
  const type = new Map<string, string>()
  const samples = new Map<string, number>()
  assert.isTrue(text.endsWith("\n"), "the exposition ends with a newline")
  for (const line of text.slice(0, -1).split("\n")) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (comment !== null) {
      const [, kind, name, rest] = comment
      if (kind === "HELP") help.set(name!, rest!)
      else {
        assert.include(["counter", "gauge", "histogram", "summary", "untyped"], rest, line)
        type.set(name!, rest!)
      }
      continue
    }
    const sample = sampleLine.exec(line)
    assert.isNotNull(sample, `not a valid exposition line: ${JSON.stringify(line)}`)
    samples.set(`${sample![1]}${sample![2] ?? ""}`, Number(sample![3]!.replace("Inf", "Infinity")))
  }
  return { help, type, samples }
}

/**
 * A sample's value. The run counters are 0 until the Runtime updates them (the runtime-split branch does); then
 * e.g. `assert.isAtLeast(value(exposition, "yoi_runs_started_total"), 1)`.
 */
const value = (exposition: Exposition, sample: string): number => {
  const found = exposition.samples.get(sample)
  assert.isDefined(found, `${sample} is exported`)
  assert.isFalse(Number.isNaN(found), sample)
  return found!
}

describe("GET /metrics", () => {
  it.live(
    "every yoi_* metric in the Prometheus text format, only those, behind the bearer token; one debug log line each",
    () =>
      Effect.gen(function*() {
        const dirs = yield* serverDirs
        const server = yield* spawnServer([...serveArgs({ ...dirs, runtimeId: "metrics" }), "--log-level", "debug"], {
          YOI_RUNTIME_TOKEN: token
        })
        yield* oneTurn(server.url, token)
        const http = yield* HttpClient.HttpClient

        const anonymous = yield* http.get(`${server.url}/metrics`)
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(anonymous.headers["www-authenticate"], "Bearer")

        const response = yield* http.execute(
          HttpClientRequest.get(`${server.url}/metrics?probe=query-secret`).pipe(HttpClientRequest.bearerToken(token))
        )
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        const text = yield* response.text
        const exposition = parse(text)
        // One finished run, driven by oneTurn: the Runtime counted it and its commits.
        assert.isAtLeast(value(exposition, "yoi_runs_started_total"), 1)
        assert.isAtLeast(value(exposition, "yoi_runs_finished_total"), 1)
        assert.strictEqual(value(exposition, "yoi_runs_failed_total"), 0)
        assert.strictEqual(value(exposition, "yoi_runs_cancelled_total"), 0)
        assert.isAtLeast(value(exposition, "yoi_deltas_delivered_total"), 1)
        assert.strictEqual(value(exposition, "yoi_queued_inputs"), 0)
        assert.isAtLeast(value(exposition, "yoi_store_commit_seconds_count"), 1)

        for (const [name, kind] of expected) {
          assert.strictEqual(exposition.type.get(name), kind, name)
          assert.isDefined(exposition.help.get(name), name)
          if (kind === "histogram") {
            assert.isAtLeast(value(exposition, `${name}_bucket{le="+Inf"}`), 0)
            assert.isAtLeast(value(exposition, `${name}_sum`), 0)
            assert.strictEqual(value(exposition, `${name}_count`), value(exposition, `${name}_bucket{le="+Inf"}`))
          } else {
            assert.isAtLeast(value(exposition, name), 0, name)
          }
        }
        // only the Runtime's own series, with no label but a histogram's bucket bound: nothing names a path or pid
        for (const sample of exposition.samples.keys()) {
          assert.match(sample, /^yoi_[a-z_]+(\{le="[^"]+"\})?$/)
        }
        for (const secret of [token, dirs.dataDir, dirs.allocationDir]) assert.notInclude(text, secret)

        yield* server.waitFor(/http GET \/metrics 200 [0-9.]+ms/)
        yield* server.waitFor(/http GET \/metrics 401 [0-9.]+ms/)
        yield* server.waitFor(/http POST \/rpc 200 [0-9.]+ms/)
        assert.notInclude(server.output(), "query-secret")
        assert.notInclude(server.output(), token)
        assert.notInclude(server.output(), "authorization")
      }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, FetchHttpClient.layer))),
    { timeout: 60_000 }
  )

  it.live("without a token (a loopback-only server) it is open, like /rpc", () =>
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const http = yield* HttpClient.HttpClient
      const response = yield* http.get(`${HttpServer.formatAddress(server.address)}/metrics`)
      assert.strictEqual(response.status, 200)
      const exposition = parse(yield* response.text)
      for (const [name, kind] of expected) assert.strictEqual(exposition.type.get(name), kind, name)
    }).pipe(
      Effect.provide(
        Server.layer({}).pipe(
          Layer.provide(RuntimePresets.layerMemory({ runtimeId: "metrics-open" })),
          Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
          Layer.provideMerge(FetchHttpClient.layer)
        )
      )
    ))
})
