/**
 * The runtime process's HTTP surface: `RuntimeRpcs` over HTTP at `POST /rpc` (ndjson, so streaming RPCs stream),
 * plus `/healthz` (the process is up) and `/readyz` (the Runtime accepts commands) without authentication. The wire
 * format for clients that are not Effect's is `docs/rpc-protocol.md`.
 *
 * **Details** `POST /rpc` checks, in this order and before any RPC runs: the bearer token (401 `Unauthorized`,
 * before a byte of the body is read), the content type (415), the size (413), then the body itself (`RpcGuard`,
 * 400). Each refusal is one typed domain error as JSON (`{"_tag":"InvalidRequest","field",…}`), which the registry's
 * `HttpRuntimeClient` turns back into that typed failure of every request the body carried. `RuntimeAuth` still checks
 * every RPC too. An unknown path is a typed 404 and a wrong method a typed 405, never an empty answer.
 *
 * It serves whatever `Runtime` it is given on whatever `HttpServer` is provided: adapters and the Node server are
 * picked by the process entry. Deliberately not here: a second hand-written REST API for runtimes, and request
 * logging (a URL or header could carry what no log may hold).
 */
import { Errors, RuntimeRpcs } from "@yoi/domain"
import { Runtime, RuntimeHandlers } from "@yoi/runtime"
import { ByteSize, Effect, Layer, type Redacted, Result, Schema } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import * as Auth from "./Auth.ts"
import * as RpcGuard from "./RpcGuard.ts"

/** @category models */
export interface Options {
  /** Bearer token required on every RPC; without one the server must only listen on loopback. */
  readonly token?: Redacted.Redacted<string> | undefined
  /**
   * Largest accepted `/rpc` body (default 4 MiB). Capped at 16 MiB, the ndjson serializer's own limit for one
   * line, so no admitted body can make the RPC server fail on its framing.
   */
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

const encodeRejection = Schema.encodeSync(RuntimeRpcs.BodyRejection)

const respond = (
  status: number,
  error: Errors.InvalidRequest | Errors.Unauthorized,
  headers?: Record<string, string>
) => HttpServerResponse.jsonUnsafe(encodeRejection(error), { status, headers })

const reject = (status: number, field: string, message: string, headers?: Record<string, string>) =>
  respond(status, new Errors.InvalidRequest({ field, message }), headers)

const unauthorized = respond(401, Auth.unauthorized, { "www-authenticate": "Bearer" })

/** `application/x-ndjson` (what the Effect client sends) or `application/ndjson`, parameters ignored. */
const isNdjson = (contentType: string | undefined) => {
  if (contentType === undefined) return true
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase()
  return mediaType === "application/x-ndjson" || mediaType === "application/ndjson"
}

const RpcRoute = (options: Options) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const maxBodyBytes = Math.min(options.maxBodyBytes ?? 4 * 1024 * 1024, 16 * 1024 * 1024)
    const tooLarge = reject(413, "body", `must be at most ${maxBodyBytes} bytes`)
    const token = options.token
    const rpcApp = yield* RpcServer.toHttpEffect(RuntimeRpcs.RuntimeRpcs)
    yield* router.add(
      "POST",
      "/rpc",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (token !== undefined && !Auth.isAuthorized(request.headers["authorization"], token)) return unauthorized
        if (!isNdjson(request.headers["content-type"])) {
          return reject(415, "content-type", "must be application/x-ndjson")
        }
        if (Number(request.headers["content-length"] ?? "0") > maxBodyBytes) return tooLarge
        const text = yield* Effect.result(
          request.text.pipe(Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)))
        )
        if (Result.isFailure(text)) return tooLarge
        const checked = RpcGuard.check(text.success)
        if (Result.isFailure(checked)) return respond(400, checked.failure)
        // the RPC server reads the same, already buffered, body
        return yield* rpcApp
      })
    )
  })).pipe(
    Layer.provide([
      RuntimeHandlers.layer,
      options.token === undefined ? Auth.layerOpen : Auth.layerBearer(options.token),
      RpcSerialization.layerNdjson
    ])
  )

/** The methods each path answers; every other request is a typed 404 or 405. */
const allowed: ReadonlyMap<string, string> = new Map([["/rpc", "POST"], ["/healthz", "GET"], ["/readyz", "GET"]])

const NotFound = HttpRouter.middleware<{ handles: HttpServerError.HttpServerError }>()(
  (app) =>
    Effect.catchReason(app, "HttpServerError", "RouteNotFound", (reason) => {
      const path = reason.request.url.split("?")[0]!
      const allow = allowed.get(path)
      return Effect.succeed(
        allow === undefined
          ? reject(404, "path", "is not served here: the paths are POST /rpc, GET /healthz and GET /readyz")
          : reject(405, "method", `must be ${allow}`, { allow })
      )
    }),
  { global: true }
)

/**
 * The routes, served on the provided `HttpServer`.
 * @category layers
 */
export const layer = (options: Options) =>
  HttpRouter.serve(Layer.mergeAll(RpcRoute(options), HealthRoute, ReadyRoute, NotFound), {
    disableLogger: true,
    disableListenLog: true
  })
