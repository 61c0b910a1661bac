/**
 * The Runtime behavioural suite over real HTTP on an ephemeral loopback port: the server in this process, reached
 * through the remote client (ndjson RPC, bearer token), over the filesystem adapters in fresh temp directories.
 * Every byte the server answers is recorded and, once the suite ran, scanned for the token and the data and
 * allocation directory paths: none may appear in a response, an error or a streamed event.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { afterAll, assert } from "@effect/vitest"
import { onTempDirectory } from "@yoi/adapters/test/support/fixtures"
import { HttpRuntimeClient } from "@yoi/domain"
import { RuntimePresets } from "@yoi/runtime"
import { runtimeBehaviour } from "@yoi/runtime/test/suite/RuntimeBehaviour"
import { Effect, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import { createServer, type ServerResponse } from "node:http"
import * as Server from "../src/Server.ts"

const token = Redacted.make("suite-token-0123456789")

/** What no response may contain: the token, and every data / allocation directory the suite creates. */
const secrets: Array<string> = [Redacted.value(token)]
/** Every chunk the server wrote to a response, headers aside. */
const served: Array<string> = []

const tee = (response: ServerResponse, method: "write" | "end") => {
  const original = response[method] as (...args: Array<unknown>) => unknown
  Object.assign(response, {
    [method]: (...args: Array<unknown>) => {
      const chunk = args[0]
      if (typeof chunk === "string" || chunk instanceof Uint8Array) served.push(Buffer.from(chunk).toString("utf8"))
      return original.apply(response, args)
    }
  })
}

/** A `node:http` server that records every response body it sends. */
const recordingServer = () =>
  createServer().on("request", (_request, response: ServerResponse) => {
    tee(response, "write")
    tee(response, "end")
  })

afterAll(() => {
  // Not vacuous: the suite streams thousands of frames; and every directory it made is among the secrets.
  assert.isAbove(served.length, 100)
  assert.isAbove(secrets.length, 10)
  for (const text of served) for (const secret of secrets) assert.notInclude(text, secret)
})

runtimeBehaviour("HTTP, remote client, filesystem adapters", (config) => {
  const runtime = onTempDirectory(
    "yoi-suite-data-",
    (directory) =>
      onTempDirectory("yoi-suite-alloc-", (allocationDirectory) => {
        secrets.push(directory, allocationDirectory)
        return RuntimePresets.layerFileSystem({
          runtimeId: "http-suite",
          implementation: "process",
          directory,
          allocationDirectory,
          engine: config.engine,
          limits: config.limits,
          replayBuffer: config.replayBuffer
        })
      })
  )
  const http = Server.layer({ token }).pipe(
    Layer.provide(runtime),
    Layer.provideMerge(NodeHttpServer.layer(recordingServer, { port: 0, host: "127.0.0.1" }))
  )
  const client = Layer.unwrap(
    Effect.map(
      HttpServer.HttpServer,
      (server) =>
        HttpRuntimeClient.layer({ url: HttpServer.formatAddress(server.address), token, timeout: "1000 days" })
    )
  )
  return client.pipe(Layer.provide(http))
})
