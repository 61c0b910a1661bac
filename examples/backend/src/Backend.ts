/**
 * The example backend as one layer: what a product backend composes to give its browsers Workers. One
 * `RuntimeRegistry` over an embedded Runtime (in this process: memory adapters, the scripted engine, a seeded
 * `companion` Worker) plus the remote runtime processes it is given, served as the browser API
 * (`BrowserApi.layerServe`) with a `/healthz` of its own, on the host and port it is given.
 *
 * **Gotchas** The viewer comes from the `x-yoi-viewer` / `x-yoi-workspace` request headers
 * (`BrowserViewer.ViewerResolver.layerHeaders`), which anyone can send: a real backend provides its own
 * `ViewerResolver` over its session authentication instead.
 *
 * Deliberately not here: reading flags or the environment (`BackendCli.ts`), and printing a remote runtime's URL
 * or token — the banner names remote runtimes by id only.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Audit, BrowserApi, BrowserHttpApi, BrowserViewer, Policy, Registry, type RegistrySource } from "@yoi/registry"
import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Console, Effect, Layer } from "effect"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"

/** @category models */
export interface Options {
  readonly host: string
  /** `0` picks a free port; the banner says which. */
  readonly port: number
  readonly remotes: ReadonlyArray<RegistrySource.RemoteSource>
}

/** The id of the embedded runtime; no remote runtime may take it. @category constructors */
export const embeddedRuntimeId = "embedded"

const embedded = {
  kind: "embedded",
  runtimeId: embeddedRuntimeId,
  displayName: "Embedded companion runtime",
  client: EmbeddedRuntimeClient.layer.pipe(
    Layer.provide(RuntimePresets.layerMemory({
      runtimeId: embeddedRuntimeId,
      displayName: "Embedded companion runtime",
      implementation: "embedded"
    }))
  )
} satisfies RegistrySource.EmbeddedSource

/** One Companion Worker in the embedded runtime, so the API has something to show (idempotent). */
const SeedCompanion = Layer.effectDiscard(Effect.gen(function*() {
  const registry = yield* Registry.RuntimeRegistry
  yield* registry.createWorker({ id: "example-backend", workspace: Policy.backendInternal }, embeddedRuntimeId, {
    displayName: "Companion",
    profile: { kind: "builtin", name: "companion" },
    idempotencyKey: "example-backend-companion"
  }).pipe(Effect.orDie)
}))

const Banner = (options: Options) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const address = HttpServer.formatAddress(server.address)
    yield* Console.log(`example backend: browser API on ${address}/api`)
    yield* Console.log(`health: ${address}/healthz; OpenAPI document: ${address}${BrowserHttpApi.openApiPath}`)
    const remotes = options.remotes.map((remote) => remote.runtimeId)
    yield* Console.log(
      `runtimes: ${embeddedRuntimeId} (in this process)${remotes.length === 0 ? "" : `, remote: ${remotes.join(", ")}`}`
    )
    yield* Console.log(
      `try: curl -H 'x-yoi-viewer: me' -H 'x-yoi-workspace: default' ${address}/api/workers ` +
        "(the viewer headers are for development only)"
    )
  }))

const healthy = HttpServerResponse.jsonUnsafe({ status: "ok" })

/**
 * The provided `HttpServer`, answering `GET /healthz` itself and handing every other request to what is served on
 * it — so the browser API keeps exactly the behaviour `BrowserApi.layerServe` gives it.
 */
const withHealthz = Layer.effect(
  HttpServer.HttpServer,
  Effect.map(HttpServer.HttpServer, (server) =>
    HttpServer.make({
      address: server.address,
      serve: (app, middleware) => {
        const routed = Effect.flatMap(
          HttpServerRequest.HttpServerRequest,
          (request) =>
            request.method === "GET" && request.url.split("?")[0] === "/healthz" ? Effect.succeed(healthy) : app
        )
        return middleware === undefined ? server.serve(routed) : server.serve(routed, middleware)
      }
    }))
)

/**
 * The whole backend; fails with `ServeError` when it cannot listen.
 * @category layers
 */
export const layer = (options: Options) =>
  Layer.mergeAll(BrowserApi.layerServe(), SeedCompanion, Banner(options)).pipe(
    Layer.provide(BrowserViewer.ViewerResolver.layerHeaders),
    Layer.provide(
      Registry.layer({ sources: [embedded, ...options.remotes] }).pipe(
        Layer.provide([Policy.layerWorkspace, Audit.layerMemory()])
      )
    ),
    Layer.provide(withHealthz),
    Layer.provide(NodeHttpServer.layer(createServer, { host: options.host, port: options.port }))
  )
