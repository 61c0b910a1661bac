/**
 * The runtime process's HTTP surface: `RuntimeRpcs` over HTTP at `POST /rpc` (ndjson, so streaming RPCs stream),
 * plus `/healthz` (the process is up) and `/readyz` (the Runtime accepts commands) without authentication.
 *
 * **Details** Every `/rpc` body is checked before the RPC server sees it: the content type must be ndjson, the body
 * at most `maxBodyBytes`, every line a protocol message, every request tag a `RuntimeRpcs` RPC and every payload of
 * that RPC's schema. Anything else is answered with a typed `InvalidRequest` (400, 413 or 415) instead of an RPC
 * defect, and the server stays up. Authentication stays in `RuntimeAuth` (a typed `Unauthorized` on every RPC).
 *
 * It serves whatever `Runtime` it is given on whatever `HttpServer` is provided: adapters and the Node server are
 * picked by the process entry. Deliberately not here: a second hand-written REST API for runtimes.
 */
import { Errors, RuntimeRpcs } from "@yoi/domain"
import { Runtime, RuntimeHandlers } from "@yoi/runtime"
import { ByteSize, Effect, Layer, type Redacted, Result, Schema } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import * as Auth from "./Auth.ts"

/** @category models */
export interface Options {
  /** Bearer token required on every RPC; without one the server must only listen on loopback. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Largest accepted `/rpc` body (default 4 MiB). */
  readonly maxBodyBytes?: number | undefined
}

const HealthRoute = HttpRouter.add("GET", "/healthz", HttpServerResponse.jsonUnsafe({ status: "ok" }))

const ReadyRoute = HttpRouter.add(
  "GET",
  "/readyz",
  Effect.gen(function*() {
    const runtime = yield* Runtime.Runtime
    const summary = yield* Effect.option(runtime.getRuntime)
    const ready = summary._tag === "Some" && summary.value.status === "ready"
    return HttpServerResponse.jsonUnsafe({ status: ready ? "ready" : "not_ready" }, { status: ready ? 200 : 503 })
  })
)

const encodeInvalid = Schema.encodeSync(Errors.InvalidRequest)

const reject = (status: number, field: string, message: string) =>
  HttpServerResponse.jsonUnsafe(encodeInvalid(new Errors.InvalidRequest({ field, message })), { status })

const rpcs = RuntimeRpcs.RuntimeRpcs.requests
const payloadDecoders = new Map(
  [...rpcs].map(([tag, rpc]) => [tag, Schema.decodeUnknownResult(rpc.payloadSchema as Schema.Codec<unknown, unknown>)])
)
const controlTags = new Set(["Ack", "Interrupt", "Eof", "Ping"])

const parseLine = (line: string): Result.Result<unknown, string> => {
  const parsed = Result.try(() => JSON.parse(line) as unknown)
  return Result.mapError(parsed, () => "is not valid JSON")
}

/** `undefined` when the body is acceptable, else the typed rejection. */
const checkBody = (text: string): HttpServerResponse.HttpServerResponse | undefined => {
  const lines = text.split("\n").filter((line) => line.trim().length > 0)
  if (lines.length === 0) return reject(400, "body", "must contain at least one message")
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseLine(lines[i]!)
    if (Result.isFailure(parsed)) return reject(400, `body[${i}]`, parsed.failure)
    const message = parsed.success
    if (typeof message !== "object" || message === null || !("_tag" in message)) {
      return reject(400, `body[${i}]`, "must be a protocol message")
    }
    const tag = message._tag
    if (tag === "Request") {
      const rpc = "tag" in message && typeof message.tag === "string" ? message.tag : undefined
      const decode = rpc === undefined ? undefined : payloadDecoders.get(rpc)
      if (decode === undefined) return reject(400, `body[${i}].tag`, "is not a Runtime RPC")
      const payload = "payload" in message ? message.payload : undefined
      const decoded = decode(payload)
      if (Result.isFailure(decoded)) {
        return reject(400, `body[${i}].payload`, decoded.failure.message.split("\n")[0]!.slice(0, 200))
      }
    } else if (typeof tag !== "string" || !controlTags.has(tag)) {
      return reject(400, `body[${i}]._tag`, "is not a protocol message")
    }
  }
  return undefined
}

const RpcRoute = (options: Options) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024
    const rpcApp = yield* RpcServer.toHttpEffect(RuntimeRpcs.RuntimeRpcs)
    yield* router.add(
      "POST",
      "/rpc",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const contentType = request.headers["content-type"]
        if (contentType !== undefined && !/^application\/(x-)?ndjson\b/i.test(contentType)) {
          return reject(415, "content-type", "must be application/ndjson")
        }
        const length = Number(request.headers["content-length"] ?? "0")
        if (length > maxBodyBytes) return reject(413, "body", `must be at most ${maxBodyBytes} bytes`)
        const text = yield* Effect.result(
          request.text.pipe(Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)))
        )
        if (Result.isFailure(text)) return reject(413, "body", `must be at most ${maxBodyBytes} bytes`)
        return checkBody(text.success) ?? (yield* rpcApp)
      })
    )
  })).pipe(
    Layer.provide([
      RuntimeHandlers.layer,
      options.token === undefined ? Auth.layerOpen : Auth.layerBearer(options.token),
      RpcSerialization.layerNdjson
    ])
  )

/**
 * The routes, served on the provided `HttpServer`.
 * @category layers
 */
export const layer = (options: Options) =>
  HttpRouter.serve(Layer.mergeAll(RpcRoute(options), HealthRoute, ReadyRoute), {
    disableLogger: true,
    disableListenLog: true
  })
