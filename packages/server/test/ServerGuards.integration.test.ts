/**
 * The runtime server's guards over real HTTP: authentication on every RPC (checked before a body is read, the
 * `Bearer` scheme in any case), typed JSON answers for unknown paths and wrong methods, and typed rejections of
 * malformed, mistyped and oversized bodies — after which the server still answers. The body guard's hostile cases
 * and its property test are in `RpcFuzz.integration.test.ts`.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { afterAll, assert, describe, layer } from "@effect/vitest"
import { Errors, HttpRuntimeClient, RuntimeClient } from "@yoi/domain"
import { RuntimePresets } from "@yoi/runtime"
import { Effect, Layer, Redacted, Schema, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { createServer } from "node:http"
import * as Server from "../src/Server.ts"

const token = Redacted.make("guard-token-5f1e0c9a")
const maxBodyBytes = 64 * 1024

const ServerLayer = Server.layer({ token, maxBodyBytes }).pipe(
  Layer.provide(RuntimePresets.layerMemory({ runtimeId: "guards" })),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(FetchHttpClient.layer)
)

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => HttpServer.formatAddress(server.address))

const withRemote = <A, E>(
  clientToken: Redacted.Redacted<string> | undefined,
  body: (client: RuntimeClient.RuntimeClientApi) => Effect.Effect<A, E>
) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.flatMap(RuntimeClient.RuntimeClient, body).pipe(
      Effect.provide(HttpRuntimeClient.layer({ url, token: clientToken, timeout: "1000 days" }))
    ))

/** Every response body seen by this file, scanned for the token once all tests ran. */
const seen: Array<string> = []
afterAll(() => {
  assert.isAbove(seen.length, 30)
  for (const text of seen) assert.notInclude(text, Redacted.value(token))
})

const post = (
  body: string,
  contentType: string | undefined = "application/ndjson",
  /** `null`: no `Authorization` header at all. */
  authorization: string | null = `Bearer ${Redacted.value(token)}`
) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.post(`${url}/rpc`).pipe(HttpClientRequest.bodyText(body, contentType))
    if (authorization !== null) request = HttpClientRequest.setHeader(request, "authorization", authorization)
    const response = yield* client.execute(request)
    const text = yield* response.text
    seen.push(text)
    return { status: response.status, text, headers: response.headers }
  })

const send = (method: "GET" | "POST" | "PUT" | "DELETE", path: string) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.make(method)(`${url}${path}`))
    const text = yield* response.text
    seen.push(text)
    return { status: response.status, text, headers: response.headers }
  })

const decodeInvalid = Schema.decodeUnknownSync(Schema.fromJsonString(Errors.InvalidRequest))
const decodeUnauthorized = Schema.decodeUnknownSync(Schema.fromJsonString(Errors.Unauthorized))

const requestLine = (tag: string, payload: unknown) =>
  `${JSON.stringify({ _tag: "Request", id: 1, tag, payload, headers: [] })}\n`

layer(ServerLayer)("runtime server guards", (it) => {
  describe("authentication", () => {
    for (const [label, clientToken] of [["missing", undefined], ["wrong", Redacted.make("not-the-token")]] as const) {
      it.effect(`a ${label} token is Unauthorized on every RPC and changes nothing`, () =>
        Effect.gen(function*() {
          const errors = yield* withRemote(clientToken, (client) =>
            Effect.all([
              Effect.flip(client.GetRuntime()),
              Effect.flip(Stream.runDrain(client.WatchRuntime({}))),
              Effect.flip(client.ListWorkers({})),
              Effect.flip(client.GetWorker({ workerId: "w_x" })),
              Effect.flip(client.CreateWorker({ displayName: "intruder" })),
              Effect.flip(client.StopWorker({ workerId: "w_x" })),
              Effect.flip(client.SendInput({ workerId: "w_x", input: { kind: "user", text: "hi" } })),
              Effect.flip(client.CancelRun({ workerId: "w_x" })),
              Effect.flip(client.CancelQueued({ workerId: "w_x", inputId: "i_x" })),
              Effect.flip(client.GetTranscript({ workerId: "w_x" })),
              Effect.flip(Stream.runDrain(client.WatchWorker({ workerId: "w_x" }))),
              Effect.flip(client.GetUsage({}))
            ]))
          assert.strictEqual(errors.length, 12)
          for (const error of errors) {
            assert.strictEqual(error._tag, "Unauthorized")
            seen.push(JSON.stringify(error))
          }
          const workers = yield* withRemote(token, (client) => client.ListWorkers({}))
          assert.isFalse(workers.workers.some((w) => w.displayName === "intruder"))
        }))
    }

    it.effect("the right token works", () =>
      Effect.gen(function*() {
        const created = yield* withRemote(token, (client) => client.CreateWorker({ displayName: "ok" }))
        assert.strictEqual(created.worker.status, "idle")
      }))

    it.effect("the token is checked before the body is read: a bad body with a bad token is Unauthorized", () =>
      Effect.gen(function*() {
        for (const authorization of [null, "Bearer not-the-token"]) {
          const response = yield* post(requestLine("GetWorker", { workerId: 5 }), "application/ndjson", authorization)
          assert.strictEqual(response.status, 401)
          assert.strictEqual(response.headers["www-authenticate"], "Bearer")
          assert.strictEqual(decodeUnauthorized(response.text)._tag, "Unauthorized")
        }
        const oversized = yield* post(" ".repeat(maxBodyBytes + 10), "application/ndjson", null)
        assert.strictEqual(oversized.status, 401)
      }))

    it.effect("the Bearer scheme matches in any case (RFC 9110); anything else is Unauthorized", () =>
      Effect.gen(function*() {
        const secret = Redacted.value(token)
        for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
          const response = yield* post(requestLine("GetUsage", {}), "application/ndjson", `${scheme} ${secret}`)
          assert.strictEqual(response.status, 200, scheme)
          assert.include(response.text, "\"_tag\":\"Success\"")
        }
        for (const header of [`Basic ${secret}`, `Bearer${secret}`, `Bearer ${secret}x`, `Bearer ${secret.slice(1)}`]) {
          const response = yield* post(requestLine("GetUsage", {}), "application/ndjson", header)
          assert.strictEqual(response.status, 401)
          assert.notInclude(response.text, secret)
        }
      }))

    it.effect("health and readiness need no token", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const client = yield* HttpClient.HttpClient
        const health = yield* client.get(`${url}/healthz`)
        const ready = yield* client.get(`${url}/readyz`)
        assert.strictEqual(health.status, 200)
        assert.strictEqual(ready.status, 200)
        assert.deepStrictEqual(yield* ready.json, { status: "ready" })
      }))
  })

  describe("unknown paths and wrong methods get typed JSON answers", () => {
    const cases: ReadonlyArray<readonly [string, "GET" | "POST" | "PUT" | "DELETE", string, number, string]> = [
      ["an unknown path", "GET", "/admin", 404, "path"],
      ["an unknown path below /rpc", "POST", "/rpc/extra", 404, "path"],
      ["GET /rpc", "GET", "/rpc", 405, "method"],
      ["PUT /rpc", "PUT", "/rpc", 405, "method"],
      ["POST /healthz", "POST", "/healthz", 405, "method"],
      ["POST /metrics", "POST", "/metrics", 405, "method"],
      ["DELETE /readyz", "DELETE", "/readyz", 405, "method"]
    ]
    for (const [label, method, path, status, field] of cases) {
      it.effect(label, () =>
        Effect.gen(function*() {
          const response = yield* send(method, path)
          assert.strictEqual(response.status, status)
          assert.match(response.headers["content-type"] ?? "", /^application\/json/)
          assert.strictEqual(decodeInvalid(response.text).field, field)
          if (status === 405) assert.strictEqual(response.headers["allow"], path === "/rpc" ? "POST" : "GET")
        }))
    }
  })

  describe("malformed requests get typed errors and the server stays up", () => {
    const cases: ReadonlyArray<readonly [string, string, string | undefined, number, string]> = [
      ["not JSON", "not json at all\n", "application/ndjson", 400, "body[0]"],
      ["an empty body", "", "application/ndjson", 400, "body"],
      ["a JSON value that is no message", "[1,2,3]\n", "application/ndjson", 400, "body[0]"],
      ["an unknown message tag", "{\"_tag\":\"Explode\"}\n", "application/ndjson", 400, "body[0]._tag"],
      ["an unknown RPC tag", requestLine("DropAllTables", {}), "application/ndjson", 400, "body[0].tag"],
      [
        "a payload of the wrong shape",
        requestLine("GetWorker", { workerId: 5 }),
        "application/ndjson",
        400,
        "body[0].payload.workerId"
      ],
      [
        "a complete request without a final newline",
        requestLine("GetUsage", {}).trimEnd(),
        "application/ndjson",
        400,
        "body"
      ],
      ["a second bad line", requestLine("GetUsage", {}) + "{oops\n", "application/ndjson", 400, "body[1]"],
      [
        "the no-op span's ids marked sampled (they would be exported as a malformed parent)",
        `${
          JSON.stringify({
            _tag: "Request",
            id: 0,
            tag: "GetUsage",
            payload: {},
            traceId: "noop",
            spanId: "noop",
            sampled: true,
            headers: []
          })
        }\n`,
        "application/ndjson",
        400,
        "body[0].traceId"
      ],
      ["a wrong content type", requestLine("GetUsage", {}), "text/plain", 415, "content-type"],
      ["JSON instead of ndjson", requestLine("GetUsage", {}), "application/json", 415, "content-type"],
      [
        "an oversized body",
        requestLine("GetUsage", {}) + " ".repeat(maxBodyBytes + 10),
        "application/ndjson",
        413,
        "body"
      ]
    ]
    for (const [label, body, contentType, status, field] of cases) {
      it.effect(label, () =>
        Effect.gen(function*() {
          const response = yield* post(body, contentType)
          assert.strictEqual(response.status, status)
          const error = decodeInvalid(response.text)
          assert.strictEqual(error._tag, "InvalidRequest")
          assert.strictEqual(error.field, field)
          const after = yield* withRemote(token, (client) => client.GetRuntime())
          assert.strictEqual(after.status, "ready")
        }))
    }

    it.effect("a raw request as the Effect client writes it works, with either ndjson media type", () =>
      Effect.gen(function*() {
        const line = `${
          JSON.stringify({
            _tag: "Request",
            id: 0,
            tag: "GetRuntime",
            payload: null,
            traceId: "320ef6abdd8a49cb8ecacac2ce67013a",
            spanId: "d9c74532e5e119e4",
            sampled: true,
            headers: []
          })
        }\n`
        for (const contentType of ["application/x-ndjson", "application/ndjson; charset=utf-8"]) {
          const response = yield* post(line, contentType)
          assert.strictEqual(response.status, 200)
          assert.include(response.text, "{\"_tag\":\"Exit\",\"requestId\":0,\"exit\":{\"_tag\":\"Success\"")
        }
      }))

    it.effect("a client with tracing off is served: its requests carry the no-op span's ids", () =>
      Effect.gen(function*() {
        const after = yield* withRemote(token, (client) => client.GetRuntime()).pipe(Effect.withTracerEnabled(false))
        assert.strictEqual(after.status, "ready")
      }))

    it.effect("a well-formed raw request still works", () =>
      Effect.gen(function*() {
        const response = yield* post(requestLine("GetUsage", {}))
        assert.strictEqual(response.status, 200)
        assert.include(response.text, "\"_tag\":\"Success\"")
      }))
  })
})
