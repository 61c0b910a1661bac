/**
 * The Runtime behavioural suite over real HTTP on an ephemeral loopback port: the server in this process, reached
 * through the remote client (ndjson RPC, bearer token), over the filesystem adapters in fresh temp directories.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { RemoteRuntime } from "@yoi/registry"
import { RuntimePresets } from "@yoi/runtime"
import { runtimeBehaviour } from "@yoi/runtime/test/suite/RuntimeBehaviour"
import { Effect, FileSystem, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import { createServer } from "node:http"
import * as Server from "../src/Server.ts"

const token = Redacted.make("suite-token-0123456789")

runtimeBehaviour("HTTP, remote client, filesystem adapters", (config) => {
  const runtime = Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return RuntimePresets.layerFileSystem({
      runtimeId: "http-suite",
      implementation: "process",
      directory: yield* fs.makeTempDirectoryScoped({ prefix: "yoi-suite-data-" }),
      allocationDirectory: yield* fs.makeTempDirectoryScoped({ prefix: "yoi-suite-alloc-" }),
      engine: config.engine,
      limits: config.limits,
      replayBuffer: config.replayBuffer
    })
  }))
  const http = Server.layer({ token }).pipe(
    Layer.provide(runtime),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
  const client = Layer.unwrap(
    Effect.map(
      HttpServer.HttpServer,
      (server) => RemoteRuntime.layer({ url: HttpServer.formatAddress(server.address), token, timeout: "1000 days" })
    )
  )
  return client.pipe(Layer.provide(http))
})
