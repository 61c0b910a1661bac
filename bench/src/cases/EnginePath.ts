/**
 * Case 9 — the engine path on a real llama.cpp server (`LlamaServer` test support: the tiny model answers
 * "Hello from a real llama.cpp server." to any prompt; `/loop` streams " tick tock" until `max_tokens`).
 *
 * Subject: a turn through the embedded client of a memory Runtime (`RuntimePresets.layerMemory`) on
 * `OpenAiCompatLlmEngine`: `SendInput`, then `WatchWorker` until the first `text_delta` (first token) and until
 * `run_finished` (whole turn), on a fresh Worker each time (created outside the timer). Baseline: the engine's own
 * request body, byte for byte (captured once through the proxy below), POSTed with `fetch` to the same llama-server
 * and read by hand until the first SSE chunk with content and until `[DONE]`. Context: the engine alone (its stream
 * drained, no Runtime), which splits the difference into engine and Runtime. Each round runs the three once, in
 * rotating order; the short and the 200-token reply each have their own block, so llama-server's prompt cache serves
 * every request alike.
 *
 * SendInput → the provider request: a loopback `node:http` proxy in front of llama-server stamps each request when
 * its headers arrive and when the first content of its reply passes back. Two more Runtimes (memory and filesystem
 * store) run their engine through it, their `WorkerStore` and `EventBus` wrapped to stamp the commit carrying
 * `input_accepted` (start, done), that event's publication and the run's history read; everything shares this
 * process's `performance.now()`. Baseline: a bare `fetch` of the same body through the same proxy.
 */
import { NodeServices } from "@effect/platform-node"
import {
  FileSystemLiveAllocation,
  FileSystemWorkerStore,
  MemoryEventBus,
  MemoryLiveAllocation,
  MemoryWorkerStore,
  OpenAiCompatLlmEngine
} from "@yoi/adapters"
import * as LlamaServer from "@yoi/adapters/test/support/llamaServer"
import {
  EventBus,
  type LiveAllocation,
  type LlmEngine,
  LlmProviders,
  RuntimeClient,
  type RuntimeEvent,
  WorkerExecution,
  WorkerStore
} from "@yoi/domain"
import { EmbeddedRuntimeClient, Profiles, Runtime, RuntimeConfig, RuntimePresets } from "@yoi/runtime"
import { Context, Effect, FileSystem, Layer, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { spawn } from "node:child_process"
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import { createServer, request as httpRequest } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { type CaseOptions, type CaseResult, type Row, row } from "../CaseResult.ts"
import { deadline, now, round } from "../support/Measure.ts"

const setupScript = fileURLToPath(new URL("../../../scripts/llama-server-setup", import.meta.url))

const model = "tiny"
const shortInput = "hello"
const loopInput = "/loop"
/** `max_tokens` of every request (the engine's `maxOutputTokens`): the short reply ends well before it. */
const longTokens = 200
const expectedShort = "Hello from a real llama.cpp server."

/**
 * The harness's one-off preparation: installs llama-server (`scripts/llama-server-setup`, quick once installed)
 * before the case's timer starts. A problem is only reported here; the case then fails on it.
 */
export const ensureLlamaServer = (): Promise<string | null> =>
  new Promise((resolve) => {
    const child = spawn(setupScript, [], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", (error) => resolve(`cannot run scripts/llama-server-setup: ${error.message}`))
    child.on("exit", (code, signal) =>
      resolve(
        code === 0
          ? null
          : `scripts/llama-server-setup failed (exit ${code ?? signal}): ${stderr.trim().split("\n").at(-1) ?? ""}`
      ))
  })

// ---- measuring ---------------------------------------------------------------------------------------------------

/** The `q` quantile by nearest rank (as `Measure.summarize`). */
const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = Float64Array.from(values).sort()
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
const p50 = (values: ReadonlyArray<number>) => quantile(values, 0.5)
const p90 = (values: ReadonlyArray<number>) => quantile(values, 0.9)

// ---- the baseline: fetch straight to llama-server ----------------------------------------------------------------

interface Reply {
  /** ms from the request to the first content, to the end (`[DONE]` / `run_finished`). */
  readonly firstMs: number
  readonly totalMs: number
  readonly text: string
}

const headers = { "content-type": "application/json", accept: "text/event-stream" }

/** Reads a chat-completions SSE byte stream by hand: `onContent` for each chunk's text, `onDone` at `[DONE]`. */
const sseReader = (onContent: (text: string) => void, onDone: () => void) => {
  const decoder = new TextDecoder()
  let carry = ""
  return (chunk: Uint8Array): void => {
    carry += decoder.decode(chunk, { stream: true })
    for (let end = carry.indexOf("\n"); end !== -1; end = carry.indexOf("\n")) {
      const line = carry.slice(0, end).trim()
      carry = carry.slice(end + 1)
      if (!line.startsWith("data:")) continue
      const data = line.slice(5).trim()
      if (data === "[DONE]") {
        onDone()
        continue
      }
      const content = (JSON.parse(data) as { choices?: Array<{ delta?: { content?: string | null } }> })
        .choices?.[0]?.delta?.content
      if (content) onContent(content)
    }
  }
}

/** POSTs `body` and reads the reply with `sseReader`; `onStart` runs just before `fetch`. */
const fetchReply = async (url: string, body: string, onStart: () => void = () => {}): Promise<Reply> => {
  onStart()
  const start = now()
  const response = await fetch(url, { method: "POST", headers, body })
  if (response.status !== 200 || response.body === null) throw new Error(`llama-server answered ${response.status}`)
  let first = Number.NaN
  let done = Number.NaN
  let text = ""
  const read = sseReader((content) => {
    if (Number.isNaN(first)) first = now()
    text += content
  }, () => (done = now()))
  for await (const chunk of response.body) read(chunk)
  if (Number.isNaN(done)) throw new Error("llama-server's stream ended without [DONE]")
  return { firstMs: first - start, totalMs: done - start, text }
}

// ---- the proxy: when a request's headers arrive, when its first content passes --------------------------------

interface Arrival {
  readonly at: number
  body: string
  /** When the first chunk with content passed through, on its way back. */
  firstContent?: number
}

interface Proxy {
  readonly baseUrl: string
  readonly url: string
  readonly arrivals: Array<Arrival>
  readonly connections: () => number
}

/**
 * A loopback forwarding proxy to `origin` for the scope, stamping `now()` when each request's headers arrive and
 * when the first chunk of its reply with content passes through.
 */
const proxyScoped = (origin: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Proxy & { readonly close: () => Promise<void> }>((resolve, reject) => {
        const arrivals: Array<Arrival> = []
        let connections = 0
        const server = createServer({ keepAlive: true }, (request, response) => {
          const arrival: Arrival = { at: now(), body: "" }
          arrivals.push(arrival)
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => (arrival.body = Buffer.concat(chunks).toString("utf8")))
          const forward = httpRequest(
            `${origin}${request.url ?? "/"}`,
            // a fresh upstream connection each time: llama-server closes one after each streamed reply while
            // announcing keep-alive, so a reused one can be dead already
            { method: request.method, headers: request.headers, agent: false },
            (reply) => {
              response.writeHead(reply.statusCode ?? 502, reply.headers)
              const read = sseReader(() => (arrival.firstContent ??= now()), () => {})
              reply.on("data", (chunk: Buffer) => {
                if (arrival.firstContent === undefined) read(chunk)
              })
              reply.pipe(response)
            }
          )
          forward.on("error", () => response.destroy())
          request.pipe(forward)
        })
        server.on("connection", () => connections++)
        server.once("error", reject)
        server.listen(0, "127.0.0.1", () => {
          const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
          resolve({
            url,
            baseUrl: `${url}/v1`,
            arrivals,
            connections: () => connections,
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              })
          })
        })
      })
    ),
    (proxy) => Effect.promise(() => proxy.close())
  )

// ---- stamped Runtimes: the input's commit, its first event, the run's history read ------------------------------

interface Stamps {
  commitStart?: number
  commitDone?: number
  published?: number
  historyRead?: number
}

const isInputCommit = (change: WorkerStore.WorkerChange) =>
  change.events?.some((event) => event._tag === "input_accepted") === true

/**
 * `Runtime.layerNoDeps` wired as `RuntimePresets` wires it, with the store and the bus wrapped to stamp, per
 * Worker, the commit carrying `input_accepted`, that event's publication and the run's history read.
 */
const stampedRuntime = <E, R>(
  store: Layer.Layer<WorkerStore.WorkerStore, E, R>,
  allocation: Layer.Layer<LiveAllocation.LiveAllocation, E, R>,
  providers: Layer.Layer<LlmProviders.LlmProviders>,
  stamps: Map<string, Stamps>
) => {
  const stampsOf = (workerId: string) => {
    let found = stamps.get(workerId)
    if (found === undefined) stamps.set(workerId, found = {})
    return found
  }
  const stampedStore = Layer.effect(
    WorkerStore.WorkerStore,
    Effect.map(Effect.service(WorkerStore.WorkerStore), (inner) =>
      WorkerStore.WorkerStore.of({
        ...inner,
        commit: (workerId, change) =>
          isInputCommit(change)
            ? Effect.suspend(() => {
              stampsOf(workerId).commitStart = now()
              return Effect.tap(inner.commit(workerId, change), () =>
                Effect.sync(() => {
                  stampsOf(workerId).commitDone = now()
                }))
            })
            : inner.commit(workerId, change),
        readTranscript: (workerId, query) =>
          Effect.tap(inner.readTranscript(workerId, query), () =>
            Effect.sync(() => {
              const found = stampsOf(workerId)
              if (found.commitDone !== undefined && found.historyRead === undefined) found.historyRead = now()
            }))
      }))
  ).pipe(Layer.provide(store))
  const stampedBus = Layer.effect(
    EventBus.EventBus,
    Effect.map(Effect.service(EventBus.EventBus), (inner) =>
      EventBus.EventBus.of({
        ...inner,
        publish: (workerId, event) =>
          event._tag === "input_accepted"
            ? Effect.suspend(() => {
              stampsOf(workerId).published ??= now()
              return inner.publish(workerId, event)
            })
            : inner.publish(workerId, event)
      }))
  ).pipe(Layer.provide(MemoryEventBus.layer({ replay: 1024 })))
  return Runtime.layerNoDeps({ runtimeId: "bench", replayBuffer: RuntimeConfig.defaultReplayBuffer }).pipe(
    Layer.provide([
      stampedStore,
      allocation,
      stampedBus,
      WorkerExecution.layerProviders.pipe(Layer.provideMerge(providers))
    ])
  )
}

interface Client {
  readonly label: string
  readonly api: RuntimeClient.RuntimeClientApi
}

/** The embedded client of `runtime`, for the scope. */
const clientOf = <E, R>(label: string, runtime: Layer.Layer<Runtime.Runtime, E, R>) =>
  Effect.map(
    Layer.build(EmbeddedRuntimeClient.layer.pipe(Layer.provide(runtime))),
    (context): Client => ({ label, api: Context.get(context, RuntimeClient.RuntimeClient) })
  )

// ---- the subject: one turn through the embedded client -----------------------------------------------------------

interface Turn extends Reply {
  readonly workerId: string
  /** `now()` just before `SendInput`, and when its answer came back. */
  readonly start: number
  readonly answered: number
}

const isEnd = (item: RuntimeEvent.WorkerWatchItem) =>
  item._tag === "run_finished" || item._tag === "run_failed" || item._tag === "run_cancelled"

/** A fresh Worker (not timed), then `SendInput` + `WatchWorker` until the run ends; a run that fails is a defect. */
const turn = (client: Client, text: string) =>
  Effect.gen(function*() {
    const { worker } = yield* client.api.CreateWorker({ profile: { kind: "builtin", name: "companion" } })
    const workerId = worker.ref.workerId
    const start = now()
    const accepted = yield* client.api.SendInput({ workerId, input: { kind: "user", text } })
    const answered = now()
    let first = Number.NaN
    let reply = ""
    let end: RuntimeEvent.WorkerWatchItem | undefined
    yield* client.api.WatchWorker({ workerId, after: accepted.eventSeq - 1 }).pipe(
      Stream.takeUntil(isEnd),
      Stream.runForEachArray((items) =>
        Effect.sync(() => {
          const at = now()
          for (const item of items) {
            if (item._tag === "text_delta") {
              if (Number.isNaN(first)) first = at
              reply += item.delta
            } else if (isEnd(item)) end = item
          }
        })
      )
    )
    const finished = now()
    if (end?._tag !== "run_finished") {
      return yield* Effect.die(
        new Error(
          `bench 9: a ${JSON.stringify(text)} run on the ${client.label} Runtime did not finish: ${JSON.stringify(end)}`
        )
      )
    }
    return { workerId, start, answered, firstMs: first - start, totalMs: finished - start, text: reply } satisfies Turn
  }).pipe(Effect.orDie)

/** Every reply of a block must be the same text, or the paths did not do the same work. */
const sameReply = (text: string, replies: ReadonlyArray<Reply>) =>
  Effect.suspend(() => {
    const texts = new Set(replies.map((reply) => reply.text))
    return texts.size === 1
      ? Effect.void
      : Effect.die(new Error(`bench 9: the replies to ${text} differ: ${JSON.stringify([...texts])}`))
  })

/** The engine's stream drained directly (no Runtime), timed like a turn. */
const engineTurn = (engine: LlmEngine.LlmEngine["Service"], text: string) =>
  Effect.suspend(() => {
    const start = now()
    let first = Number.NaN
    let reply = ""
    return engine.stream({
      workerId: "w_bench",
      runId: "r_bench",
      profile: Profiles.companion,
      model,
      history: [],
      input: text
    }).pipe(
      Stream.runForEachArray((events) =>
        Effect.sync(() => {
          const at = now()
          for (const event of events) {
            if (event._tag !== "text_delta") continue
            if (Number.isNaN(first)) first = at
            reply += event.delta
          }
        })
      ),
      Effect.map((): Reply => ({ firstMs: first - start, totalMs: now() - start, text: reply })),
      Effect.orDie
    )
  })

// ---- the case ------------------------------------------------------------------------------------------------------

/** One request through the proxy, in µs after the request was made (`fetch`, `SendInput`). */
interface Leg {
  /** Its headers arrived at the proxy. */
  readonly arrival: number
  /** The reply's first content passed the proxy. */
  readonly firstContent: number
  /** The client had its first content (the SSE chunk; the `text_delta`). */
  readonly firstToken: number
}

interface Timeline extends Leg {
  readonly commitStart: number
  readonly commitDone: number
  readonly published: number
  readonly historyRead: number
  readonly answered: number
}

const of = <T>(items: ReadonlyArray<T>, f: (item: T) => number) => items.map(f)
/** llama-server's own time to the first content, as the proxy sees it. */
const llamaTime = (leg: Leg) => leg.firstContent - leg.arrival
/** From the first content passing the proxy to the client having it. */
const delivery = (leg: Leg) => leg.firstToken - leg.firstContent
/** Below 0: the request left before the input's commit completed. */
const gap = (t: Timeline) => t.arrival - t.commitDone

const engineOptions = (baseUrl: string): OpenAiCompatLlmEngine.Options => ({
  name: "llama",
  baseUrl,
  model,
  maxOutputTokens: longTokens,
  // a retry would hide a failure inside a figure; a failed run crashes the case instead
  policy: { maxRetries: 0 }
})

const engineLayer = (baseUrl: string) =>
  OpenAiCompatLlmEngine.layer(engineOptions(baseUrl)).pipe(Layer.provide(FetchHttpClient.layer))

const engineAlone = (baseUrl: string) =>
  OpenAiCompatLlmEngine.make(engineOptions(baseUrl)).pipe(Effect.provide(FetchHttpClient.layer))

/** "p50 (p90)" of `f` over `items`, in whole µs. */
const spread = <T>(items: ReadonlyArray<T>, f: (item: T) => number) =>
  `${round(p50(of(items, f)), 0)} (${round(p90(of(items, f)), 0)})`

/** A note: the timeline of the turns on one store, and the verdict. */
const describe = (label: string, timelines: ReadonlyArray<Timeline>) => {
  const stamp = (f: (t: Timeline) => number) => spread(timelines, f)
  return `${label}, µs after SendInput is called, p50 (p90): commit starts ${stamp((t) => t.commitStart)}, ` +
    `commit done ${stamp((t) => t.commitDone)}, input_accepted published ${stamp((t) => t.published)}, ` +
    `the run's history read ${stamp((t) => t.historyRead)}, provider request arrives ${stamp((t) => t.arrival)}, ` +
    `SendInput answered ${stamp((t) => t.answered)}, first content at the proxy ${stamp((t) => t.firstContent)}, ` +
    `first text_delta at the client ${stamp((t) => t.firstToken)}; the request left before the commit completed ` +
    `in ${of(timelines, gap).filter((g) => g < 0).length} of ${timelines.length} turns`
}

/** The note answering: does the provider request leave while the input's commit is in flight? */
const verdict = (onMemory: ReadonlyArray<Timeline>, onFilesystem: ReadonlyArray<Timeline>) => {
  const early = [...onMemory, ...onFilesystem].filter((t) => gap(t) < 0).length
  const commit = (t: Timeline) => t.commitDone - t.commitStart
  return `verdict: the provider request left before the input's commit completed in ${early} of ` +
    `${onMemory.length + onFilesystem.length} turns — the run starts only after the commit (and the lock) are done; ` +
    `the filesystem commit takes p50 ${round(p50(of(onFilesystem, commit)), 0)} µs (memory ${
      round(p50(of(onMemory, commit)), 0)
    } µs) and SendInput → request is p50 ${round(p50(of(onFilesystem, (t) => t.arrival)), 0)} µs there vs ${
      round(p50(of(onMemory, (t) => t.arrival)), 0)
    } µs on memory: the request waits on the whole commit, then p50 ${round(p50(of(onFilesystem, gap)), 0)} µs ` +
    "more (history read, building and sending the request)"
}

export const run = (options: CaseOptions): Promise<CaseResult> => {
  const warmup = options.quick ? 3 : 10
  const shortRounds = options.quick ? 15 : 200
  const loopRounds = options.quick ? 6 : 50
  const pathRounds = options.quick ? 10 : 200
  const budgetMs = options.quick ? 2_500 : 30_000

  const program = Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const llama = yield* LlamaServer.start()
    const proxy = yield* proxyScoped(llama.origin)

    const direct = yield* clientOf(
      "direct",
      RuntimePresets.layerMemory({ runtimeId: "bench", engineLayer: engineLayer(llama.baseUrl) })
    )
    const stamps = new Map<string, Stamps>()
    const proxied = LlmProviders.layerSingle.pipe(Layer.provide(engineLayer(proxy.baseUrl)))
    const memory = yield* clientOf(
      "memory (proxied)",
      stampedRuntime(MemoryWorkerStore.layer, MemoryLiveAllocation.layer, proxied, stamps)
    )
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-bench-engine-" })
    const allocationDirectory = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-bench-alloc-" })
    const filesystem = yield* clientOf(
      "filesystem (proxied)",
      stampedRuntime(
        FileSystemWorkerStore.layer({ directory }),
        FileSystemLiveAllocation.layer({ directory: allocationDirectory }),
        proxied,
        stamps
      )
    )
    const engineDirect = yield* engineAlone(llama.baseUrl)
    const engineProxied = yield* engineAlone(proxy.baseUrl)

    // The request bodies the engine sends, through the Runtime and alone (they must be the same), for the baseline.
    const bodyOf = (text: string) =>
      Effect.gen(function*() {
        const from = proxy.arrivals.length
        yield* turn(memory, text)
        yield* engineTurn(engineProxied, text)
        const bodies = proxy.arrivals.slice(from).map((arrival) => arrival.body)
        if (bodies.length !== 2 || bodies[0] !== bodies[1] || !bodies[0]!.includes(JSON.stringify(text))) {
          return yield* Effect.die(
            new Error(`bench 9: the engine's requests for ${text} through the Runtime and alone differ: ${bodies}`)
          )
        }
        return bodies[0]!
      })
    const shortBody = yield* bodyOf(shortInput)
    const loopBody = yield* bodyOf(loopInput)
    const chatUrl = `${llama.baseUrl}/chat/completions`

    // fetch's (undici's) new connections, counted per path: only one request is in flight at a time
    let connects = 0
    const onConnect = () => void connects++
    yield* Effect.acquireRelease(
      Effect.sync(() => subscribe("undici:client:connected", onConnect)),
      () => Effect.sync(() => unsubscribe("undici:client:connected", onConnect))
    )
    const connections = [0, 0, 0]
    const counted = <A>(path: number, body: Effect.Effect<A>) =>
      Effect.suspend(() => {
        const before = connects
        return Effect.tap(body, () => Effect.sync(() => (connections[path]! += connects - before)))
      })

    /** Baseline, engine alone and subject, one each per round (order rotated), until `count` rounds or the budget. */
    const rounds = (text: string, body: string, count: number) =>
      Effect.gen(function*() {
        const bodies = [
          counted(0, Effect.promise(() => fetchReply(chatUrl, body))),
          counted(1, engineTurn(engineDirect, text)),
          counted(2, turn(direct, text))
        ]
        for (let i = 0; i < warmup; i++) {
          for (const b of bodies) yield* b
        }
        const samples = bodies.map((): Array<Reply> => [])
        const budget = deadline(budgetMs)
        for (let i = 0; i < count && !budget.expired(); i++) {
          for (let b = 0; b < bodies.length; b++) {
            const which = (i + b) % bodies.length
            samples[which]!.push(yield* bodies[which]!)
          }
        }
        const [baseline, engineOnly, subject] = samples
        yield* sameReply(text, samples.flat())
        return { baseline: baseline!, engineOnly: engineOnly!, subject: subject!, text: subject![0]!.text }
      })
    const short = yield* rounds(shortInput, shortBody, shortRounds)
    const long = yield* rounds(loopInput, loopBody, loopRounds)
    const requests = 3 * (short.subject.length + long.subject.length + 2 * warmup)

    // SendInput → the provider request, on the memory and the filesystem store, against a bare fetch.
    const proxyUrl = `${proxy.baseUrl}/chat/completions`
    const bareArrival = Effect.promise(async (): Promise<Leg> => {
      const from = proxy.arrivals.length
      let start = 0
      const reply = await fetchReply(proxyUrl, shortBody, () => (start = now()))
      const arrival = proxy.arrivals[from]!
      return {
        arrival: (arrival.at - start) * 1000,
        firstContent: ((arrival.firstContent ?? Number.NaN) - start) * 1000,
        firstToken: reply.firstMs * 1000
      }
    })
    const timeline = (client: Client) =>
      Effect.gen(function*() {
        const from = proxy.arrivals.length
        const done = yield* turn(client, shortInput)
        const arrivals = proxy.arrivals.slice(from)
        const s = stamps.get(done.workerId)
        if (arrivals.length !== 1 || s?.commitStart === undefined || s.commitDone === undefined) {
          return yield* Effect.die(
            new Error(`bench 9: a turn left ${arrivals.length} requests and stamps ${JSON.stringify(s)}`)
          )
        }
        const us = (at: number | undefined) => at === undefined ? Number.NaN : (at - done.start) * 1000
        return {
          commitStart: us(s.commitStart),
          commitDone: us(s.commitDone),
          published: us(s.published),
          historyRead: us(s.historyRead),
          arrival: us(arrivals[0]!.at),
          firstContent: us(arrivals[0]!.firstContent),
          firstToken: done.firstMs * 1000,
          answered: us(done.answered)
        } satisfies Timeline
      })
    const bodies = [bareArrival, timeline(memory), timeline(filesystem)] as const
    for (let i = 0; i < warmup; i++) {
      for (const body of bodies) yield* body
    }
    const bare: Array<Leg> = []
    const onMemory: Array<Timeline> = []
    const onFilesystem: Array<Timeline> = []
    const connectionsBefore = proxy.connections()
    const requestsBefore = proxy.arrivals.length
    const budget = deadline(budgetMs)
    for (let i = 0; i < pathRounds && !budget.expired(); i++) {
      // rotate the order each round, so no body always runs after the same one
      for (let b = 0; b < 3; b++) {
        const which = (i + b) % 3
        if (which === 0) bare.push(yield* bareArrival)
        else if (which === 1) onMemory.push(yield* timeline(memory))
        else onFilesystem.push(yield* timeline(filesystem))
      }
    }
    return {
      short,
      long,
      bare,
      onMemory,
      onFilesystem,
      connections,
      requests,
      proxyConnections: proxy.connections() - connectionsBefore,
      proxyRequests: proxy.arrivals.length - requestsBefore
    }
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

  return Effect.runPromise(program).then((m) => {
    type Block = typeof m.short
    type Key = "firstMs" | "totalMs"
    const values = (replies: ReadonlyArray<Reply>, key: Key) => replies.map((reply) => reply[key])
    const at = (block: Block, key: Key, q: number, path: "subject" | "engineOnly" = "subject") => ({
      baseline: quantile(values(block.baseline, key), q),
      subject: quantile(values(block[path], key), q)
    })
    /** The p50 of the paired differences subject − baseline (the same round). */
    const paired = (block: Block, key: Key) => {
      const baseline = values(block.baseline, key)
      return p50(values(block.subject, key).map((value, i) => value - baseline[i]!))
    }
    const firstShort = at(m.short, "firstMs", 0.5)
    const long = `${longTokens}-token`

    const timelineRows = (label: string, timelines: ReadonlyArray<Timeline>, split: boolean): Array<Row> => [
      row({
        metric: `${label}: SendInput → request arrives p50`,
        unit: "µs",
        baseline: p50(of(m.bare, (leg) => leg.arrival)),
        subject: p50(of(timelines, (t) => t.arrival))
      }),
      ...(split
        ? [
          row({
            metric: `${label}: request → first content at proxy p50`,
            unit: "µs",
            baseline: p50(of(m.bare, llamaTime)),
            subject: p50(of(timelines, llamaTime))
          }),
          row({
            metric: `${label}: first content at proxy → client p50`,
            unit: "µs",
            baseline: p50(of(m.bare, delivery)),
            subject: p50(of(timelines, delivery))
          })
        ]
        : []),
      row({
        metric: `${label}: SendInput → commit done p50`,
        unit: "µs",
        baseline: null,
        subject: p50(of(timelines, (t) => t.commitDone))
      }),
      row({
        metric: `${label}: SendInput → answered p50`,
        unit: "µs",
        baseline: null,
        subject: p50(of(timelines, (t) => t.answered))
      }),
      {
        ...row({
          metric: `${label}: request − commit done p50`,
          unit: "µs",
          baseline: null,
          subject: p50(of(timelines, gap))
        }),
        target: "< 0 (before commit)",
        met: p50(of(timelines, gap)) < 0
      }
    ]
    return {
      id: "9",
      title: "Engine path (real llama.cpp server)",
      baseline: "fetch of the engine's own request body straight to llama-server, SSE read by hand",
      subject: "embedded client on OpenAiCompatLlmEngine (memory Runtime): SendInput + WatchWorker to the end",
      rows: [
        row({ metric: "first token p50 (short reply)", unit: "ms", ...firstShort }),
        row({
          metric: "first token added at p50 (short reply)",
          unit: "ms",
          baseline: null,
          subject: firstShort.subject - firstShort.baseline,
          maxAbsolute: 1
        }),
        row({ metric: "first token p90 (short reply)", unit: "ms", ...at(m.short, "firstMs", 0.9) }),
        row({ metric: "whole turn p50 (short reply)", unit: "ms", ...at(m.short, "totalMs", 0.5), maxRatio: 1.1 }),
        row({ metric: "whole turn p90 (short reply)", unit: "ms", ...at(m.short, "totalMs", 0.9) }),
        row({ metric: `first token p50 (${long} reply)`, unit: "ms", ...at(m.long, "firstMs", 0.5) }),
        row({ metric: `whole turn p50 (${long} reply)`, unit: "ms", ...at(m.long, "totalMs", 0.5), maxRatio: 1.1 }),
        row({ metric: `whole turn p90 (${long} reply)`, unit: "ms", ...at(m.long, "totalMs", 0.9) }),
        row({
          metric: "engine alone: first token p50 (short)",
          unit: "ms",
          ...at(m.short, "firstMs", 0.5, "engineOnly")
        }),
        row({
          metric: "engine alone: whole turn p50 (short)",
          unit: "ms",
          ...at(m.short, "totalMs", 0.5, "engineOnly")
        }),
        row({
          metric: `engine alone: first token p50 (${long})`,
          unit: "ms",
          ...at(m.long, "firstMs", 0.5, "engineOnly")
        }),
        row({
          metric: `engine alone: whole turn p50 (${long})`,
          unit: "ms",
          ...at(m.long, "totalMs", 0.5, "engineOnly")
        }),
        ...timelineRows("memory", m.onMemory, true),
        ...timelineRows("filesystem", m.onFilesystem, false)
      ],
      notes: [
        `replies, the same on every path: ${JSON.stringify(m.short.text)}` +
        `${m.short.text === expectedShort ? "" : " (not the text the tiny model should give)"}; ` +
        `${m.long.text.length} characters of " tick tock" for /loop (max_tokens ${longTokens})`,
        "first token added = p50(subject) − p50(baseline); the p50 of the per-round differences: " +
        `${round(paired(m.short, "firstMs"), 2)} ms (short), ${round(paired(m.long, "firstMs"), 2)} ms (${long}); ` +
        `whole turn: ${round(paired(m.short, "totalMs"), 2)} ms, ${round(paired(m.long, "totalMs"), 2)} ms`,
        "engine alone: OpenAiCompatLlmEngine.stream drained directly (no Runtime, no RPC), the same request: " +
        "(subject − engine alone) is the Runtime and the embedded client, (engine alone − baseline) the engine",
        "each round runs baseline, engine alone and subject once, in rotating order; each prompt has its own block so " +
        "llama-server's prompt cache serves every request alike; each subject turn has a fresh Worker (CreateWorker " +
        "outside the timer)",
        `llama-server closes the connection after every streamed reply (while announcing keep-alive): fetch opened ` +
        `${m.connections.join(" / ")} connections for baseline / engine alone / subject, ${m.requests / 3} ` +
        "requests each",
        "request arrival: a node:http proxy in this process stamps each request when its headers arrive (an upper " +
        "bound on when it left: the stamp waits for this process's event loop) and forwards it; the two proxied " +
        "Runtimes wrap their WorkerStore and EventBus to stamp the commit carrying input_accepted; baseline of " +
        "the arrival rows: a bare fetch of the same body through the same proxy",
        `bare fetch through the proxy, µs after fetch is called, p50 (p90): request arrives ${
          spread(m.bare, (leg) => leg.arrival)
        }, first content at the proxy ${spread(m.bare, (leg) => leg.firstContent)}, first content at the client ${
          spread(m.bare, (leg) => leg.firstToken)
        }`,
        describe("memory", m.onMemory),
        describe("filesystem (temp dir, fsyncs)", m.onFilesystem),
        verdict(m.onMemory, m.onFilesystem),
        "llama-server runs 2 threads (-t 2) on the same cores as this process: CPU a path spends while a reply " +
        "streams can slow the generation itself, which the whole-turn ratios then include"
      ],
      context: {
        shortRounds: m.short.subject.length,
        longRounds: m.long.subject.length,
        arrivalRounds: m.onMemory.length,
        maxTokens: longTokens,
        proxyRequests: m.proxyRequests,
        proxyConnections: m.proxyConnections
      }
    }
  })
}
