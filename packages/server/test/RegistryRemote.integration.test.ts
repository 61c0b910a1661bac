/**
 * The registry suite over a remote source backed by a real runtime process on loopback, plus what only a remote
 * source can do wrong: be down, or accept connections and never answer.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Audit, Policy, Registry } from "@yoi/registry"
import { registryBehaviour } from "@yoi/registry/test/suite/RegistryBehaviour"
import { EmbeddedClient, RuntimePresets } from "@yoi/runtime"
import { Effect, FileSystem, Layer, Redacted } from "effect"
import { createServer, type Socket } from "node:net"
import { spawnServer } from "./support/serverProcess.ts"

const token = "registry-remote-token-44c1"

registryBehaviour("remote source, real runtime process", (runtimeId) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-registry-remote-" })
    const allocationDir = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-registry-alloc-" })
    const server = yield* spawnServer(
      ["--port", "0", "--data-dir", dataDir, "--allocation-dir", allocationDir, "--runtime-id", runtimeId],
      { YOI_RUNTIME_TOKEN: token }
    )
    return {
      source: {
        kind: "remote" as const,
        runtimeId,
        displayName: "Remote",
        workspace: "ws-a",
        url: server.url,
        token: Redacted.make(token)
      },
      secrets: [server.url, token, dataDir]
    }
  }).pipe(Effect.provide(NodeServices.layer)))

/** A TCP server that accepts connections and never answers. */
const silentServer = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly close: () => void }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}`,
        close: () => {
          for (const socket of sockets) socket.destroy()
          server.close()
        }
      }))
    })
  }),
  (silent) => Effect.sync(() => silent.close())
)

/** A loopback port with nothing listening on it. */
const closedPort = Effect.callback<string>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}`)))
  })
})

const viewer: Policy.Viewer = { id: "alice", workspace: "ws-a" }

describe("registry with runtimes that are down or silent", () => {
  it.live(
    "lists return within the bound with those runtimes unavailable; commands fail fast",
    () =>
      Effect.gen(function*() {
        const silent = yield* silentServer
        const down = yield* closedPort
        const registry = Registry.layer({
          sources: [
            {
              kind: "embedded",
              runtimeId: "healthy",
              displayName: "Healthy",
              workspace: "ws-a",
              client: EmbeddedClient.layer.pipe(Layer.provide(RuntimePresets.layerMemory({ runtimeId: "healthy" })))
            },
            { kind: "remote", runtimeId: "down", displayName: "Down", workspace: "ws-a", url: down },
            { kind: "remote", runtimeId: "silent", displayName: "Silent", workspace: "ws-a", url: silent.url }
          ],
          callTimeout: "500 millis",
          listTimeout: "500 millis",
          healthInterval: "1 hour"
        }).pipe(Layer.provide(Layer.mergeAll(Policy.layerWorkspace, Audit.layerMemory(), NodeServices.layer)))
        yield* Effect.gen(function*() {
          const reg = yield* Registry.RuntimeRegistry
          const runtimes = yield* reg.listRuntimes(viewer)
          const state = Object.fromEntries(runtimes.map((r) => [r.runtimeId, r.state]))
          assert.deepStrictEqual(state, { healthy: "available", down: "unavailable", silent: "unavailable" })
          const silentView = runtimes.find((r) => r.runtimeId === "silent")!
          assert.strictEqual(silentView.diagnostics[0]?.code, "runtime_timeout")
          const list = yield* reg.listWorkers(viewer, {})
          assert.deepStrictEqual(
            Object.fromEntries(list.runtimes.map((r) => [r.runtimeId, r.state])),
            { healthy: "available", down: "unavailable", silent: "unavailable" }
          )
          for (const runtimeId of ["down", "silent"]) {
            const error = yield* Effect.flip(reg.createWorker(viewer, runtimeId, {}))
            assert.strictEqual(error._tag, "RuntimeUnavailable")
            const text = JSON.stringify([runtimes, list, error])
            assert.notInclude(text, down)
            assert.notInclude(text, silent.url)
          }
          const created = yield* reg.createWorker(viewer, "healthy", {})
          assert.strictEqual(created.worker.runtimeId, "healthy")
        }).pipe(Effect.provide(registry))
      }),
    { timeout: 60_000 }
  )
})
