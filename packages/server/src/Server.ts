/**
 * The runtime process's HTTP surface: `RuntimeRpcs` over HTTP at `/rpc` (ndjson, so streaming RPCs stream), plus
 * `/healthz` (the process is up) and `/readyz` (the Runtime accepts commands) without authentication.
 *
 * It serves whatever `Runtime` it is given and whatever `HttpServer` is provided: adapters and the Node server are
 * picked in `bin.ts` / the CLI. Deliberately not here: a second hand-written REST API for runtimes.
 */
import { RuntimeRpcs } from "@yoi/domain"
import { Runtime, RuntimeHandlers } from "@yoi/runtime"
import { Effect, Layer, type Redacted } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import * as Auth from "./Auth.ts"

/** @category models */
export interface Options {
  /** Bearer token required on every RPC; without one the server must only listen on loopback. */
  readonly token?: Redacted.Redacted<string> | undefined
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

const RpcRoute = (options: Options) =>
  RpcServer.layerHttp({ group: RuntimeRpcs.RuntimeRpcs, path: "/rpc", protocol: "http" }).pipe(
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
