/**
 * The registry suite over a remote source backed by a real runtime process on loopback, plus what only a remote
 * source can do wrong: be down, accept connections and never answer, come back after being down, or sit behind
 * something that answers outside the protocol.
 *
 * Health tests drive the registry's health schedule with `TestClock`; the probe's IO is real, so they wait for its
 * outcome with `waitFor` (event-loop hops, bounded in wall time), never with a sleep.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Audit, Policy, Registry } from "@yoi/registry"
import { registryBehaviour } from "@yoi/registry/test/suite/RegistryBehaviour"
import { waitFor } from "@yoi/registry/test/support/live"
import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { createServer as createHttpServer, request as httpRequest } from "node:http"
import { createServer, type Socket } from "node:net"
import { closedPort, serveArgs, type ServerDirs, serverDirs, spawnServer } from "./support/serverProcess.ts"

const token = "registry-remote-token-44c1"

registryBehaviour("remote source, real runtime process", (runtimeId) =>
  Effect.gen(function*() {
    const dirs = yield* serverDirs
    const server = yield* spawnServer(serveArgs({ ...dirs, runtimeId }), { YOI_RUNTIME_TOKEN: token })
    return {
      source: {
        kind: "remote" as const,
        runtimeId,
        displayName: "Remote",
        workspace: "ws-a",
        url: server.url,
        token: Redacted.make(token)
      },
      secrets: [server.url, token, dirs.dataDir]
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

const viewer: Policy.Viewer = { id: "alice", workspace: "ws-a" }

describe("registry with runtimes that are down or silent", () => {
  it.live(
    "lists return within the bound with those runtimes unavailable; commands fail fast",
    () =>
      Effect.gen(function*() {
        const silent = yield* silentServer
        const down = `http://127.0.0.1:${yield* closedPort}`
        const registry = Registry.layer({
          sources: [
            {
              kind: "embedded",
              runtimeId: "healthy",
              displayName: "Healthy",
              workspace: "ws-a",
              client: EmbeddedRuntimeClient.layer.pipe(
                Layer.provide(RuntimePresets.layerMemory({ runtimeId: "healthy" }))
              )
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

/** A registry over one remote source at `url`, probed every 10 seconds of test time. */
const remoteRegistry = (url: string) =>
  Registry.layer({
    sources: [{
      kind: "remote",
      runtimeId: "rt-remote",
      displayName: "Remote",
      workspace: "ws-a",
      url,
      token: Redacted.make(token)
    }],
    callTimeout: "10 seconds",
    healthInterval: "10 seconds"
  }).pipe(Layer.provide(Layer.mergeAll(Policy.layerWorkspace, Audit.layerMemory(), NodeServices.layer)))

const stateOf = Effect.map(
  Effect.flatMap(Registry.RuntimeRegistry, (registry) => registry.getRuntime(viewer, "rt-remote")),
  (runtime) => runtime.state
)
const isAvailable = Effect.map(stateOf, (state) => state === "available")

/** Fresh directories for the runtime `rt-remote`, kept across its restarts. */
const remoteDirs = Effect.provide(serverDirs, NodeServices.layer)

/** Starts the runtime `rt-remote` over `dirs` on `port` (any free port by default). */
const serveRemote = (dirs: ServerDirs, port?: string | number) =>
  spawnServer(serveArgs({ ...dirs, runtimeId: "rt-remote", port }), { YOI_RUNTIME_TOKEN: token })

describe("registry health over a real runtime process", () => {
  it.effect(
    "a runtime down at start becomes available at the first probe after it starts",
    () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const url = `http://127.0.0.1:${port}`
        const dirs = yield* remoteDirs
        yield* Effect.gen(function*() {
          assert.strictEqual(yield* stateOf, "unavailable")
          yield* serveRemote(dirs, port)
          assert.strictEqual(yield* stateOf, "unavailable", "health changes only when probed")
          yield* TestClock.adjust("10 seconds")
          yield* waitFor("available after one health interval", isAvailable)
          const registry = yield* Registry.RuntimeRegistry
          const created = yield* registry.createWorker(viewer, "rt-remote", { displayName: "Late" })
          assert.strictEqual(created.worker.displayRef, "Late@rt-remote")
        }).pipe(Effect.provide(remoteRegistry(url)))
      }),
    { timeout: 60_000 }
  )

  it.effect(
    "a runtime killed and restarted recovers, with its Workers",
    () =>
      Effect.gen(function*() {
        const dirs = yield* remoteDirs
        const first = yield* serveRemote(dirs)
        yield* Effect.gen(function*() {
          const registry = yield* Registry.RuntimeRegistry
          const { worker } = yield* registry.createWorker(viewer, "rt-remote", { displayName: "Survivor" })
          const ref = { runtimeId: "rt-remote", workerId: worker.workerId }
          yield* first.kill("SIGKILL")
          yield* first.exited
          const refused = yield* Effect.flip(registry.getWorker(viewer, ref))
          assert.deepStrictEqual([refused._tag, yield* stateOf], ["RuntimeUnavailable", "unavailable"])
          yield* TestClock.adjust("10 seconds")
          assert.strictEqual(yield* stateOf, "unavailable", "still down at the next probe")

          yield* serveRemote(dirs, new URL(first.url).port)
          yield* TestClock.adjust("10 seconds")
          yield* waitFor("available again after a restart", isAvailable)
          assert.strictEqual((yield* registry.getWorker(viewer, ref)).displayName, "Survivor")
          assert.strictEqual((yield* registry.sendInput(viewer, ref, { text: "back" })).status, "started")
        }).pipe(Effect.provide(remoteRegistry(first.url)))
      }),
    { timeout: 60_000 }
  )
})

/**
 * A reverse proxy in front of `upstream` that answers a request itself when its body names an answer
 * (`answer:<status>`, or `answer:garbage` for a 200 outside the protocol), and forwards everything else.
 */
const answeringProxy = (upstream: string) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly url: string; readonly close: () => void }>((resume) => {
      const target = new URL(upstream)
      const server = createHttpServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = Buffer.concat(chunks)
          const answer = /answer:(\w+)/.exec(body.toString("utf8"))?.[1]
          if (answer === "garbage") {
            response.writeHead(200, { "content-type": "application/ndjson" }).end("this is not the protocol\n")
          } else if (answer !== undefined) {
            response.writeHead(Number(answer)).end()
          } else {
            const forward = httpRequest(
              {
                host: target.hostname,
                port: target.port,
                path: request.url,
                method: request.method,
                headers: request.headers
              },
              (upstreamResponse) => {
                response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers)
                upstreamResponse.pipe(response)
              }
            )
            forward.on("error", () => response.destroy())
            forward.end(body)
          }
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}`,
          close: () => {
            server.closeAllConnections()
            server.close()
          }
        }))
      })
    }),
    (proxy) => Effect.sync(() => proxy.close())
  )

describe("registry behind a proxy that answers outside the protocol", () => {
  it.effect(
    "a 4xx is the call's InvalidRequest, a 500 or an undecodable answer fails the call only; 502/503/504/401 are an outage",
    () =>
      Effect.gen(function*() {
        const server = yield* serveRemote(yield* remoteDirs)
        const proxy = yield* answeringProxy(server.url)
        yield* Effect.gen(function*() {
          const registry = yield* Registry.RuntimeRegistry
          const { worker } = yield* registry.createWorker(viewer, "rt-remote", {})
          const ref = { runtimeId: "rt-remote", workerId: worker.workerId }
          const answered = (answer: string) =>
            Effect.flip(registry.sendInput(viewer, ref, { text: `answer:${answer}` }))

          for (
            const [answer, tag] of [
              ["413", "InvalidRequest"],
              ["404", "InvalidRequest"],
              ["500", "UnexpectedAnswer"],
              ["garbage", "UnexpectedAnswer"]
            ] as const
          ) {
            const error = yield* answered(answer)
            assert.strictEqual(error._tag, tag, answer)
            assert.strictEqual(yield* stateOf, "available", `${answer} leaves the runtime available`)
          }

          for (
            const [answer, reason] of [
              ["502", "unreachable"],
              ["503", "unreachable"],
              ["504", "timeout"],
              ["401", "unauthorized"]
            ] as const
          ) {
            const error = yield* answered(answer)
            assert.deepStrictEqual(
              error._tag === "RuntimeUnavailable" ? error.reason : error._tag,
              reason,
              answer
            )
            assert.strictEqual(yield* stateOf, "unavailable", `${answer} is an outage`)
            const fast = yield* Effect.flip(registry.getWorker(viewer, ref))
            assert.strictEqual(fast._tag, "RuntimeUnavailable", "calls fail fast while unavailable")
            yield* TestClock.adjust("10 seconds")
            yield* waitFor(`available again after ${answer}`, isAvailable)
          }
          // a text over the runtime's advertised maxInputChars is refused before it is sent: the proxy never sees it
          const long = yield* Effect.flip(
            registry.sendInput(viewer, ref, { text: `answer:500 ${"x".repeat(100_000)}` })
          )
          assert.deepStrictEqual(
            long._tag === "InvalidRequest" ? [long.field, long.message] : long._tag,
            ["input.text", "must be at most 100000 characters"]
          )
          const longInitial = yield* Effect.flip(registry.createWorker(viewer, "rt-remote", {
            displayName: "answer:500",
            initialInput: { kind: "user", text: "x".repeat(100_001) }
          }))
          assert.strictEqual(
            longInitial._tag === "InvalidRequest" ? longInitial.field : longInitial._tag,
            "initialInput.text"
          )
          assert.strictEqual((yield* registry.sendInput(viewer, ref, { text: "through" })).status, "started")
          const text = JSON.stringify(yield* registry.listRuntimes(viewer))
          for (const secret of [proxy.url, server.url, token]) assert.notInclude(text, secret)
        }).pipe(Effect.provide(remoteRegistry(proxy.url)))
      }),
    { timeout: 60_000 }
  )
})
