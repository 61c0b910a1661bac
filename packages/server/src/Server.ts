/**
 * The runtime process's HTTP surface: `RuntimeRpcs` over HTTP at `POST /rpc` (ndjson, so streaming RPCs stream),
 * `GET /metrics` (Prometheus text, `PrometheusExport`), `/healthz` (the process is up) and `/readyz` (the Runtime
 * accepts commands). The wire format for clients that are not Effect's is `docs/rpc-protocol.md`.
 *
 * **Details** `POST /rpc` checks, in order and before any RPC runs: the bearer token (401 `Unauthorized`, before a
 * byte of the body is read), the content type (415), the size (413), the body itself (`RpcGuard`, 400). Each refusal
 * is one typed domain error as JSON, which `HttpRuntimeClient` turns back into that typed failure of every request the
 * body carried; `RuntimeAuth` still checks every RPC. `/metrics` takes the same token when one is set (activity is
 * the operator's business; Prometheus sends `authorization`), the probes none. Unknown paths are a typed 404, wrong
 * methods 405. Every RPC is a span `RuntimeRpcs.<Rpc>`; HTTP opens none (it would record the URL, headers and client
 * address); `RequestLog` logs each request at Debug.
 *
 * It serves whatever `Runtime` it is given on whatever `HttpServer` is provided: adapters, the Node server and the
 * exporters are picked by the process entry. Deliberately not here: a second hand-written REST API for runtimes.
 */
import { Errors, RuntimeRpcs } from "@yoi/domain"
import { Runtime, RuntimeHandlers } from "@yoi/runtime"
import { ByteSize, Effect, Layer, type Redacted, Result, Schema } from "effect"
import {
  HttpIncomingMessage,
  HttpMiddleware,
  HttpRouter,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import * as Auth from "./Auth.ts"
import * as PrometheusExport from "./PrometheusExport.ts"
import * as RequestLog from "./RequestLog.ts"
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

const MetricsRoute = (options: Options) =>
  HttpRouter.add(
    "GET",
    "/metrics",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (options.token !== undefined && !Auth.isAuthorized(request.headers["authorization"], options.token)) {
        return unauthorized
      }
      return HttpServerResponse.text(yield* PrometheusExport.format, { contentType: PrometheusExport.contentType })
    })
  )

const RpcRoute = (options: Options) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const maxBodyBytes = Math.min(options.maxBodyBytes ?? 4 * 1024 * 1024, 16 * 1024 * 1024)
    const tooLarge = reject(413, "body", `must be at most ${maxBodyBytes} bytes`)
    const token = options.token
    const rpcApp = yield* RpcServer.toHttpEffect(RuntimeRpcs.RuntimeRpcs, { spanPrefix: RuntimeRpcs.spanPrefix })
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
const allowed: ReadonlyMap<string, string> = new Map([
  ["/rpc", "POST"],
  ["/metrics", "GET"],
  ["/healthz", "GET"],
  ["/readyz", "GET"]
])

const NotFound = HttpRouter.middleware<{ handles: HttpServerError.HttpServerError }>()(
  (app) =>
    Effect.catchReason(app, "HttpServerError", "RouteNotFound", (reason) => {
      const path = reason.request.url.split("?")[0]!
      const allow = allowed.get(path)
      return Effect.succeed(
        allow === undefined
          ? reject(
            404,
            "path",
            "is not served here: the paths are POST /rpc, GET /metrics, GET /healthz and GET /readyz"
          )
          : reject(405, "method", `must be ${allow}`, { allow })
      )
    }),
  { global: true }
)

/** The RPC spans are the server's spans: an HTTP span would carry the URL, the headers and the client address. */
const NoHttpSpan = Layer.succeed(HttpMiddleware.TracerDisabledWhen)(() => true)

/**
 * The routes, served on the provided `HttpServer`.
 * @category layers
 */
export const layer = (options: Options) =>
  HttpRouter.serve(
    Layer.mergeAll(
      RpcRoute(options),
      MetricsRoute(options),
      HealthRoute,
      ReadyRoute,
      // the request log goes first, so it wraps NotFound and logs the 404 or 405 it answers
      NotFound.pipe(Layer.provideMerge(RequestLog.layer(new Set(allowed.keys()))))
    ),
    // effect's own request logger would log the query string; `RequestLog` logs the route only
    { disableLogger: true, disableListenLog: true }
  ).pipe(Layer.provide(NoHttpSpan))
