/**
 * The registry behavioural suite: one source behind a `RuntimeRegistry`, written once and run over an embedded
 * source (here) and a remote source backed by a real runtime process (in the server package). Every test builds
 * its own source and registry.
 */
import { NodeHttpServer, NodeServices } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Audit, BrowserApi, BrowserErrors, BrowserViewer, Policy, Registry, type RegistrySource } from "@yoi/registry"
import { Effect, Layer, type Scope, Stream } from "effect"
import { HttpServer } from "effect/http"
import { TestClock } from "effect/testing"
import { createServer } from "node:http"
import { waitFor } from "../support/live.ts"
import { alice, mallory } from "../support/viewers.ts"

/** A fresh source for one test, and the strings that must never appear in anything the registry returns. */
export interface SuiteSource {
  readonly source: RegistrySource.SourceConfig
  readonly secrets: ReadonlyArray<string>
}

export type MakeSource = (runtimeId: string) => Effect.Effect<SuiteSource, unknown, Scope.Scope>

const slow = (text: string) => `/script {"deltas":100000,"delayMs":5}\n${text}`

export const registryBehaviour = (name: string, makeSource: MakeSource) => {
  const produced: Array<string> = []
  const secrets: Array<string> = []
  const keep = <A>(value: A): A => {
    produced.push(JSON.stringify(value))
    return value
  }
  afterAll(() => {
    for (const text of produced) for (const secret of secrets) assert.notInclude(text, secret)
  })

  const withRegistry = <A, E>(
    body: (
      registry: Registry.RuntimeRegistry["Service"],
      audit: Audit.Audit["Service"]
    ) => Effect.Effect<A, E, Registry.RuntimeRegistry | Audit.Audit>,
    options: Omit<Registry.Options, "sources"> = {}
  ) =>
    Effect.gen(function*() {
      const suite = yield* makeSource("rt-under-test")
      secrets.push(...suite.secrets)
      const layer = Registry.layer({ sources: [suite.source], callTimeout: "20 seconds", ...options }).pipe(
        Layer.provideMerge(Layer.mergeAll(Policy.layerWorkspace, Audit.layerMemory(), NodeServices.layer))
      )
      return yield* Effect.gen(function*() {
        return yield* body(yield* Registry.RuntimeRegistry, yield* Audit.Audit)
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped)

  /** The browser API over the registry on an ephemeral loopback port; every body and SSE frame is kept. */
  const withBrowserApi = <A, E>(body: (http: BrowserClient) => Effect.Effect<A, E>, options: BrowserApi.Options = {}) =>
    withRegistry(() =>
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        const base = HttpServer.formatAddress(server.address)
        return yield* body(browserClient(base, keep))
      }).pipe(
        Effect.provide(
          BrowserApi.layerServe(options).pipe(
            Layer.provide(BrowserViewer.ViewerResolver.layerHeaders),
            Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
          )
        )
      )
    )

  describe(`RuntimeRegistry (${name})`, () => {
    it.live(
      "lists the runtime as available and routes a full conversation",
      () =>
        withRegistry((registry) =>
          Effect.gen(function*() {
            const runtimes = keep(yield* registry.listRuntimes(alice))
            assert.strictEqual(runtimes.length, 1)
            assert.strictEqual(runtimes[0]!.state, "available")
            assert.strictEqual(runtimes[0]!.runtimeId, "rt-under-test")
            const created = keep(yield* registry.createWorker(alice, "rt-under-test", { displayName: "Ada" }))
            const ref = { runtimeId: "rt-under-test", workerId: created.worker.workerId }
            assert.strictEqual(created.worker.displayRef, "Ada@rt-under-test")
            const accepted = keep(yield* registry.sendInput(alice, ref, { text: "hello" }))
            const items = yield* registry.watchWorker(alice, ref).pipe(
              Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === accepted.runId),
              Stream.runCollect
            )
            keep(items)
            assert.strictEqual(items[0]!._tag, "snapshot")
            const transcript = keep(yield* registry.getTranscript(alice, ref, {}))
            assert.deepStrictEqual(transcript.entries.map((e) => e.text), ["hello", "Scripted reply to: hello"])
            const worker = keep(yield* registry.getWorker(alice, ref))
            assert.strictEqual(worker.status, "idle")
            const usage = keep(yield* registry.getUsage(alice, ref))
            assert.strictEqual(usage.usage.runs, 1)
            const list = keep(yield* registry.listWorkers(alice, {}))
            assert.deepStrictEqual(list.workers.map((w) => w.workerId), [ref.workerId])
            assert.deepStrictEqual(list.runtimes.map((r) => r.state), ["available"])
          })
        ),
      { timeout: 60_000 }
    )

    it.live("the runtime's own errors pass through unchanged", () =>
      withRegistry((registry) =>
        Effect.gen(function*() {
          const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
          const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
          const first = yield* registry.sendInput(alice, ref, { text: slow("long") })
          const busy = keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: "again" })))
          assert.strictEqual(busy._tag, "WorkerBusy")
          if (busy._tag === "WorkerBusy") assert.strictEqual(busy.runId, first.runId)
          const blank = keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: "  " })))
          assert.strictEqual(blank._tag, "InvalidRequest")
          const cancelled = keep(yield* registry.cancelRun(alice, ref))
          assert.strictEqual(cancelled.outcome, "cancelled")
          assert.strictEqual(keep(yield* registry.stopWorker(alice, ref)).outcome, "stopped")
          const stopped = keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: "more" })))
          assert.strictEqual(stopped._tag, "WorkerStopped")
          const missing = keep(
            yield* Effect.flip(registry.getWorker(alice, { runtimeId: "rt-under-test", workerId: "w_missing" }))
          )
          assert.strictEqual(missing._tag, "WorkerNotFound")
        })
      ), { timeout: 60_000 })

    it.live(
      "registry errors: unknown and invalid runtimes, invisible Workers",
      () =>
        withRegistry((registry) =>
          Effect.gen(function*() {
            const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
            const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
            const unknown = yield* Effect.flip(
              registry.getWorker(alice, { runtimeId: "nope", workerId: worker.workerId })
            )
            assert.strictEqual(unknown._tag, "UnknownRuntime")
            const invalid = yield* Effect.flip(registry.getRuntime(alice, "../etc"))
            assert.strictEqual(invalid._tag, "InvalidRequest")
            const invalidWorker = yield* Effect.flip(
              registry.getWorker(alice, { runtimeId: "rt-under-test", workerId: "a/b" })
            )
            assert.strictEqual(invalidWorker._tag, "InvalidRequest")
            assert.deepStrictEqual(yield* registry.listRuntimes(mallory), [])
            assert.deepStrictEqual((yield* registry.listWorkers(mallory, {})).workers, [])
            for (
              const attempt of [
                Effect.asVoid(registry.getWorker(mallory, ref)),
                Effect.asVoid(registry.sendInput(mallory, ref, { text: "hi" })),
                Effect.asVoid(registry.stopWorker(mallory, ref)),
                Effect.asVoid(registry.getTranscript(mallory, ref, {}))
              ]
            ) {
              const error = keep(yield* Effect.flip(attempt))
              assert.include(["UnknownRuntime", "WorkerNotVisible"], error._tag)
            }
            assert.strictEqual((yield* registry.getWorker(alice, ref)).status, "idle")
          })
        ),
      { timeout: 60_000 }
    )

    it.effect(
      "health: the runtime is probed every healthInterval, so its counts follow creates and stops",
      () =>
        withRegistry((registry) =>
          Effect.gen(function*() {
            const counts = Effect.map(registry.getRuntime(alice, "rt-under-test"), (view) => view.counts)
            assert.deepStrictEqual(yield* counts, { idle: 0, running: 0, stopped: 0, failed: 0, total: 0 })
            const created = yield* Effect.forEach([1, 2, 3], () => registry.createWorker(alice, "rt-under-test", {}))
            yield* registry.stopWorker(alice, { runtimeId: "rt-under-test", workerId: created[0]!.worker.workerId })
            assert.strictEqual((yield* counts)?.total, 0, "no probe before the first interval")
            yield* TestClock.adjust("1 minute")
            yield* waitFor(
              "the first probe's counts",
              Effect.map(counts, (c) => c?.total === 3 && c.stopped === 1 && c.idle === 2)
            )
            yield* Effect.forEach([1, 2], () => registry.createWorker(alice, "rt-under-test", {}))
            yield* TestClock.adjust("1 minute")
            yield* waitFor("the second probe's counts", Effect.map(counts, (c) => c?.total === 5 && c.idle === 4))
            keep(yield* registry.listRuntimes(alice))
          }), { healthInterval: "1 minute" }),
      { timeout: 60_000 }
    )

    it.live(
      "a request the runtime rejects whole, or an input over its limit, is a typed InvalidRequest; health untouched",
      () =>
        withRegistry((registry) =>
          Effect.gen(function*() {
            const huge = "x".repeat(5 * 1024 * 1024)
            const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
            const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
            const rejected = [
              keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: huge }))),
              keep(yield* Effect.flip(registry.createWorker(alice, "rt-under-test", { displayName: huge }))),
              keep(
                yield* Effect.flip(
                  registry.createWorker(alice, "rt-under-test", { initialInput: { kind: "user", text: huge } })
                )
              )
            ]
            assert.deepStrictEqual(rejected.map((error) => error._tag), [
              "InvalidRequest",
              "InvalidRequest",
              "InvalidRequest"
            ])
            assert.strictEqual(keep(yield* registry.getRuntime(alice, "rt-under-test")).state, "available")
            const accepted = keep(yield* registry.sendInput(alice, ref, { text: "still here" }))
            assert.strictEqual(accepted.status, "started")
          })
        ),
      { timeout: 60_000 }
    )

    it.live(
      "through the browser API: a body over the limit is 413 at the door, an input over the runtime's limit 400",
      () =>
        withBrowserApi((http) =>
          Effect.gen(function*() {
            const created = yield* http.json("POST", "/api/runtimes/rt-under-test/workers", alice, {})
            const workerId = (created.body as { worker: { workerId: string } }).worker.workerId
            const input = `/api/runtimes/rt-under-test/workers/${workerId}/input`
            const overBody = yield* http.json("POST", input, alice, { text: "x".repeat(20 * 1024 * 1024) })
            assert.deepStrictEqual(overBody, { status: 413, body: BrowserErrors.errorBody("payload_too_large") })
            const overInput = yield* http.json("POST", input, alice, { text: "x".repeat(5 * 1024 * 1024) })
            assert.deepStrictEqual(overInput, { status: 400, body: BrowserErrors.errorBody("invalid_request") })
            const runtime = yield* http.json("GET", "/api/runtimes/rt-under-test", alice)
            assert.strictEqual((runtime.body as { state: string }).state, "available")
            assert.strictEqual((yield* http.json("POST", input, alice, { text: "fine" })).status, 202)
          }), { maxBodySize: "16 MiB" }),
      { timeout: 60_000 }
    )

    it.live(
      "every command is audited with viewer, action, ref and outcome",
      () =>
        withRegistry((registry, audit) =>
          Effect.gen(function*() {
            const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
            const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
            yield* registry.sendInput(alice, ref, { text: slow("long") })
            yield* Effect.flip(registry.sendInput(alice, ref, { text: "busy" }))
            yield* registry.cancelRun(alice, ref)
            yield* Effect.flip(registry.stopWorker(mallory, ref))
            yield* registry.stopWorker(alice, ref)
            const entries = yield* audit.records
            assert.deepStrictEqual(entries.map((e) => [e.viewer, e.action, e.outcome]), [
              ["alice", "create", "ok"],
              ["alice", "input", "ok"],
              ["alice", "input", "WorkerBusy"],
              ["alice", "cancel", "ok"],
              ["mallory", "stop", "UnknownRuntime"],
              ["alice", "stop", "ok"]
            ])
            for (const entry of entries.slice(1)) assert.strictEqual(entry.workerId, ref.workerId)
          })
        ),
      { timeout: 60_000 }
    )

    it.live(
      "through the browser API: routes, 404 for other workspaces, SSE resume with Last-Event-ID",
      () =>
        withBrowserApi((http) =>
          Effect.gen(function*() {
            const created = yield* http.json("POST", "/api/runtimes/rt-under-test/workers", alice, {
              displayName: "Web"
            })
            assert.strictEqual(created.status, 201)
            const workerId = (created.body as { worker: { workerId: string } }).worker.workerId
            const path = `/api/runtimes/rt-under-test/workers/${workerId}`
            const input = yield* http.json("POST", `${path}/input`, alice, {
              text: "/script {\"deltas\":40,\"delayMs\":5}\nstream to the browser"
            })
            assert.strictEqual(input.status, 202)
            const runId = (input.body as { runId: string }).runId
            // first connection: stop after a few events
            const first = yield* http.sse(
              `${path}/events`,
              alice,
              {},
              (frames) => frames.filter((f) => f.id).length >= 5
            )
            const lastId = first.findLast((f) => f.id !== undefined)!.id!
            // reconnect where the browser left off
            const rest = yield* http.sse(
              `${path}/events`,
              alice,
              { "last-event-id": lastId },
              (frames) => frames.some((f) => f.event === "run_finished")
            )
            const ids = [...first, ...rest].flatMap((f) => f.id === undefined ? [] : [Number(f.id)])
            assert.deepStrictEqual(ids, ids.map((_, i) => ids[0]! + i), "contiguous, no duplicates, no loss")
            assert.strictEqual(rest.find((f) => f.id !== undefined)!.id, String(Number(lastId) + 1))
            const finished = rest.find((f) => f.event === "run_finished")!
            assert.strictEqual((JSON.parse(finished.data) as { runId: string }).runId, runId)
            for (
              const route of [
                "/api/runtimes",
                "/api/hosts",
                "/api/workers",
                `${path}/transcript`,
                `${path}/usage`,
                path
              ]
            ) {
              assert.strictEqual((yield* http.json("GET", route, alice)).status, 200, route)
            }
            const hidden = yield* http.json("GET", path, mallory)
            const unknown = yield* http.json("GET", "/api/runtimes/rt-under-test/workers/w_unknown", alice)
            assert.strictEqual(hidden.status, 404)
            assert.strictEqual(unknown.status, 404)
            assert.deepStrictEqual(hidden.body, unknown.body)
            const invalid = yield* http.json("GET", "/api/runtimes/rt-under-test/workers/a:b:..", alice)
            assert.strictEqual(invalid.status, 400)
          })
        ),
      { timeout: 60_000 }
    )
  })
}

// ---- a minimal browser: JSON requests and an SSE reader over fetch ----------------------------------------------

interface Frame {
  readonly id?: string | undefined
  readonly event?: string | undefined
  readonly data: string
}

interface BrowserClient {
  json(
    method: "GET" | "POST",
    path: string,
    viewer: Policy.Viewer,
    body?: unknown
  ): Effect.Effect<{ readonly status: number; readonly body: unknown }>
  sse(
    path: string,
    viewer: Policy.Viewer,
    headers: Record<string, string>,
    done: (frames: ReadonlyArray<Frame>) => boolean
  ): Effect.Effect<ReadonlyArray<Frame>>
}

const viewerHeaders = (viewer: Policy.Viewer) => ({ "x-yoi-viewer": viewer.id, "x-yoi-workspace": viewer.workspace })

const parseFrames = (text: string): Array<Frame> =>
  text.split("\n\n").flatMap((block) => {
    const lines = block.split("\n").filter((line) => line.length > 0 && !line.startsWith(":"))
    if (lines.length === 0) return []
    const field = (name: string) => lines.find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim()
    const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n")
    return [{ id: field("id"), event: field("event"), data }]
  })

const browserClient = (base: string, keep: (text: string) => unknown): BrowserClient => ({
  json: (method, path, viewer, body) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { ...viewerHeaders(viewer), ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      keep(text)
      return { status: response.status, body: text.length > 0 ? JSON.parse(text) as unknown : undefined }
    }),
  sse: (path, viewer, headers, done) =>
    Effect.promise(async () => {
      const abort = new AbortController()
      const response = await fetch(`${base}${path}`, {
        headers: { ...viewerHeaders(viewer), ...headers, accept: "text/event-stream" },
        signal: abort.signal
      })
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let text = ""
      while (true) {
        // oxlint-disable-next-line no-await-in-loop -- a stream is read chunk by chunk
        const { value, done: ended } = await reader.read()
        if (ended) break
        text += decoder.decode(value, { stream: true })
        const complete = text.slice(0, text.lastIndexOf("\n\n") + 2)
        if (done(parseFrames(complete))) break
      }
      abort.abort()
      const complete = text.slice(0, text.lastIndexOf("\n\n") + 2)
      keep(text)
      return parseFrames(complete)
    })
})
