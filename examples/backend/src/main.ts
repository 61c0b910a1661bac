/**
 * An example backend: what a product backend composes to give its browsers Workers. One `RuntimeRegistry` over an
 * embedded Runtime (in this process, memory adapters and the scripted engine, hosting the builtin tools-less
 * `companion` profile) plus any remote runtime processes, served as the browser API on 127.0.0.1:38900.
 *
 * Remote runtimes come from `YOI_REMOTE_RUNTIMES`, a JSON array of
 * `{ runtimeId, displayName, url, tokenEnv?, workspace? }`; each token is read from the environment variable that
 * `tokenEnv` names, so no token is ever written in the JSON. For example:
 *
 * ```sh
 * YOI_RUNTIME_TOKEN=… pnpm start --port 38800 &
 * YOI_REMOTE_RUNTIMES='[{"runtimeId":"local","displayName":"This host","url":"http://127.0.0.1:38800","tokenEnv":"YOI_RUNTIME_TOKEN"}]' \
 *   pnpm example:backend
 * ```
 *
 * **Gotchas** The viewer comes from the `x-yoi-viewer` / `x-yoi-workspace` request headers
 * (`BrowserApi.ViewerResolver.layerHeaders`), which anyone can send: a real backend provides its own
 * `ViewerResolver` over its session authentication instead.
 */
import { NodeHttpServer, NodeRuntime, NodeServices } from "@effect/platform-node"
import { Audit, BrowserApi, Policy, Registry } from "@yoi/registry"
import { EmbeddedClient, RuntimePresets } from "@yoi/runtime"
import { Config, Console, Effect, Layer, Option, Schema } from "effect"
import { HttpServer } from "effect/http"
import { createServer } from "node:http"

const host = "127.0.0.1"
const port = 38900

const RemoteRuntimeEntry = Schema.Struct({
  runtimeId: Schema.String,
  displayName: Schema.String,
  url: Schema.String,
  /** The environment variable holding the runtime's bearer token. */
  tokenEnv: Schema.optional(Schema.String),
  /** The workspace whose viewers see it (default: the registry's default for remote runtimes). */
  workspace: Schema.optional(Schema.String)
})

const remoteSources = Effect.gen(function*() {
  const entries = yield* Config.schema(
    Schema.fromJsonString(Schema.Array(RemoteRuntimeEntry)),
    "YOI_REMOTE_RUNTIMES"
  ).pipe(Config.withDefault([]))
  return yield* Effect.forEach(entries, (entry) =>
    Effect.gen(function*() {
      const token = entry.tokenEnv === undefined
        ? Option.none()
        : yield* Config.option(Config.Redacted(entry.tokenEnv))
      return {
        kind: "remote",
        runtimeId: entry.runtimeId,
        displayName: entry.displayName,
        url: entry.url,
        token: Option.getOrUndefined(token),
        workspace: entry.workspace
      } satisfies Registry.RemoteSource
    }))
})

const embedded = {
  kind: "embedded",
  runtimeId: "embedded",
  displayName: "Embedded companion runtime",
  client: EmbeddedClient.layer.pipe(
    Layer.provide(RuntimePresets.layerMemory({
      runtimeId: "embedded",
      displayName: "Embedded companion runtime",
      implementation: "embedded"
    }))
  )
} satisfies Registry.EmbeddedSource

const RegistryLive = Layer.unwrap(
  Effect.map(remoteSources, (remotes) => Registry.layer({ sources: [embedded, ...remotes] }))
).pipe(Layer.provide([Policy.layerWorkspace, Audit.layerMemory(), NodeServices.layer]))

/** One Companion Worker in the embedded runtime, so the API has something to show (idempotent). */
const SeedCompanion = Layer.effectDiscard(Effect.gen(function*() {
  const registry = yield* Registry.RuntimeRegistry
  yield* registry.createWorker({ id: "example-backend", workspace: Policy.backendInternal }, "embedded", {
    displayName: "Companion",
    profile: { kind: "builtin", name: "companion" },
    idempotencyKey: "example-backend-companion"
  }).pipe(Effect.orDie)
}))

const Banner = Layer.effectDiscard(Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const address = HttpServer.formatAddress(server.address)
  yield* Console.log(`example backend: browser API on ${address}/api`)
  yield* Console.log(`OpenAPI document: ${address}${BrowserApi.openApiPath}`)
  yield* Console.log(
    `try: curl -H 'x-yoi-viewer: me' -H 'x-yoi-workspace: default' ${address}/api/workers ` +
      "(the viewer headers are for development only)"
  )
}))

const Main = Layer.mergeAll(BrowserApi.layerServe(), SeedCompanion, Banner).pipe(
  Layer.provide(BrowserApi.ViewerResolver.layerHeaders),
  Layer.provide(RegistryLive),
  Layer.provide(NodeHttpServer.layer(createServer, { host, port }))
)

NodeRuntime.runMain(Layer.launch(Main))
