/**
 * The HTTP pieces of the benchmark, all on 127.0.0.1: the real runtime server (`Server.layer` over a given Runtime
 * on an ephemeral port, in this process), the real remote client (`HttpRuntimeClient`), and bare `node:http` servers
 * that do the same I/O by hand — the baselines.
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { HttpRuntimeClient, RuntimeClient } from "@yoi/domain"
import type { Runtime } from "@yoi/runtime"
import { Server } from "@yoi/server"
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { type Agent, createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** Serves `runtime` over HTTP on an ephemeral loopback port for the scope; returns the base URL. */
export const serveRuntime = (runtime: Layer.Layer<Runtime.Runtime>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Server.layer({}).pipe(
        Layer.provide(runtime),
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
      )
    )
    return HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
  })

/**
 * The HTTP `RuntimeClient` (the registry's and the CLI's) for the scope: over `fetch` as `HttpRuntimeClient.layer`
 * ships, or over Node's `http` module with a keep-alive agent.
 */
export const remoteClient = (url: string, transport: "fetch" | "node:http" = "fetch") =>
  Effect.map(
    Layer.build(
      transport === "fetch"
        ? HttpRuntimeClient.layer({ url, timeout: "1 minute" })
        : HttpRuntimeClient.layerNoHttpClient({ url, timeout: "1 minute" }).pipe(
          Layer.provide(NodeHttpClient.layerNodeHttpOptions({ keepAlive: true }))
        )
    ),
    (context) => Context.get(context, RuntimeClient.RuntimeClient)
  )

/** A bare `node:http` POST over a keep-alive agent, resolving with the response text. */
export const barePost = (agent: Agent) => (url: string, body: string, headers: Record<string, string>) =>
  new Promise<string>((resolve, reject) => {
    const request = httpRequest(url, { method: "POST", agent, headers }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end(body)
  })

export interface BareServer {
  readonly url: string
  readonly close: () => Promise<void>
}

/** A bare `node:http` server on an ephemeral loopback port. */
export const bareServer = (handler: (request: IncomingMessage, response: ServerResponse) => void) =>
  new Promise<BareServer>((resolve, reject) => {
    const server = createServer({ keepAlive: true }, handler)
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

/** `bareServer` for the scope of an Effect. */
export const bareServerScoped = (handler: (request: IncomingMessage, response: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.promise(() => bareServer(handler)),
    (server) => Effect.promise(() => server.close())
  )

/** Reads a request body to the end, then calls `k` with it. */
export const onBody = (request: IncomingMessage, k: (body: string) => void): void => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => k(Buffer.concat(chunks).toString("utf8")))
}

/** One RPC request line of the ndjson protocol (what `RpcClient` sends). */
export const requestLine = (id: number, tag: string, payload: unknown): string =>
  `${JSON.stringify({ _tag: "Request", id, tag, payload, headers: [] })}\n`
