/**
 * The HTTP transport of `RuntimeClient`: the `RuntimeRpcs` HTTP protocol with ndjson serialization (so streaming RPCs
 * stream), the bearer token attached to every request, and a timeout on each exchange. Callers see the same client
 * type as for an embedded Runtime (`EmbeddedRuntimeClient` in `@yoi/runtime`).
 *
 * **Why in domain** The registry (remote sources) and the CLI (client commands) both need it, and neither should
 * depend on the other for it. It needs nothing but `effect` (`effect/http`, `effect/rpc`) and the protocol beside it
 * (`RuntimeRpcs`, `RuntimeClient`): it is the wire contract's own client, as `RuntimeRpcs` is its server's contract.
 *
 * **Details**
 * - The token is `Redacted` end to end and only ever leaves as an `Authorization` header. The timeout bounds the
 *   time to the response headers, not the length of a stream, so watches can stay open.
 * - A 4xx whose JSON body is a typed `InvalidRequest` or `Unauthorized` (a body the runtime will not read) becomes
 *   that typed failure of every request the body carried, as from an embedded Runtime; any other non-2xx answer is
 *   an `RpcClientError` whose reason keeps the status. `classify` / `describe` say why, without the token.
 */
import { Duration, Effect, Layer, Predicate, Redacted, Result, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientRequest, HttpClientResponse } from "effect/http"
import { RpcClient, type RpcClientError, RpcSerialization } from "effect/rpc"
import type * as Errors from "./Errors.ts"
import * as RuntimeClient from "./RuntimeClient.ts"
import * as RuntimeRpcs from "./RuntimeRpcs.ts"

/** @category models */
export interface Options {
  /** Base URL of the runtime process, e.g. `http://127.0.0.1:38800`. */
  readonly url: string
  readonly token?: Redacted.Redacted<string> | undefined
  /** Time allowed for an exchange to start answering (default 10 seconds). */
  readonly timeout?: Duration.Input | undefined
}

/** @category constructors */
export const rpcUrl = (baseUrl: string): string => `${baseUrl.replace(/\/+$/, "")}/rpc`

const timeoutDescription = "the runtime did not answer in time"

/** The typed rejections a runtime answers a whole body with (HTTP 4xx). */
const decodeRejection = Schema.decodeUnknownResult(Schema.fromJsonString(RuntimeRpcs.BodyRejection))
const encodeRejection = Schema.encodeSync(RuntimeRpcs.BodyRejection)

/** The RPC requests (id and tag) an ndjson request body carries. */
const carriedRequests = (
  request: HttpClientRequest.HttpClientRequest
): ReadonlyArray<{ readonly id: string | number; readonly tag: unknown }> => {
  const body = request.body
  const text = body._tag === "Uint8Array"
    ? body.text ?? new TextDecoder().decode(body.body)
    : ""
  const requests: Array<{ readonly id: string | number; readonly tag: unknown }> = []
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    const message = Result.try(() => JSON.parse(line) as unknown)
    if (
      Result.isSuccess(message) && Predicate.isObject(message.success) && message.success["_tag"] === "Request" &&
      (Predicate.isString(message.success["id"]) || Predicate.isNumber(message.success["id"]))
    ) {
      requests.push({ id: message.success["id"], tag: message.success["tag"] })
    }
  }
  return requests
}

/** Whether the RPC named `tag` can fail with `error` (`Unauthorized`, the middleware's error, is every RPC's). */
const canFailWith = (tag: unknown, error: Errors.InvalidRequest | Errors.Unauthorized): boolean => {
  if (error._tag === "Unauthorized") return true
  const rpc = Predicate.isString(tag) ? RuntimeRpcs.RuntimeRpcs.requests.get(tag) : undefined
  return rpc !== undefined && Schema.is(rpc.errorSchema as Schema.Top)(error)
}

/**
 * A 4xx with a typed rejection becomes an ndjson answer failing each carried request with it; any other status
 * of 400 or more fails the exchange with a `StatusCodeError` that keeps the status.
 */
const readRejections = (
  response: HttpClientResponse.HttpClientResponse,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
  if (response.status < 400) return Effect.succeed(response)
  const statusError = new HttpClientError.HttpClientError({
    reason: new HttpClientError.StatusCodeError({ request, response })
  })
  if (response.status >= 500) return Effect.fail(statusError)
  return response.text.pipe(
    Effect.flatMap((text) => {
      const rejection = decodeRejection(text)
      if (Result.isFailure(rejection)) return Effect.fail(statusError)
      const carried = carriedRequests(request)
      if (carried.length === 0 || !carried.every(({ tag }) => canFailWith(tag, rejection.success))) {
        return Effect.fail(statusError)
      }
      const error = encodeRejection(rejection.success)
      const frames = carried.map(({ id: requestId }) =>
        JSON.stringify({ _tag: "Exit", requestId, exit: { _tag: "Failure", cause: [{ _tag: "Fail", error }] } }) +
        "\n"
      )
      return Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(frames.join(""), { status: 200, headers: { "content-type": "application/ndjson" } })
      ))
    })
  )
}

/**
 * A remote Runtime client over any `HttpClient`.
 * @category layers
 */
export const layerNoHttpClient = (
  options: Options
): Layer.Layer<RuntimeClient.RuntimeClient, never, HttpClient.HttpClient> => {
  const duration = Duration.fromInputUnsafe(options.timeout ?? "10 seconds")
  const token = options.token
  const client = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (http) =>
      http.pipe(
        HttpClient.mapRequest((request) =>
          token === undefined ? request : HttpClientRequest.bearerToken(request, Redacted.value(token))
        ),
        HttpClient.transform((response, request) =>
          Effect.timeoutOrElse(response, {
            duration,
            orElse: () =>
              Effect.fail(
                new HttpClientError.HttpClientError({
                  reason: new HttpClientError.TransportError({ request, description: timeoutDescription })
                })
              )
          }).pipe(Effect.flatMap((answer) => readRejections(answer, request)))
        )
      ))
  )
  return Layer.effect(RuntimeClient.RuntimeClient, RpcClient.make(RuntimeRpcs.RuntimeRpcs)).pipe(
    Layer.provide(RpcClient.layerProtocolHttp({ url: rpcUrl(options.url) })),
    Layer.provide([RpcSerialization.layerNdjson, client])
  )
}

/**
 * A remote Runtime client over the platform's `fetch`.
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RuntimeClient.RuntimeClient> =>
  layerNoHttpClient(options).pipe(Layer.provide(FetchHttpClient.layer))

// ---------------------------------------------------------------------------------------------------------------
// Why an exchange failed

/**
 * Why an exchange with a runtime failed before the runtime answered the call:
 * - `refused`: nothing listens there (connection refused);
 * - `network`: another connection failure (reset, unknown host, unreachable network), with its system code;
 * - `timeout`: no answer within the client's timeout;
 * - `status`: an HTTP status the protocol does not expect (a proxy's 502, a 404 from something that is no runtime);
 * - `protocol`: the runtime answered, but not in the protocol (an empty or cut-off answer).
 * @category models
 */
export type Failure =
  | { readonly reason: "refused" }
  | { readonly reason: "network"; readonly code: string | undefined }
  | { readonly reason: "timeout" }
  | { readonly reason: "status"; readonly status: number }
  | { readonly reason: "protocol" }

/**
 * The first `code` (e.g. `ECONNREFUSED`) on an error's cause chain, else the innermost cause's short message (fetch
 * refuses some ports with a plain `bad port`).
 */
const systemCode = (error: unknown): string | undefined => {
  let current = error
  let message: string | undefined
  for (let depth = 0; depth < 8 && Predicate.isObject(current); depth++) {
    if (Predicate.isString(current["code"])) return current["code"]
    if (Predicate.isString(current["message"]) && current["message"].length <= 60) message = current["message"]
    current = current["cause"]
  }
  return message
}

/** @category constructors */
export const classify = (error: RpcClientError.RpcClientError): Failure => {
  const reason = error.reason
  if (reason._tag !== "HttpError") return { reason: "protocol" }
  const cause = reason.cause
  if (cause instanceof HttpClientError.StatusCodeError) return { reason: "status", status: cause.response.status }
  if (cause instanceof HttpClientError.TransportError) {
    if (cause.description === timeoutDescription) return { reason: "timeout" }
    const code = systemCode(cause.cause)
    return code === "ECONNREFUSED" ? { reason: "refused" } : { reason: "network", code }
  }
  return { reason: "protocol" }
}

/** The URL as a person may see it: no user info, query or fragment. */
const displayUrl = (url: string): string => {
  const parsed = Result.try(() => new URL(url))
  if (Result.isFailure(parsed)) return "the configured URL"
  return `${parsed.success.protocol}//${parsed.success.host}${parsed.success.pathname.replace(/\/+$/, "")}`
}

/**
 * One line for people: which runtime and why, e.g. `the runtime at http://127.0.0.1:38800 could not be reached:
 * connection refused`. Never the token.
 * @category constructors
 */
export const describe = (url: string, error: RpcClientError.RpcClientError): string => {
  const where = `the runtime at ${displayUrl(url)}`
  const failure = classify(error)
  switch (failure.reason) {
    case "refused":
      return `${where} could not be reached: connection refused`
    case "network":
      return `${where} could not be reached: ${failure.code ?? "network error"}`
    case "timeout":
      return `${where} did not answer in time`
    case "status":
      return `${where} answered HTTP ${failure.status}`
    case "protocol":
      return `${where} answered outside the runtime protocol`
  }
}
