/**
 * A `RuntimeClient` for a runtime process over HTTP: the `RuntimeRpcs` HTTP protocol with ndjson serialization (so
 * streaming RPCs stream), the bearer token attached to every request, and a timeout on each exchange. The registry
 * and the CLI use it; callers see the same client type as for an embedded Runtime.
 *
 * **Details** The token is `Redacted` end to end and only ever leaves as an `Authorization` header. The timeout
 * bounds the time to the response headers, not the length of a stream, so watches can stay open.
 */
import { RuntimeClient, RuntimeRpcs } from "@yoi/domain"
import { Duration, Effect, Layer, Redacted } from "effect"
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientRequest } from "effect/http"
import { RpcClient, RpcSerialization } from "effect/rpc"

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
                  reason: new HttpClientError.TransportError({
                    request,
                    description: "the runtime did not answer in time"
                  })
                })
              )
          })
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
