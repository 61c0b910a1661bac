/**
 * The browser API's error boundary: whatever the `HttpApi` or the router would answer on their own is answered in
 * the one error body instead, so no response is a 500 or has another shape.
 * - `errorBoundary` (route middleware): a body over `maxBodySize` (1 MiB) is `413 payload_too_large`, at once when
 *   its `Content-Length` says so, else when reading crosses the limit (the rest is not read; the platform discards
 *   at most 256 KiB of it to keep the connection, else closes it); decoding failures are `400 invalid_request`
 *   (`invalid_id` for path ids, malformed percent-encoding included); a text 415 is `415 unsupported_media_type`;
 *   anything else is `503 runtime_error`, logged.
 * - `unrouted` (global middleware): a path no route has is `404 not_found`; a route asked with a method it does not
 *   answer is `405 method_not_allowed` with `Allow`, the methods taken from the `HttpApi` definition itself.
 *
 * Deliberately not here: the codes themselves (`BrowserErrors`).
 */
import { Ids } from "@yoi/domain"
import { ByteSize, Cause, Effect, Option, Result, Schema, type Types } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApi, HttpApiError } from "effect/http-api"
import * as BrowserErrors from "../BrowserErrors.ts"
import * as BrowserHttpApi from "../BrowserHttpApi.ts"

const requestSchemaError = (defect: unknown): boolean =>
  HttpApiError.HttpApiSchemaError.is(defect) && defect.kind !== "Body" && defect.kind !== "ResponseHeaders"

/** The platform's failure to read a body past `MaxBodySize` (a defect by then: `HttpApi` reads bodies `orDie`). */
const bodyTooLarge = (defect: unknown): boolean =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError" &&
  defect.reason.reason === "BodyTooLarge"

/**
 * Route middleware of every route here: a body over `maxBodySize` → `413` (by its `Content-Length` before
 * anything is read, else once reading crosses the limit), request decoding failures → `400 invalid_request`
 * (`invalid_id` for path parameters), an unsupported content type → `415`, and anything else that went wrong →
 * `503 runtime_error` (logged), so no response is a 500 or has another body shape.
 */
export const errorBoundary = (options: { readonly maxBodySize?: ByteSize.Input | undefined }) => {
  const maxBodySize = options.maxBodySize === undefined
    ? ByteSize.mebibytes(1)
    : ByteSize.fromInputUnsafe(options.maxBodySize)
  const limit = ByteSize.toNumberUnsafe(maxBodySize)
  return HttpRouter.middleware((httpEffect): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    Types.unhandled,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (Number(request.headers["content-length"] ?? 0) > limit) {
        return Effect.succeed(BrowserErrors.errorResponse("payload_too_large"))
      }
      return httpEffect.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
        Effect.map((response) =>
          response.status === 415 ? BrowserErrors.errorResponse("unsupported_media_type") : response
        ),
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          const defect = Cause.squash(cause)
          if (bodyTooLarge(defect)) return Effect.succeed(BrowserErrors.errorResponse("payload_too_large"))
          if (requestSchemaError(defect)) {
            return Effect.succeed(
              BrowserErrors.errorResponse(
                HttpApiError.HttpApiSchemaError.is(defect) && defect.kind === "Params"
                  ? "invalid_id"
                  : "invalid_request"
              )
            )
          }
          return Effect.as(
            Effect.logError("browser API request failed", cause),
            BrowserErrors.errorResponse("runtime_error")
          )
        })
      )
    })
  )
}

const decodeRuntimeId = Schema.decodeUnknownResult(Ids.RuntimeId)
const decodeWorkerId = Schema.decodeUnknownResult(Ids.WorkerId)

/** Every route here with the methods it answers, from the `HttpApi` itself plus the two routes outside it. */
const routeTable: ReadonlyArray<{ readonly segments: ReadonlyArray<string>; readonly methods: ReadonlyArray<string> }> =
  (() => {
    const methods = new Map<string, Set<string>>([[BrowserHttpApi.eventsPath, new Set(["GET"])], [
      BrowserHttpApi.openApiPath,
      new Set(["GET"])
    ]])
    HttpApi.reflect(BrowserHttpApi.BrowserHttpApi, {
      onGroup: () => {},
      onEndpoint: ({ endpoint }) => {
        const set = methods.get(endpoint.path) ?? new Set()
        methods.set(endpoint.path, set.add(endpoint.method))
      }
    })
    return [...methods].map(([path, set]) => ({ segments: path.split("/").filter(Boolean), methods: [...set] }))
  })()

const idDecoders: Record<string, (segment: string) => boolean> = {
  runtimeId: (id) => Result.isSuccess(decodeRuntimeId(id)),
  hostId: (id) => Result.isSuccess(decodeRuntimeId(id)),
  workerId: (id) => Result.isSuccess(decodeWorkerId(id))
}

/** A raw path segment in an id position: decodable percent-encoding and a valid id once decoded. */
const isId = (name: string, segment: string): boolean => {
  const decoded = Result.try(() => decodeURIComponent(segment))
  return Result.isSuccess(decoded) && (idDecoders[name]?.(decoded.success) ?? false)
}

/**
 * The answer to a request under `/api` that no route took. The router gives up on a path it cannot route — no
 * such route, another method, an id it cannot decode (`%zz`) or longer than its `maxParamLength` — so the path is
 * matched here, segment by segment, against the route table: a route whose id segments are not ids is
 * `400 invalid_id`, a route that does not answer this method is `405` with `Allow`, anything else `404`.
 */
const unroutedApiResponse = (method: string, url: string): HttpServerResponse.HttpServerResponse => {
  const segments = (url.split("?")[0] ?? "").split("/").filter(Boolean)
  const route = routeTable.find((candidate) =>
    candidate.segments.length === segments.length &&
    candidate.segments.every((pattern, i) => pattern.startsWith(":") || pattern === segments[i])
  )
  if (route === undefined) return BrowserErrors.errorResponse("not_found")
  const idsValid = route.segments.every((pattern, i) =>
    !pattern.startsWith(":") || isId(pattern.slice(1), segments[i]!)
  )
  if (!idsValid) return BrowserErrors.errorResponse("invalid_id")
  if (route.methods.includes(method === "HEAD" ? "GET" : method)) return BrowserErrors.errorResponse("not_found")
  return HttpServerResponse.setHeader(
    BrowserErrors.errorResponse("method_not_allowed"),
    "allow",
    route.methods.join(", ")
  )
}

const isApiPath = (url: string): boolean => /^\/api(?:[/?]|$)/.test(url)

/**
 * Global middleware: a request the router could not route gets the error body — under `/api` only, or everywhere.
 * Global because the router fails such a request before any route (or route middleware) is involved; requests it
 * did route, and unrouted ones outside its reach, pass through untouched.
 */
export const unrouted = (everywhere: boolean) =>
  HttpRouter.middleware(
    (httpEffect): Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled> =>
      Effect.catchCause(httpEffect, (cause) => {
        const error = Cause.findErrorOption(cause)
        if (
          Option.isSome(error) && HttpServerError.isHttpServerError(error.value) &&
          error.value.reason._tag === "RouteNotFound"
        ) {
          const request = error.value.reason.request
          if (isApiPath(request.url)) return Effect.succeed(unroutedApiResponse(request.method, request.url))
          if (everywhere) return Effect.succeed(BrowserErrors.errorResponse("not_found"))
        }
        return Effect.failCause(cause)
      }),
    { global: true }
  )
