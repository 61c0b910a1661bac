/**
 * The browser API over real HTTP on an ephemeral loopback port, over a fake in-memory `RuntimeRegistry`: every route
 * answers its view, the error table, id validation, the viewer, the SSE event stream (ids, resume, heartbeat, the
 * error frame), the OpenAPI document and unknown routes — and no response is a 500 or echoes a runtime's message.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { afterAll, assert, describe, layer } from "@effect/vitest"
import { Errors, type RuntimeEvent } from "@yoi/domain"
import { Deferred, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { createServer, request as httpRequest } from "node:http"
import * as BrowserApi from "../src/BrowserApi.ts"
import * as BrowserErrors from "../src/BrowserErrors.ts"
import * as BrowserHttpApi from "../src/BrowserHttpApi.ts"
import * as BrowserViewer from "../src/BrowserViewer.ts"
import type * as Policy from "../src/Policy.ts"
import * as Registry from "../src/Registry.ts"
import * as RegistryErrors from "../src/RegistryErrors.ts"
import * as SourceClient from "../src/SourceClient.ts"
import * as Views from "../src/Views.ts"

// ---------------------------------------------------------------------------------------------------------------
// The fake registry

const runtimeView = (
  runtimeId: string,
  implementation: Views.Implementation,
  state: "available" | "unavailable" = "available"
): Views.RuntimeView => ({
  runtimeId,
  displayName: `Runtime ${runtimeId}`,
  implementation,
  state,
  visibility: "backend_internal",
  capabilities: {
    canCreateWorkers: implementation !== "legacy_compatibility",
    canAcceptInput: true,
    canStreamEvents: true
  },
  diagnostics: state === "available" ? [] : [{ level: "warning", code: "runtime_unreachable", message: "down" }]
})

const runtimes: ReadonlyArray<Views.RuntimeView> = [
  runtimeView("rt-embedded", "embedded"),
  runtimeView("rt-remote", "remote", "unavailable"),
  runtimeView("rt-legacy", "legacy_compatibility")
]

const workerView = (runtimeId: string, workerId: string, status: Views.WorkerView["status"] = "idle") => ({
  runtimeId,
  workerId,
  displayName: `Worker ${workerId}`,
  displayRef: `Worker ${workerId}@${runtimeId}`,
  implementation: runtimes.find((r) => r.runtimeId === runtimeId)?.implementation ?? "embedded",
  status,
  profileName: "companion",
  queueLength: 0,
  capabilities: { canAcceptInput: status !== "stopped", canCancel: true, canStop: true }
} satisfies Views.WorkerView)

/** Workers and the workspace that may see them. */
const workers: ReadonlyArray<{ readonly view: Views.WorkerView; readonly workspace: string }> = [
  { view: workerView("rt-embedded", "w-1"), workspace: "ws-1" },
  { view: workerView("rt-embedded", "w-2", "running"), workspace: "ws-1" },
  { view: workerView("rt-embedded", "w-hidden"), workspace: "ws-2" },
  { view: workerView("rt-embedded", "w-lag"), workspace: "ws-1" },
  { view: workerView("rt-embedded", "w-store"), workspace: "ws-1" },
  { view: workerView("rt-legacy", "local-pod-1", "stopped"), workspace: "ws-1" }
]

/** Strings a runtime put in its errors; none may reach a browser. */
const secrets = ["/home/alice", "hunter2", "10.1.2.3", "/var/lib/yoi", "/srv/secret", "kaboom"]

/** A Worker id naming the error its calls fail with. */
const failures: Record<string, Registry.RegistryError> = {
  "fail-invalid": new Errors.InvalidRequest({
    field: "scope[0].target",
    message: "/home/alice/private is outside http://10.1.2.3:9000/?token=hunter2"
  }),
  "fail-profile": new Errors.InvalidProfile({ message: "no bundle under /home/alice/.yoi" }),
  "fail-cursor": new Errors.CursorOutOfRange({ after: 9, lastSeq: 3 }),
  "fail-unknown-worker": new RegistryErrors.UnknownWorker({
    runtimeId: "rt-embedded",
    workerId: "fail-unknown-worker"
  }),
  "fail-busy": new Errors.WorkerBusy({ workerId: "fail-busy", runId: "r-1", startedAt: 1 }),
  "fail-stopped": new Errors.WorkerStopped({ workerId: "fail-stopped", status: "stopped" }),
  "fail-queue": new Errors.QueueFull({ workerId: "fail-queue", capacity: 16 }),
  "fail-scope": new Errors.ScopeConflict({
    conflictsWith: { runtimeId: "rt-embedded", workerId: "w-2" },
    ruleIndex: 0
  }),
  "fail-unsupported": new RegistryErrors.OperationUnsupported({ runtimeId: "rt-legacy", operation: "SendInput" }),
  "fail-unreachable": new RegistryErrors.RuntimeUnavailable({ runtimeId: "rt-remote", reason: "unreachable" }),
  "fail-timeout": new RegistryErrors.RuntimeUnavailable({ runtimeId: "rt-remote", reason: "timeout" }),
  "fail-unauthorized": new RegistryErrors.RuntimeUnavailable({ runtimeId: "rt-remote", reason: "unauthorized" }),
  "fail-stopping": new Errors.RuntimeStopping(),
  "fail-execution": new Errors.ExecutionUnavailable({
    code: "launch_failed",
    message: "could not run /home/alice/bin/yoi"
  }),
  "fail-store": new Errors.StoreFailure({
    operation: "read",
    message: "EIO reading /var/lib/yoi/workers/events.jsonl"
  }),
  "fail-lagged": new Errors.SubscriberLagged({ lastDeliveredSeq: 4 }),
  "fail-unexpected": new SourceClient.UnexpectedAnswer({ runtimeId: "rt-remote", status: 500 })
}

const isVisible = (viewer: Policy.Viewer, workspace: string) => viewer.workspace === workspace

const findWorker = (
  viewer: Policy.Viewer,
  ref: Registry.WorkerRef
): Effect.Effect<Views.WorkerView, Registry.RegistryError> => {
  if (!runtimes.some((r) => r.runtimeId === ref.runtimeId)) {
    return Effect.fail(new RegistryErrors.UnknownRuntime({ runtimeId: ref.runtimeId }))
  }
  if (ref.workerId === "fail-defect") return Effect.die(new Error("kaboom at /srv/secret"))
  const failure = failures[ref.workerId]
  if (failure !== undefined) return Effect.fail(failure)
  const found = workers.find((w) => w.view.runtimeId === ref.runtimeId && w.view.workerId === ref.workerId)
  if (found === undefined) return Effect.fail(new Errors.WorkerNotFound({ workerId: ref.workerId }))
  if (!isVisible(viewer, found.workspace)) return Effect.fail(new RegistryErrors.WorkerNotVisible(ref))
  return Effect.succeed(found.view)
}

const findRuntime = (runtimeId: string): Effect.Effect<Views.RuntimeView, Registry.RegistryError> => {
  const found = runtimes.find((r) => r.runtimeId === runtimeId)
  return found === undefined ? Effect.fail(new RegistryErrors.UnknownRuntime({ runtimeId })) : Effect.succeed(found)
}

const events = (workerId: string): ReadonlyArray<RuntimeEvent.WorkerEvent> => [
  { _tag: "input_accepted", seq: 1, at: 10, runId: "r-1", inputId: "i-1", text: "hello" },
  { _tag: "run_started", seq: 2, at: 11, runId: "r-1", inputId: "i-1" },
  { _tag: "text_delta", seq: 3, at: 12, runId: "r-1", delta: `Hi from ${workerId}` },
  { _tag: "text_delta", seq: 4, at: 13, runId: "r-1", delta: "line one\nline two" },
  { _tag: "text_done", seq: 5, at: 14, runId: "r-1", text: `Hi from ${workerId}line one\nline two` }
]

const snapshot = (workerId: string): RuntimeEvent.WorkerSnapshot => ({
  _tag: "snapshot",
  workerId,
  status: "idle",
  lastSeq: 5,
  queueLength: 0,
  gap: false
})

const FakeRegistry = Layer.succeed(
  Registry.RuntimeRegistry,
  Registry.RuntimeRegistry.of({
    listRuntimes: () => Effect.succeed(runtimes),
    getRuntime: (_viewer, runtimeId) => findRuntime(runtimeId),
    listWorkers: (viewer, options) =>
      Effect.gen(function*() {
        if (options.runtimeId !== undefined) yield* findRuntime(options.runtimeId)
        const visible = workers
          .filter((w) => options.runtimeId === undefined || w.view.runtimeId === options.runtimeId)
          .filter((w) => isVisible(viewer, w.workspace))
          .filter((w) => options.status === undefined || w.view.status === options.status)
          .map((w) => w.view)
        return {
          workers: visible.slice(0, options.limit ?? 100),
          runtimes: runtimes
            .filter((r) => options.runtimeId === undefined || r.runtimeId === options.runtimeId)
            .map((r) => ({ runtimeId: r.runtimeId, state: r.state, diagnostics: r.diagnostics }))
        }
      }),
    getWorker: findWorker,
    createWorker: (_viewer, runtimeId, request) =>
      Effect.gen(function*() {
        yield* findRuntime(runtimeId)
        if (request.profile?.kind === "named") return yield* new Errors.InvalidProfile({ message: "at /home/alice" })
        const worker = { ...workerView(runtimeId, "w-new"), displayName: request.displayName ?? "unnamed" }
        return request.initialInput === undefined ? { worker } : {
          worker,
          input: { inputId: "i-new", runId: "r-new", status: "started" as const, transcriptSeq: 1, eventSeq: 2 }
        }
      }),
    sendInput: (viewer, ref, input) =>
      Effect.map(findWorker(viewer, ref), () => ({
        inputId: `i-${input.text}`,
        runId: `r-${input.whenBusy ?? "default"}-${input.idempotencyKey ?? "none"}`,
        status: input.whenBusy === "enqueue" ? "queued" as const : "started" as const,
        eventSeq: 6
      })),
    cancelRun: (viewer, ref, reason) =>
      Effect.map(findWorker(viewer, ref), () => ({ outcome: "cancelled" as const, runId: reason ?? "no-reason" })),
    stopWorker: (viewer, ref, reason) =>
      Effect.map(findWorker(viewer, ref), () => ({ outcome: "stopped" as const, droppedQueued: reason?.length ?? 0 })),
    getTranscript: (viewer, ref, query) =>
      Effect.map(findWorker(viewer, ref), () => ({
        entries: [{
          seq: query.after ?? 0,
          runId: `before-${query.before ?? "none"}`,
          kind: "user",
          text: `limit-${query.limit ?? "none"}`,
          at: 1
        }],
        total: 1,
        hasMore: false
      })),
    watchWorker: (viewer, ref, after) =>
      Stream.unwrap(Effect.map(findWorker(viewer, ref), () => {
        const replay = Stream.fromIterable([
          snapshot(ref.workerId),
          ...events(ref.workerId).filter((e) => e.seq > (after ?? 0))
        ])
        if (ref.workerId === "w-lag") {
          return Stream.concat(replay, Stream.fail(new Errors.SubscriberLagged({ lastDeliveredSeq: 5 })))
        }
        if (ref.workerId === "w-store") {
          return Stream.concat(replay, Stream.fail(failures["fail-store"]!))
        }
        return Stream.concat(replay, Stream.never)
      })),
    getUsage: (viewer, ref) =>
      Effect.map(findWorker(viewer, ref), () => ({
        runtimeId: ref.runtimeId,
        workerId: ref.workerId,
        usage: {
          inputTokens: 1,
          outputTokens: 2,
          cacheReadTokens: 3,
          reasoningTokens: 4,
          runs: 5,
          failures: 6,
          cancellations: 7
        }
      }))
  })
)

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers

/** A server over the fake registry on an ephemeral loopback port. */
const serverWith = (options: BrowserApi.Options) =>
  BrowserApi.layerServe(options).pipe(
    Layer.provide([FakeRegistry, BrowserViewer.ViewerResolver.layerHeaders]),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )

const TestServer = serverWith({ heartbeatInterval: "50 millis" }).pipe(Layer.provideMerge(FetchHttpClient.layer))

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => HttpServer.formatAddress(server.address))

const ws1 = { "x-yoi-viewer": "alice", "x-yoi-workspace": "ws-1" }
const ws2 = { "x-yoi-viewer": "bob", "x-yoi-workspace": "ws-2" }

interface Sent {
  readonly status: number
  readonly contentType: string | undefined
  readonly allow: string | undefined
  readonly text: string
}

/** Every response body seen by this file, scanned for runtime secrets once all tests ran. */
const seen: Array<string> = []
afterAll(() => {
  assert.isAbove(seen.length, 100)
  for (const text of seen) {
    for (const secret of secrets) assert.notInclude(text, secret)
  }
})

const send = (
  method: "GET" | "POST" | "DELETE" | "PUT",
  path: string,
  options: {
    readonly headers?: Record<string, string> | undefined
    readonly body?: string | undefined
    readonly contentType?: string | undefined
  } = {}
): Effect.Effect<Sent, unknown, HttpServer.HttpServer | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.make(method)(`${url}${path}`).pipe(
      HttpClientRequest.setHeaders(options.headers ?? ws1)
    )
    if (options.body !== undefined) {
      request = HttpClientRequest.bodyText(request, options.body, options.contentType ?? "application/json")
    }
    const response = yield* client.execute(request)
    const text = yield* response.text
    seen.push(text)
    assert.notStrictEqual(response.status, 500, `${method} ${path} answered 500: ${text}`)
    return {
      status: response.status,
      contentType: response.headers["content-type"],
      allow: response.headers["allow"],
      text
    }
  })

const json = (
  method: "GET" | "POST" | "DELETE" | "PUT",
  path: string,
  body?: unknown,
  headers?: Record<string, string>
) => send(method, path, { headers, body: body === undefined ? undefined : JSON.stringify(body) })

const decodeJson = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, sent: Sent): S["Type"] =>
  Schema.decodeUnknownSync(Schema.fromJsonString(schema))(sent.text)

/** Asserts the status and the exact error body. */
const assertError = (sent: Sent, status: number, code: BrowserErrors.Code, message?: string, label?: string) => {
  assert.strictEqual(sent.status, status, `${label ?? ""} ${sent.text}`)
  assert.match(sent.contentType ?? "", /^application\/json/)
  assert.deepStrictEqual(JSON.parse(sent.text), {
    error: { code, message: message ?? BrowserErrors.codes[code].message }
  })
}

const w1 = "/api/runtimes/rt-embedded/workers/w-1"
const workerRoute = (workerId: string, runtimeId = "rt-embedded") => `/api/runtimes/${runtimeId}/workers/${workerId}`

type Route = readonly ["GET" | "POST" | "DELETE", string]
/** The routes that take a runtime, host or Worker id, with `segment` as that id (in each place in turn). */
const idRoutes = (segment: string): ReadonlyArray<Route> => [
  ["GET", `/api/runtimes/${segment}`],
  ["GET", `/api/runtimes/${segment}/workers`],
  ["POST", `/api/runtimes/${segment}/workers`],
  ["GET", `/api/hosts/${segment}/workers`],
  ["GET", workerRoute(segment)],
  ["GET", workerRoute("w-1", segment)],
  ["POST", `${workerRoute(segment)}/input`]
]

/** Sends each request (a POST with a valid body) and asserts it is refused with 400 invalid_id. */
const assertInvalidId = (routes: ReadonlyArray<Route>) =>
  Effect.forEach(routes, ([method, path]) =>
    Effect.map(
      json(method, path, method === "POST" ? { text: "x" } : undefined),
      (sent) => assertError(sent, 400, "invalid_id", undefined, `${method} ${path}`)
    ), { discard: true })

/** Every route that names a Worker, as `(workerPath) => request`. */
const workerRoutes: ReadonlyArray<
  readonly [string, (path: string) => Effect.Effect<Sent, unknown, HttpServer.HttpServer | HttpClient.HttpClient>]
> = [
  ["GET worker", (path) => send("GET", path)],
  ["POST input", (path) => json("POST", `${path}/input`, { text: "hi" })],
  ["POST cancel", (path) => json("POST", `${path}/cancel`, {})],
  ["POST stop", (path) => json("POST", `${path}/stop`, {})],
  ["GET transcript", (path) => send("GET", `${path}/transcript`)],
  ["GET usage", (path) => send("GET", `${path}/usage`)]
]

// ---------------------------------------------------------------------------------------------------------------
// SSE helpers

interface Frame {
  readonly id?: string | undefined
  readonly event?: string | undefined
  readonly data?: string | undefined
  readonly comment?: string | undefined
}

/** Splits SSE text into frames (comments are frames of their own here). */
const parseFrames = (text: string): Array<Frame> =>
  text.split("\n\n").filter((block) => block.length > 0).map((block) => {
    const frame: { id?: string; event?: string; data?: string; comment?: string } = {}
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) frame.comment = line.slice(1).trim()
      else {
        const colon = line.indexOf(":")
        const field = line.slice(0, colon)
        const value = line.slice(colon + 1).replace(/^ /, "")
        if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`
        else if (field === "id") frame.id = value
        else if (field === "event") frame.event = value
      }
    }
    return frame
  })

const dataFrames = (text: string) => parseFrames(text).filter((f) => f.comment === undefined)

/** Opens the event stream and reads until `done` holds for the text so far (or the stream ends). */
const watch = (path: string, done: (text: string) => boolean, headers: Record<string, string> = ws1) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(
      HttpClientRequest.get(`${url}${path}`).pipe(
        HttpClientRequest.setHeaders(headers)
      )
    )
    assert.strictEqual(response.status, 200)
    assert.match(response.headers["content-type"] ?? "", /^text\/event-stream/)
    assert.strictEqual(response.headers["cache-control"], "no-cache")
    const text = yield* response.stream.pipe(
      Stream.decodeText(),
      Stream.scan(() => "", (acc: string, chunk: string) => acc + chunk),
      Stream.takeUntil(done),
      Stream.runLast,
      Effect.map(Option.getOrElse(() => "")),
      Effect.timeout("10 seconds")
    )
    seen.push(text)
    return text
  })

const hasFrames = (count: number) => (text: string) => dataFrames(text).length >= count

interface Operation {
  readonly parameters?: ReadonlyArray<
    { readonly in: string; readonly name: string; readonly schema: { pattern?: string } }
  >
}

// ---------------------------------------------------------------------------------------------------------------
// A raw client, for bodies no well-behaved client sends

/**
 * POSTs `path` with `headers` and a body that never ends: `prefix`, then (when `endless`) 64 KiB chunks for as long
 * as the server takes them. Whatever it answers, it answered before the body ended. `written` is how much body the
 * client had written when the answer was complete; `closed` completes once the server has closed the connection.
 */
const rawPost = (
  path: string,
  options: { readonly headers: Record<string, string>; readonly prefix: string; readonly endless: boolean }
) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const request = yield* Effect.acquireRelease(
      Effect.sync(() => httpRequest(`${url}${path}`, { method: "POST", headers: options.headers })),
      (request) => Effect.sync(() => request.destroy())
    )
    const closed = yield* Deferred.make<void>()
    let written = 0
    request.on("error", () => {})
    request.on("socket", (socket) => socket.on("close", () => Deferred.doneUnsafe(closed, Exit.void)))
    const chunk = Buffer.alloc(64 * 1024, "x")
    // writes while the socket takes data; backpressure pauses it until `drain`, the server's close ends it
    const pump = () => {
      while (!request.destroyed) {
        written += chunk.length
        if (!request.write(chunk)) return
      }
    }
    request.write(options.prefix)
    written += options.prefix.length
    if (options.endless) {
      request.on("drain", pump)
      pump()
    }
    const answer = yield* Effect.callback<{ readonly status: number; readonly text: string; readonly written: number }>(
      (resume) => {
        request.on("response", (response) => {
          let text = ""
          response.setEncoding("utf8")
          response.on("data", (data: string) => (text += data))
          response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text, written })))
        })
      }
    ).pipe(Effect.timeout("10 seconds"))
    seen.push(answer.text)
    return { ...answer, closed: Deferred.await(closed).pipe(Effect.timeout("10 seconds")) }
  })

// ---------------------------------------------------------------------------------------------------------------

layer(TestServer, { excludeTestServices: true })("browser API over HTTP", (it) => {
  describe("every route answers its view", () => {
    it.effect("runtimes", () =>
      Effect.gen(function*() {
        const list = yield* send("GET", "/api/runtimes")
        assert.strictEqual(list.status, 200)
        assert.deepStrictEqual(decodeJson(Schema.Array(Views.RuntimeView), list), runtimes)
        const one = yield* send("GET", "/api/runtimes/rt-remote")
        assert.strictEqual(one.status, 200)
        assert.deepStrictEqual(decodeJson(Views.RuntimeView, one), runtimes[1])
      }))

    it.effect("workers of a runtime, filtered by status and limit, only the viewer's", () =>
      Effect.gen(function*() {
        const all = decodeJson(Views.WorkerListView, yield* send("GET", "/api/runtimes/rt-embedded/workers"))
        assert.deepStrictEqual(all.workers.map((w) => w.workerId), ["w-1", "w-2", "w-lag", "w-store"])
        assert.deepStrictEqual(all.runtimes, [{ runtimeId: "rt-embedded", state: "available", diagnostics: [] }])
        const other = decodeJson(
          Views.WorkerListView,
          yield* send("GET", "/api/runtimes/rt-embedded/workers", { headers: ws2 })
        )
        assert.deepStrictEqual(other.workers.map((w) => w.workerId), ["w-hidden"])
        const running = decodeJson(
          Views.WorkerListView,
          yield* send("GET", "/api/runtimes/rt-embedded/workers?status=running")
        )
        assert.deepStrictEqual(running.workers.map((w) => w.workerId), ["w-2"])
        const limited = decodeJson(
          Views.WorkerListView,
          yield* send("GET", "/api/runtimes/rt-embedded/workers?limit=1")
        )
        assert.deepStrictEqual(limited.workers.map((w) => w.workerId), ["w-1"])
      }))

    it.effect("create a worker: 201 with the created view", () =>
      Effect.gen(function*() {
        const created = yield* json("POST", "/api/runtimes/rt-embedded/workers", {
          displayName: "Helper",
          profile: { kind: "builtin", name: "companion" },
          initialInput: { kind: "user", text: "hi" }
        })
        assert.strictEqual(created.status, 201)
        const view = decodeJson(Views.CreatedWorkerView, created)
        assert.strictEqual(view.worker.displayName, "Helper")
        assert.strictEqual(view.input?.runId, "r-new")
        const bare = yield* json("POST", "/api/runtimes/rt-embedded/workers", {})
        assert.strictEqual(bare.status, 201)
        assert.strictEqual(decodeJson(Views.CreatedWorkerView, bare).worker.displayName, "unnamed")
      }))

    it.effect("one worker", () =>
      Effect.gen(function*() {
        const got = yield* send("GET", w1)
        assert.strictEqual(got.status, 200)
        assert.deepStrictEqual(decodeJson(Views.WorkerView, got), workers[0]!.view)
      }))

    it.effect("input: 202 with the acceptance, options passed through", () =>
      Effect.gen(function*() {
        const sent = yield* json("POST", `${w1}/input`, { text: "hello", whenBusy: "enqueue", idempotencyKey: "k1" })
        assert.strictEqual(sent.status, 202)
        assert.deepStrictEqual(decodeJson(Views.InputAcceptedView, sent), {
          inputId: "i-hello",
          runId: "r-enqueue-k1",
          status: "queued",
          eventSeq: 6
        })
        const plain = decodeJson(Views.InputAcceptedView, yield* json("POST", `${w1}/input`, { text: "x" }))
        assert.strictEqual(plain.runId, "r-default-none")
      }))

    it.effect("cancel and stop, with a reason or with no body at all", () =>
      Effect.gen(function*() {
        const cancelled = yield* json("POST", `${w1}/cancel`, { reason: "user" })
        assert.strictEqual(cancelled.status, 200)
        assert.deepStrictEqual(decodeJson(Views.CancelView, cancelled), { outcome: "cancelled", runId: "user" })
        const noBody = yield* send("POST", `${w1}/cancel`)
        assert.strictEqual(noBody.status, 200)
        assert.deepStrictEqual(decodeJson(Views.CancelView, noBody), { outcome: "cancelled", runId: "no-reason" })
        const stopped = yield* json("POST", `${w1}/stop`, { reason: "done" })
        assert.strictEqual(stopped.status, 200)
        assert.deepStrictEqual(decodeJson(Views.StopView, stopped), { outcome: "stopped", droppedQueued: 4 })
        const stoppedNoBody = yield* send("POST", `${w1}/stop`)
        assert.deepStrictEqual(decodeJson(Views.StopView, stoppedNoBody), { outcome: "stopped", droppedQueued: 0 })
      }))

    it.effect("transcript with before/after/limit as numbers", () =>
      Effect.gen(function*() {
        const page = decodeJson(Views.TranscriptView, yield* send("GET", `${w1}/transcript?before=9&after=2&limit=50`))
        assert.deepStrictEqual(page.entries[0], { seq: 2, runId: "before-9", kind: "user", text: "limit-50", at: 1 })
        const bare = decodeJson(Views.TranscriptView, yield* send("GET", `${w1}/transcript`))
        assert.deepStrictEqual(bare.entries[0], {
          seq: 0,
          runId: "before-none",
          kind: "user",
          text: "limit-none",
          at: 1
        })
      }))

    it.effect("usage", () =>
      Effect.gen(function*() {
        const usage = decodeJson(Views.UsageReportView, yield* send("GET", `${w1}/usage`))
        assert.deepStrictEqual(usage, {
          runtimeId: "rt-embedded",
          workerId: "w-1",
          usage: {
            inputTokens: 1,
            outputTokens: 2,
            cacheReadTokens: 3,
            reasoningTokens: 4,
            runs: 5,
            failures: 6,
            cancellations: 7
          }
        })
      }))

    it.effect("hosts: one per runtime, kind from its implementation", () =>
      Effect.gen(function*() {
        const hosts = decodeJson(Schema.Array(Views.HostView), yield* send("GET", "/api/hosts"))
        assert.deepStrictEqual(hosts, [
          {
            hostId: "rt-embedded",
            displayName: "Runtime rt-embedded",
            kind: "embedded-worker-runtime-host",
            state: "available"
          },
          {
            hostId: "rt-remote",
            displayName: "Runtime rt-remote",
            kind: "remote-worker-runtime-host",
            state: "unavailable"
          },
          { hostId: "rt-legacy", displayName: "Runtime rt-legacy", kind: "local-pod-host", state: "available" }
        ])
      }))

    it.effect("all workers across runtimes, with every runtime's state (partial results)", () =>
      Effect.gen(function*() {
        const all = decodeJson(Views.WorkerListView, yield* send("GET", "/api/workers"))
        assert.deepStrictEqual(all.workers.map((w) => `${w.runtimeId}/${w.workerId}`), [
          "rt-embedded/w-1",
          "rt-embedded/w-2",
          "rt-embedded/w-lag",
          "rt-embedded/w-store",
          "rt-legacy/local-pod-1"
        ])
        assert.deepStrictEqual(all.runtimes.map((r) => [r.runtimeId, r.state]), [
          ["rt-embedded", "available"],
          ["rt-remote", "unavailable"],
          ["rt-legacy", "available"]
        ])
        const stopped = decodeJson(Views.WorkerListView, yield* send("GET", "/api/workers?status=stopped"))
        assert.deepStrictEqual(stopped.workers.map((w) => w.workerId), ["local-pod-1"])
      }))

    it.effect("workers of a host", () =>
      Effect.gen(function*() {
        const list = decodeJson(Views.WorkerListView, yield* send("GET", "/api/hosts/rt-legacy/workers"))
        assert.deepStrictEqual(list.workers.map((w) => w.workerId), ["local-pod-1"])
        assertError(yield* send("GET", "/api/hosts/rt-nope/workers"), 404, "not_found", "host not found")
      }))
  })

  describe("errors → HTTP", () => {
    const table: ReadonlyArray<readonly [string, number, BrowserErrors.Code, string?]> = [
      ["fail-invalid", 400, "invalid_request"],
      ["fail-profile", 400, "invalid_profile"],
      ["fail-cursor", 400, "cursor_out_of_range"],
      ["fail-unknown-worker", 404, "not_found", "worker not found"],
      ["w-nope", 404, "not_found", "worker not found"],
      ["w-hidden", 404, "not_found", "worker not found"],
      ["fail-busy", 409, "worker_busy"],
      ["fail-stopped", 409, "worker_stopped"],
      ["fail-queue", 409, "queue_full"],
      ["fail-scope", 409, "scope_conflict"],
      ["fail-unsupported", 501, "operation_unsupported"],
      ["fail-unauthorized", 502, "runtime_rejected"],
      ["fail-unreachable", 503, "runtime_unavailable"],
      ["fail-stopping", 503, "runtime_stopping"],
      ["fail-execution", 503, "execution_unavailable"],
      ["fail-store", 503, "runtime_error"],
      ["fail-unexpected", 503, "runtime_error"],
      ["fail-lagged", 503, "subscriber_lagged"],
      ["fail-defect", 503, "runtime_error"],
      ["fail-timeout", 504, "runtime_timeout"]
    ]
    for (const [workerId, status, code, message] of table) {
      it.effect(`${workerId} → ${status} ${code} on every worker route`, () =>
        Effect.gen(function*() {
          for (const [, call] of workerRoutes) {
            assertError(yield* call(workerRoute(workerId)), status, code, message)
          }
        }))
    }

    it.effect("a worker the viewer may not see is byte-identical to an unknown worker and an unknown runtime", () =>
      Effect.gen(function*() {
        for (const [label, call] of workerRoutes) {
          const hidden = yield* call(workerRoute("w-hidden"))
          const unknown = yield* call(workerRoute("w-nope"))
          const noRuntime = yield* call(workerRoute("w-1", "rt-nope"))
          assert.strictEqual(hidden.status, 404, label)
          assert.strictEqual(hidden.text, unknown.text, label)
          assert.strictEqual(hidden.text, noRuntime.text, label)
          assert.strictEqual(hidden.text, "{\"error\":{\"code\":\"not_found\",\"message\":\"worker not found\"}}")
        }
        const visibleToOwner = yield* send("GET", workerRoute("w-hidden"), { headers: ws2 })
        assert.strictEqual(visibleToOwner.status, 200)
      }))

    it.effect("an unknown runtime is 404 on runtime routes", () =>
      Effect.gen(function*() {
        assertError(yield* send("GET", "/api/runtimes/rt-nope"), 404, "not_found", "runtime not found")
        assertError(yield* send("GET", "/api/runtimes/rt-nope/workers"), 404, "not_found", "runtime not found")
        assertError(yield* json("POST", "/api/runtimes/rt-nope/workers", {}), 404, "not_found", "runtime not found")
      }))

    it.effect("an invalid profile on create is 400", () =>
      Effect.gen(function*() {
        const sent = yield* json("POST", "/api/runtimes/rt-embedded/workers", { profile: { kind: "named", name: "x" } })
        assertError(sent, 400, "invalid_profile")
      }))

    it.effect("bad bodies are 400, a non-JSON content type 415", () =>
      Effect.gen(function*() {
        assertError(yield* send("POST", `${w1}/input`, { body: "{not json" }), 400, "invalid_request")
        assertError(yield* json("POST", `${w1}/input`, { nottext: 1 }), 400, "invalid_request")
        assertError(yield* json("POST", `${w1}/input`, { text: 5 }), 400, "invalid_request")
        assertError(yield* json("POST", `${w1}/input`, { text: "x", whenBusy: "sometimes" }), 400, "invalid_request")
        assertError(yield* send("POST", `${w1}/input`), 400, "invalid_request")
        assertError(yield* json("POST", `${w1}/cancel`, { reason: 7 }), 400, "invalid_request")
        assertError(yield* json("POST", `${w1}/stop`, [1, 2]), 400, "invalid_request")
        assertError(yield* send("POST", "/api/runtimes/rt-embedded/workers", { body: "nope" }), 400, "invalid_request")
        assertError(
          yield* send("POST", `${w1}/input`, { body: "{\"text\":\"x\"}", contentType: "text/plain" }),
          415,
          "unsupported_media_type"
        )
      }))

    it.effect("bad query parameters are 400", () =>
      Effect.gen(function*() {
        for (
          const query of [
            "limit=0",
            "limit=201",
            "limit=abc",
            "before=-1",
            "after=1.5",
            "after=x"
          ]
        ) {
          assertError(yield* send("GET", `${w1}/transcript?${query}`), 400, "invalid_request")
        }
        assertError(yield* send("GET", "/api/runtimes/rt-embedded/workers?status=sleeping"), 400, "invalid_request")
        assertError(yield* send("GET", "/api/workers?limit=1000"), 400, "invalid_request")
      }))

    it.effect("unknown routes are 404 with the error body, under /api and (layerServe) outside it", () =>
      Effect.gen(function*() {
        for (
          const [method, path] of [
            ["GET", "/api/nope"],
            ["GET", "/api"],
            ["GET", "/api/"],
            ["GET", `${w1}/bogus`],
            ["POST", `${w1}/bogus`],
            ["GET", "/api/runtimes/rt-embedded/workers/w-1/input/more"],
            ["GET", "/not-api"],
            ["POST", "/"],
            ["DELETE", "/apis/runtimes"]
          ] as const
        ) {
          const sent = yield* send(method, path)
          assertError(sent, 404, "not_found", undefined, `${method} ${path}`)
          assert.isUndefined(sent.allow)
        }
      }))

    it.effect("a known route with another method is 405 with Allow, before the viewer is resolved", () =>
      Effect.gen(function*() {
        for (
          const [method, path, allow] of [
            ["DELETE", "/api/runtimes", "GET"],
            ["PUT", w1, "GET"],
            ["DELETE", "/api/runtimes/rt-embedded/workers", "GET, POST"],
            ["GET", `${w1}/input`, "POST"],
            ["PUT", `${w1}/cancel`, "POST"],
            ["POST", `${w1}/events`, "GET"],
            ["POST", "/api/hosts/rt-legacy/workers", "GET"],
            ["DELETE", BrowserHttpApi.openApiPath, "GET"]
          ] as const
        ) {
          for (const headers of [ws1, {}]) {
            const sent = yield* send(method, path, { headers })
            assertError(sent, 405, "method_not_allowed", undefined, `${method} ${path}`)
            assert.strictEqual(sent.allow, allow, `${method} ${path}`)
          }
        }
      }))
  })

  describe("body limit", () => {
    const jsonHeaders = { ...ws1, "content-type": "application/json" }
    const tooLarge = JSON.stringify(BrowserErrors.errorBody("payload_too_large"))

    it.effect("a Content-Length over the limit is 413 before the body is sent, and the connection is closed", () =>
      Effect.gen(function*() {
        const sent = yield* rawPost(`${w1}/input`, {
          headers: { ...jsonHeaders, "content-length": String(64 * 1024 * 1024) },
          prefix: "{\"text\":\"",
          endless: false
        })
        assert.strictEqual(sent.status, 413)
        assert.strictEqual(sent.text, tooLarge)
        yield* sent.closed
      }))

    it.effect("a body that never ends is 413 once it crosses the limit, and the server stops reading it", () =>
      Effect.gen(function*() {
        const sent = yield* rawPost(`${w1}/input`, { headers: jsonHeaders, prefix: "{\"text\":\"", endless: true })
        assert.strictEqual(sent.status, 413)
        assert.strictEqual(sent.text, tooLarge)
        yield* sent.closed
        // what the client got into the socket buffers before the close, not a body read to its end
        assert.isBelow(sent.written, 32 * 1024 * 1024)
      }))

    it.effect("the default limit is 1 MiB: a body just over it is 413 on every route with a body, one under it is read", () =>
      Effect.gen(function*() {
        const over = JSON.stringify({ text: "x".repeat(1024 * 1024) })
        for (const path of [`${w1}/input`, `${w1}/cancel`, `${w1}/stop`, "/api/runtimes/rt-embedded/workers"]) {
          assertError(yield* send("POST", path, { body: over }), 413, "payload_too_large", undefined, path)
        }
        const under = yield* json("POST", `${w1}/input`, { text: "y".repeat(1024 * 1024 - 100) })
        assert.strictEqual(under.status, 202)
      }))

    it.effect("the limit is the maxBodySize option", () =>
      Effect.gen(function*() {
        assertError(yield* json("POST", `${w1}/input`, { text: "x".repeat(5000) }), 413, "payload_too_large")
        assert.strictEqual((yield* json("POST", `${w1}/input`, { text: "x".repeat(3000) })).status, 202)
        const endless = yield* rawPost(`${w1}/input`, { headers: jsonHeaders, prefix: "{\"text\":\"", endless: true })
        assert.strictEqual(endless.status, 413)
      }).pipe(Effect.provide(serverWith({ maxBodySize: "4 KiB" }))))
  })

  describe("ids", () => {
    const invalid = [
      "bad id",
      "-leading",
      "_leading",
      "a.b",
      "...",
      "a/b",
      "x".repeat(121),
      "y".repeat(300),
      "w\u00e9",
      "semi;colon"
    ]
    it.effect("an invalid runtime, worker or host id is 400 on every route", () =>
      Effect.gen(function*() {
        for (const id of invalid) {
          const segment = encodeURIComponent(id)
          yield* assertInvalidId([
            ...idRoutes(segment),
            ["POST", `${workerRoute(segment)}/cancel`],
            ["POST", `${workerRoute(segment)}/stop`],
            ["GET", `${workerRoute(segment)}/transcript`],
            ["GET", `${workerRoute(segment)}/usage`],
            ["GET", `${workerRoute(segment)}/events`]
          ])
        }
      }))

    it.effect("malformed percent-encoding in an id is 400 invalid_id, on every route and method", () =>
      Effect.gen(function*() {
        for (const segment of ["%zz", "%", "%FF", "%C0%AE", "w%2", "%E2%82"]) {
          yield* assertInvalidId([
            ...idRoutes(segment),
            ["GET", `${workerRoute(segment)}/events`],
            ["DELETE", workerRoute(segment)]
          ])
        }
      }))

    it.effect("the longest valid id (120 characters) is routed", () =>
      Effect.gen(function*() {
        const longest = `r${"x".repeat(119)}`
        assertError(yield* send("GET", `/api/runtimes/${longest}`), 404, "not_found", "runtime not found")
        assertError(yield* send("GET", workerRoute(longest)), 404, "not_found", "worker not found")
      }))
  })

  describe("viewer", () => {
    const routes: ReadonlyArray<readonly ["GET" | "POST", string]> = [
      ["GET", "/api/runtimes"],
      ["GET", "/api/runtimes/rt-embedded"],
      ["GET", "/api/runtimes/rt-embedded/workers"],
      ["POST", "/api/runtimes/rt-embedded/workers"],
      ["GET", w1],
      ["POST", `${w1}/input`],
      ["POST", `${w1}/cancel`],
      ["POST", `${w1}/stop`],
      ["GET", `${w1}/transcript`],
      ["GET", `${w1}/usage`],
      ["GET", `${w1}/events`],
      ["GET", "/api/hosts"],
      ["GET", "/api/workers"],
      ["GET", "/api/hosts/rt-embedded/workers"],
      ["GET", "/api/runtimes/bad%20id"]
    ]
    for (
      const [label, headers] of [
        ["no headers", {}],
        ["no workspace", { "x-yoi-viewer": "alice" }],
        ["no viewer", { "x-yoi-workspace": "ws-1" }],
        ["empty viewer", { "x-yoi-viewer": "", "x-yoi-workspace": "ws-1" }]
      ] as const
    ) {
      it.effect(`${label} → 401 on every route, before anything else`, () =>
        Effect.gen(function*() {
          for (const [method, path] of routes) {
            const sent = yield* send(method, path, {
              headers,
              body: method === "POST" ? "{\"text\":\"x\"}" : undefined
            })
            assertError(sent, 401, "unauthenticated")
          }
        }))
    }
  })

  describe("events (SSE)", () => {
    it.effect("a snapshot without id, then events with id = seq, event = _tag, data = JSON", () =>
      Effect.gen(function*() {
        const text = yield* watch(`${w1}/events`, hasFrames(6))
        const frames = dataFrames(text)
        assert.deepStrictEqual(frames[0], {
          event: "snapshot",
          data: JSON.stringify(snapshot("w-1"))
        })
        assert.deepStrictEqual(frames.slice(1).map((f) => f.id), ["1", "2", "3", "4", "5"])
        assert.deepStrictEqual(frames.slice(1).map((f) => f.event), [
          "input_accepted",
          "run_started",
          "text_delta",
          "text_delta",
          "text_done"
        ])
        assert.deepStrictEqual(frames.slice(1).map((f) => JSON.parse(f.data ?? "null")), [...events("w-1")])
      }))

    it.effect("Last-Event-ID resumes after that seq", () =>
      Effect.gen(function*() {
        const text = yield* watch(`${w1}/events`, hasFrames(3), { ...ws1, "last-event-id": "3" })
        const frames = dataFrames(text)
        assert.strictEqual(frames[0]?.event, "snapshot")
        assert.deepStrictEqual(frames.slice(1).map((f) => f.id), ["4", "5"])
        // the header wins over the query
        const both = yield* watch(`${w1}/events?after=1`, hasFrames(2), { ...ws1, "last-event-id": "4" })
        assert.deepStrictEqual(dataFrames(both).slice(1).map((f) => f.id), ["5"])
      }))

    it.effect("?after= resumes too", () =>
      Effect.gen(function*() {
        const text = yield* watch(`${w1}/events?after=2`, hasFrames(4))
        assert.deepStrictEqual(dataFrames(text).slice(1).map((f) => f.id), ["3", "4", "5"])
      }))

    it.effect("an idle stream stays open with keep-alive comments", () =>
      Effect.gen(function*() {
        const text = yield* watch(
          `${w1}/events`,
          (t) => parseFrames(t).filter((f) => f.comment === "keep-alive").length >= 3
        )
        assert.include(text, ": keep-alive\n\n")
        assert.strictEqual(dataFrames(text).length, 6)
      }))

    it.effect("a lagging subscriber gets a final error frame, then the stream ends", () =>
      Effect.gen(function*() {
        const text = yield* watch(`${workerRoute("w-lag")}/events`, () => false)
        const frames = dataFrames(text)
        assert.deepStrictEqual(frames.at(-1), {
          event: "error",
          data: JSON.stringify({ code: "subscriber_lagged", message: BrowserErrors.codes.subscriber_lagged.message })
        })
        assert.deepStrictEqual(frames.slice(1, -1).map((f) => f.id), ["1", "2", "3", "4", "5"])
      }))

    it.effect("a runtime error mid-stream is a sanitized error frame", () =>
      Effect.gen(function*() {
        const text = yield* watch(`${workerRoute("w-store")}/events`, () => false)
        assert.deepStrictEqual(dataFrames(text).at(-1), {
          event: "error",
          data: JSON.stringify({ code: "runtime_error", message: BrowserErrors.codes.runtime_error.message })
        })
      }))

    it.effect("a stream that cannot start is a plain HTTP error", () =>
      Effect.gen(function*() {
        const hidden = yield* send("GET", `${workerRoute("w-hidden")}/events`)
        const unknown = yield* send("GET", `${workerRoute("w-nope")}/events`)
        assertError(hidden, 404, "not_found", "worker not found")
        assert.strictEqual(hidden.text, unknown.text)
        assertError(yield* send("GET", `${workerRoute("w-1", "rt-nope")}/events`), 404, "not_found", "worker not found")
        assertError(yield* send("GET", `${workerRoute("fail-unsupported")}/events`), 501, "operation_unsupported")
        assertError(yield* send("GET", `${workerRoute("fail-timeout")}/events`), 504, "runtime_timeout")
        assertError(yield* send("GET", `${workerRoute("fail-defect")}/events`), 503, "runtime_error")
      }))

    it.effect("a malformed cursor is 400", () =>
      Effect.gen(function*() {
        for (const cursor of ["abc", "-1", "1.5", "99999999999999999999"]) {
          assertError(
            yield* send("GET", `${w1}/events`, { headers: { ...ws1, "last-event-id": cursor } }),
            400,
            "invalid_request"
          )
          assertError(yield* send("GET", `${w1}/events?after=${cursor}`), 400, "invalid_request")
        }
        assertError(yield* send("GET", `${w1}/events?after=1&after=2`), 400, "invalid_request")
      }))
  })

  describe("OpenAPI", () => {
    it.effect("the document is served and lists every route", () =>
      Effect.gen(function*() {
        const sent = yield* send("GET", BrowserHttpApi.openApiPath)
        assert.strictEqual(sent.status, 200)
        const spec = JSON.parse(sent.text)
        assert.strictEqual(spec.info.title, "Yoi Worker Runtime — browser API")
        const expected: Record<string, ReadonlyArray<string>> = {
          "/api/runtimes": ["get"],
          "/api/runtimes/{runtimeId}": ["get"],
          "/api/runtimes/{runtimeId}/workers": ["get", "post"],
          "/api/runtimes/{runtimeId}/workers/{workerId}": ["get"],
          "/api/runtimes/{runtimeId}/workers/{workerId}/input": ["post"],
          "/api/runtimes/{runtimeId}/workers/{workerId}/cancel": ["post"],
          "/api/runtimes/{runtimeId}/workers/{workerId}/stop": ["post"],
          "/api/runtimes/{runtimeId}/workers/{workerId}/transcript": ["get"],
          "/api/runtimes/{runtimeId}/workers/{workerId}/usage": ["get"],
          "/api/runtimes/{runtimeId}/workers/{workerId}/events": ["get"],
          "/api/hosts": ["get"],
          "/api/workers": ["get"],
          "/api/hosts/{hostId}/workers": ["get"]
        }
        assert.deepStrictEqual(Object.keys(spec.paths).sort(), Object.keys(expected).sort())
        for (const [path, methods] of Object.entries(expected)) {
          assert.deepStrictEqual(Object.keys(spec.paths[path]).sort(), [...methods].sort(), path)
        }
        const getWorker = spec.paths["/api/runtimes/{runtimeId}/workers/{workerId}"].get
        assert.includeMembers(Object.keys(getWorker.responses), ["200", "400", "401", "404", "409", "503"])
        for (
          const path of [
            "/workers",
            "/workers/{workerId}/input",
            "/workers/{workerId}/cancel",
            "/workers/{workerId}/stop"
          ]
        ) {
          const post = spec.paths[`/api/runtimes/{runtimeId}${path}`].post
          assert.includeMembers(Object.keys(post.responses), ["400", "401", "404", "413", "415"], path)
        }
        const events = spec.paths["/api/runtimes/{runtimeId}/workers/{workerId}/events"].get
        assert.property(events.responses["200"].content, "text/event-stream")
        for (const [path, item] of Object.entries<Record<string, Operation>>(spec.paths)) {
          for (const operation of Object.values(item)) {
            for (const parameter of operation.parameters ?? []) {
              if (parameter.in !== "path") continue
              assert.include(["runtimeId", "workerId", "hostId"], parameter.name, path)
              assert.strictEqual(parameter.schema.pattern, "^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$", path)
            }
          }
        }
        // safety by construction: no response schema has a field for an address, a token or a path
        const schemas = JSON.stringify([spec.components, ...Object.values(spec.paths)])
        for (const field of ["url", "token", "path", "socket", "pid", "endpoint", "credential", "password"]) {
          assert.notMatch(schemas, new RegExp(`"${field}"\\s*:`, "i"), field)
        }
      }))
  })
})

/** A backend that serves `layerRoutes` next to its own routes, one of them under `/api`. */
const BackendServer = HttpRouter.serve(
  Layer.mergeAll(
    BrowserApi.layerRoutes(),
    HttpRouter.add("GET", "/app", HttpServerResponse.text("the backend's page")),
    HttpRouter.add("GET", "/api/session", HttpServerResponse.jsonUnsafe({ session: "the backend's" }))
  ),
  { disableLogger: true, disableListenLog: true, routerConfig: BrowserApi.routerConfig }
).pipe(
  Layer.provide([FakeRegistry, BrowserViewer.ViewerResolver.layerHeaders]),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(FetchHttpClient.layer)
)

layer(BackendServer, { excludeTestServices: true })("layerRoutes next to a backend's own routes", (it) => {
  it.effect("the backend's routes and its own 404 stay its own; unrouted /api requests get the error body", () =>
    Effect.gen(function*() {
      const page = yield* send("GET", "/app")
      assert.deepStrictEqual([page.status, page.text], [200, "the backend's page"])
      const session = yield* send("GET", "/api/session")
      assert.deepStrictEqual([session.status, session.text], [200, "{\"session\":\"the backend's\"}"])
      const elsewhere = yield* send("GET", "/elsewhere")
      assert.deepStrictEqual([elsewhere.status, elsewhere.text], [404, ""])
      assert.strictEqual((yield* send("GET", "/api/runtimes")).status, 200)
      assertError(yield* send("GET", "/api/nope"), 404, "not_found")
      assertError(yield* send("PUT", "/api/runtimes"), 405, "method_not_allowed")
      assertError(yield* send("GET", "/api/runtimes/%zz"), 400, "invalid_id")
    }))
})
