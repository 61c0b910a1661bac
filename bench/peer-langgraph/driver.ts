/**
 * Case 8's measuring process. Starts both servers as child processes on 127.0.0.1 — the langgraph.js in-memory API
 * server (`peer-server.ts`, echo graph) and the Yoi runtime server (`yoi-runtime serve`, scripted engine) — drives
 * the same turn against each over plain `fetch`, kills both, and prints one JSON line (`DriverReport`) on stdout.
 * It has no dependencies of its own, so `case.ts` can run it inside a network namespace that has only loopback
 * (`unshare -rn`).
 *
 * A turn: create a thread (peer: `POST /threads`) or Worker (ours: `CreateWorker`), send the input (peer:
 * `POST /threads/:id/runs/stream`, stream mode `messages-tuple`; ours: `WatchWorker` from the new Worker's last seq
 * and `SendInput`, sent together — as a client that keeps its watch open, like the browser API's SSE, has it — so
 * both systems are one round trip from input to first token), and read the stream until the run is done (peer: the
 * SSE stream ends; ours: `run_finished` of the accepted run).
 * Time to first event = from sending the input to receiving the first streamed reply token (peer: the first
 * `messages` event with content; ours: the first `text_delta`). Both replies are the input echoed word by word
 * (peer `Echo reply to: …`, ours `Scripted reply to: …`: five pieces each), checked whole at the end of every turn.
 *
 * Phases per system, one system at a time (the other server idles; ours first): a warm-up, turns one at a time,
 * then 8 and then 64 turns kept in flight. The server process's CPU time per turn is read from /proc around each phase.
 *
 * Usage: `node driver.ts <quick|full> [scratch-dir] [budget-ms]`. Everything is bounded: turn counts, the budget
 * (each phase gets a weighted share of what is left), a timeout per turn and per server start; the servers are
 * SIGKILLed on the way out, whatever happened (see PEER_DRIVER_LIFELINE below).
 */
// oxlint-disable no-await-in-loop -- turns run one after another on purpose, and streams are read chunk by chunk
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { summarize, type Summary } from "../src/support/Measure.ts"

const here = fileURLToPath(new URL(".", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

/** The harness's own percentiles, so both sides of case 8 are summarised exactly like every other case. */
export type Stats = Summary

export interface ConcurrentReport {
  readonly concurrency: number
  readonly turns: number
  readonly seconds: number
  readonly turnsPerSecond: number
  /** Server process CPU time (user + system) per completed turn, ms. */
  readonly serverCpuMsPerTurn: number
  readonly ttfe: Stats
  readonly turn: Stats
}

export interface SystemReport {
  /** Sequential phase: one turn at a time. */
  readonly sequential: {
    readonly turns: number
    readonly seconds: number
    readonly turnsPerSecond: number
    /** Server process CPU time (user + system) per completed turn, ms. */
    readonly serverCpuMsPerTurn: number
    /** Create request → thread/Worker created, ms. */
    readonly create: Stats
    /** Input sent → input acknowledged (peer: the stream's response headers; ours: `SendInput`'s reply), ms. */
    readonly ack: Stats
    /** Input sent → first streamed item of any kind (peer: `metadata`; ours: the watch snapshot), ms. */
    readonly firstItem: Stats
    /** Input sent → first reply token, ms: the time to first event. */
    readonly ttfe: Stats
    /** Input sent → last reply token, ms. */
    readonly lastToken: Stats
    /** Create → done (peer: the stream ended; ours: `run_finished`), ms. */
    readonly turn: Stats
  }
  /** Concurrent phases: `concurrency` turns kept in flight, one phase per level. */
  readonly concurrent: ReadonlyArray<ConcurrentReport>
  readonly errors: number
  readonly firstError: string | null
  readonly cappedPhases: ReadonlyArray<string>
}

export interface Plan {
  readonly warmup: number
  readonly sequential: number
  readonly levels: ReadonlyArray<{ readonly concurrency: number; readonly turns: number }>
  /** The whole run's time budget (servers' start included); the phases share it by weight. */
  readonly budgetMs: number
  readonly turnTimeoutMs: number
}

export interface DriverReport {
  readonly mode: "quick" | "full"
  readonly plan: Plan
  readonly node: string
  readonly versions: Record<string, string>
  readonly peer: SystemReport
  readonly ours: SystemReport
}

interface Sample {
  readonly createMs: number
  readonly ackMs: number
  readonly firstItemMs: number
  readonly ttfeMs: number
  readonly lastTokenMs: number
  readonly turnMs: number
}

/** A turn's sample from its instants: t0 create sent, t1 input sent, t2 stream ended. */
const sample = (t: {
  readonly t0: number
  readonly t1: number
  readonly t2: number
  readonly ack: number
  readonly firstItem: number
  readonly firstToken: number
  readonly lastToken: number
}): Sample => ({
  createMs: t.t1 - t.t0,
  ackMs: t.ack - t.t1,
  firstItemMs: t.firstItem - t.t1,
  ttfeMs: t.firstToken - t.t1,
  lastTokenMs: t.lastToken - t.t1,
  turnMs: t.t2 - t.t0
})

interface System {
  readonly name: string
  /** The server's process id, for its CPU time. */
  readonly pid: number
  readonly turn: (text: string, signal: AbortSignal) => Promise<Sample>
}

const now = () => performance.now()
const startedAt = now()

const mode = process.argv[2] === "full" ? "full" : "quick"
const budgetArg = Number(process.argv[4])
/**
 * Up to these counts: one at a time, then 8 in flight, then 64 in flight (at 64 both servers are CPU-bound on this
 * 2-core machine, so that level compares capacity rather than latency) — each phase within its share of the budget.
 */
const plan: Plan = mode === "full"
  ? {
    warmup: 20,
    sequential: 300,
    levels: [{ concurrency: 8, turns: 300 }, { concurrency: 64, turns: 1000 }],
    budgetMs: budgetArg > 0 ? budgetArg : 168_000,
    turnTimeoutMs: 15_000
  }
  : {
    warmup: 5,
    sequential: 30,
    levels: [{ concurrency: 8, turns: 60 }, { concurrency: 64, turns: 256 }],
    budgetMs: budgetArg > 0 ? budgetArg : 25_000,
    turnTimeoutMs: 15_000
  }
const deadline = startedAt + plan.budgetMs
const startTimeoutMs = Math.min(60_000, plan.budgetMs)

/**
 * Shares of the time left after the servers start, per phase (warm-up, one at a time, each level), in the order
 * they run: ours first, then the peer, whose one-at-a-time phase is slow (about 0.55 s a turn) and takes whatever
 * the earlier phases left over.
 */
const weights = { ours: [0.01, 0.05, 0.04, 0.08], peer: [0.04, 0.58, 0.12, 0.08] } as const
let weightLeft = 1
/** The end of the next phase: its weight's share of the time left (1 s kept for shutting down). */
const phaseDeadline = (weight: number): number => {
  const left = Math.max(0, deadline - 1_000 - now())
  const share = weightLeft <= 0 ? left : (left * weight) / weightLeft
  weightLeft -= weight
  return now() + share
}

const stats = summarize

/** A process's CPU time so far (user + system), ms, from /proc; NaN where there is no /proc. */
const cpuMs = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3), in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return Number.NaN
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>()
const killAll = () => {
  for (const child of children) child.kill("SIGKILL")
}
/** SIGKILLs every server and waits (at most 5 s) until they have exited. */
const stopAll = () =>
  Promise.all(
    [...children].map((child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const timer = setTimeout(resolve, 5_000)
        child.once("exit", () => {
          clearTimeout(timer)
          resolve()
        })
        child.kill("SIGKILL")
      })
    )
  )
process.on("exit", killAll)
// With PEER_DRIVER_LIFELINE=1 (case.ts sets it and gives us a pipe as stdin), everything ends when the caller goes
// away and its end of the pipe closes — e.g. when the harness kills it at the case's time cap.
if (process.env.PEER_DRIVER_LIFELINE === "1") {
  process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"))
  process.stdin.on("error", () => process.kill(process.pid, "SIGTERM"))
  process.stdin.resume()
}

// A scratch directory from the caller (case.ts removes it even if this process is killed), or one of our own.
const scratch = process.argv[3] ?? mkdtempSync(join(tmpdir(), "yoi-bench-peer-langgraph-"))
const removeScratch = () => rmSync(scratch, { recursive: true, force: true, maxRetries: 3 })
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  process.on(signal, () => {
    killAll()
    try {
      removeScratch()
    } finally {
      process.exit(1)
    }
  })
}

/** Spawns a server; resolves with its URL once it prints `listening on http://…`. */
const startServer = (
  label: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: Record<string, string | undefined> }
) =>
  new Promise<{ readonly url: string; readonly pid: number }>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    children.add(child)
    let output = ""
    const timer = setTimeout(
      () => fail(new Error(`${label} did not listen within ${startTimeoutMs} ms:\n${output}`)),
      startTimeoutMs
    )
    const fail = (error: Error) => {
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(error)
    }
    const onData = (chunk: Buffer) => {
      if (output.length < 64_000) output += chunk.toString("utf8")
      const match = /listening on (http:\/\/[^\s]+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve({ url: match[1]!.replace(/\/$/, ""), pid: child.pid! })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("error", (error) => fail(error))
    child.on("exit", (code, signal) => {
      children.delete(child)
      fail(new Error(`${label} exited (${code ?? signal}) before listening:\n${output}`))
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// Streams

/** Reads `body` as text chunks split on `separator`, calling `onPart` for each complete part; stops when it returns true. */
const readParts = async (
  body: ReadableStream<Uint8Array>,
  separator: string,
  onPart: (part: string) => boolean
): Promise<boolean> => {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ""
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) {
        if (buffer.trim() !== "") return onPart(buffer)
        return false
      }
      buffer += value
      let index = buffer.indexOf(separator)
      while (index !== -1) {
        const part = buffer.slice(0, index)
        buffer = buffer.slice(index + separator.length)
        if (part.trim() !== "" && onPart(part)) return true
        index = buffer.indexOf(separator)
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}

const expectOk = async (response: Response, what: string) => {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`)
  return response
}

// ---------------------------------------------------------------------------------------------------------------
// The peer: langgraph.js API server

const langgraph = (url: string, pid: number): System => ({
  name: "langgraph",
  pid,
  turn: async (text, signal) => {
    const t0 = now()
    const created = await expectOk(
      await fetch(`${url}/threads`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        signal
      }),
      "POST /threads"
    )
    const { thread_id } = (await created.json()) as { thread_id: string }
    const t1 = now()
    const response = await expectOk(
      await fetch(`${url}/threads/${thread_id}/runs/stream`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          assistant_id: "echo",
          input: { messages: [{ role: "user", content: text }] },
          stream_mode: ["messages-tuple"]
        }),
        signal
      }),
      "POST /threads/:id/runs/stream"
    )
    const ack = now()
    let firstItem = Number.NaN
    let firstToken = Number.NaN
    let lastToken = Number.NaN
    let reply = ""
    await readParts(response.body!, "\n\n", (part) => {
      if (Number.isNaN(firstItem)) firstItem = now()
      let event = ""
      let data = ""
      for (const line of part.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim()
        else if (line.startsWith("data:")) data += line.slice(5).trim()
      }
      if (event === "error") throw new Error(`langgraph run error: ${data.slice(0, 300)}`)
      if (event === "messages") {
        const [chunk] = JSON.parse(data) as [{ content?: unknown; type?: string }]
        if (typeof chunk.content === "string" && chunk.content !== "") {
          lastToken = now()
          if (Number.isNaN(firstToken)) firstToken = lastToken
          reply += chunk.content
        }
      }
      return false
    })
    const t2 = now()
    const expected = `Echo reply to: ${text}`
    if (reply !== expected) throw new Error(`langgraph reply ${JSON.stringify(reply)} ≠ ${JSON.stringify(expected)}`)
    return sample({ t0, t1, t2, ack, firstItem, firstToken, lastToken })
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Ours: the Yoi runtime server, RuntimeRpcs as ndjson over POST /rpc

interface RpcExit {
  readonly _tag: "Exit"
  readonly exit: { readonly _tag: "Success"; readonly value: unknown } | {
    readonly _tag: "Failure"
    readonly cause: unknown
  }
}

const yoi = (url: string, pid: number): System => {
  let nextId = 0
  const line = (tag: string, payload: unknown) =>
    `${JSON.stringify({ _tag: "Request", id: ++nextId, tag, payload, headers: [] })}\n`
  const call = async (tag: string, payload: unknown, signal: AbortSignal) => {
    const response = await expectOk(
      await fetch(`${url}/rpc`, {
        method: "POST",
        headers: { "content-type": "application/ndjson" },
        body: line(tag, payload),
        signal
      }),
      tag
    )
    const text = await response.text()
    for (const raw of text.split("\n")) {
      if (raw.trim() === "") continue
      const message = JSON.parse(raw) as RpcExit
      if (message._tag === "Exit") {
        if (message.exit._tag === "Success") return message.exit.value
        throw new Error(`${tag} failed: ${JSON.stringify(message.exit.cause).slice(0, 300)}`)
      }
    }
    throw new Error(`${tag}: no Exit in ${text.slice(0, 300)}`)
  }
  return {
    name: "yoi",
    pid,
    turn: async (text, signal) => {
      const t0 = now()
      const created = (await call("CreateWorker", {}, signal)) as {
        worker: { ref: { workerId: string }; lastSeq: number }
      }
      const workerId = created.worker.ref.workerId
      // The watch stream stays open after the run; it is closed (aborted) once `run_finished` arrives.
      const watch = new AbortController()
      const onAbort = () => watch.abort()
      signal.addEventListener("abort", onAbort, { once: true })
      const t1 = now()
      const watching = fetch(`${url}/rpc`, {
        method: "POST",
        headers: { "content-type": "application/ndjson" },
        body: line("WatchWorker", { workerId, after: created.worker.lastSeq }),
        signal: watch.signal
      })
      let ack = Number.NaN
      const accepting = call("SendInput", { workerId, input: { kind: "user", text } }, signal).then(
        (value) => {
          ack = now()
          return value as { runId: string; eventSeq: number }
        },
        (error: unknown) => {
          watch.abort() // a refused input would leave the watch waiting for a run that never comes
          throw error
        }
      )
      // Handled here and awaited below: a refusal that comes before the watch answers is not an unhandled rejection.
      accepting.catch(() => undefined)
      try {
        const response = await expectOk(await watching, "WatchWorker")
        let firstItem = Number.NaN
        let firstToken = Number.NaN
        let lastToken = Number.NaN
        let finishedRun: string | undefined
        let reply = ""
        // A new Worker with one input: every run event on this watch belongs to that input's run (checked below).
        const finished = await readParts(response.body!, "\n", (raw) => {
          const message = JSON.parse(raw) as
            | {
              _tag: "Chunk"
              values: ReadonlyArray<{ _tag: string; runId?: string; delta?: string; reason?: unknown }>
            }
            | RpcExit
          if (message._tag !== "Chunk") throw new Error(`WatchWorker ended: ${raw.slice(0, 300)}`)
          if (Number.isNaN(firstItem)) firstItem = now()
          for (const item of message.values) {
            if (item._tag === "text_delta") {
              lastToken = now()
              if (Number.isNaN(firstToken)) firstToken = lastToken
              reply += item.delta
            } else if (item._tag === "run_finished") {
              finishedRun = item.runId
              return true
            } else if (item._tag === "run_failed" || item._tag === "run_cancelled") {
              throw new Error(`yoi run ended: ${JSON.stringify(item).slice(0, 300)}`)
            }
          }
          return false
        })
        const t2 = now()
        const accepted = await accepting
        if (!finished) throw new Error("WatchWorker ended before run_finished")
        if (finishedRun !== accepted.runId) throw new Error(`yoi run ${finishedRun} is not the accepted run`)
        const expected = `Scripted reply to: ${text}`
        if (reply !== expected) throw new Error(`yoi reply ${JSON.stringify(reply)} ≠ ${JSON.stringify(expected)}`)
        return sample({ t0, t1, t2, ack, firstItem, firstToken, lastToken })
      } catch (error) {
        await accepting // a refused input aborted the watch: report the refusal, not the abort
        throw error
      } finally {
        signal.removeEventListener("abort", onAbort)
        watch.abort()
        await accepting.catch(() => undefined)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Phases

interface Tally {
  errors: number
  firstError: string | null
}

const oneTurn = async (system: System, index: number, tally: Tally): Promise<Sample | null> => {
  try {
    const timeout = Math.floor(Math.min(plan.turnTimeoutMs, Math.max(1_000, deadline - now())))
    return await system.turn(`hello number ${index}`, AbortSignal.timeout(timeout))
  } catch (error) {
    tally.errors++
    tally.firstError ??= error instanceof Error ? error.message : String(error)
    return null
  }
}

const sequential = async (system: System, end: number, tally: Tally, capped: Array<string>) => {
  const samples: Array<Sample> = []
  const cpu0 = cpuMs(system.pid)
  const start = now()
  let index = 0
  while (index < plan.sequential && tally.errors <= 5) {
    if (now() > end) {
      capped.push("one at a time")
      break
    }
    const sample = await oneTurn(system, index++, tally)
    if (sample) samples.push(sample)
  }
  const seconds = (now() - start) / 1000
  return {
    turns: samples.length,
    seconds,
    turnsPerSecond: samples.length / seconds,
    serverCpuMsPerTurn: (cpuMs(system.pid) - cpu0) / samples.length,
    create: stats(samples.map((s) => s.createMs)),
    ack: stats(samples.map((s) => s.ackMs)),
    firstItem: stats(samples.map((s) => s.firstItemMs)),
    ttfe: stats(samples.map((s) => s.ttfeMs)),
    lastToken: stats(samples.map((s) => s.lastTokenMs)),
    turn: stats(samples.map((s) => s.turnMs))
  }
}

const concurrent = async (
  system: System,
  level: { readonly concurrency: number; readonly turns: number },
  end: number,
  tally: Tally,
  capped: Array<string>
): Promise<ConcurrentReport> => {
  const samples: Array<Sample> = []
  const cpu0 = cpuMs(system.pid)
  const start = now()
  let started = 0
  let hitCap = false
  const lane = async () => {
    while (started < level.turns && tally.errors <= 5) {
      if (now() > end) {
        hitCap = true
        return
      }
      const sample = await oneTurn(system, level.concurrency * 100_000 + started++, tally)
      if (sample) samples.push(sample)
    }
  }
  await Promise.all(Array.from({ length: level.concurrency }, lane))
  if (hitCap) capped.push(`${level.concurrency} in flight`)
  const seconds = (now() - start) / 1000
  return {
    concurrency: level.concurrency,
    turns: samples.length,
    seconds,
    turnsPerSecond: samples.length / seconds,
    serverCpuMsPerTurn: (cpuMs(system.pid) - cpu0) / samples.length,
    ttfe: stats(samples.map((s) => s.ttfeMs)),
    turn: stats(samples.map((s) => s.turnMs))
  }
}

const measure = async (system: System, shares: ReadonlyArray<number>): Promise<SystemReport> => {
  const tally: Tally = { errors: 0, firstError: null }
  const capped: Array<string> = []
  const warmupEnd = phaseDeadline(shares[0]!)
  let warm = 0
  while (warm < plan.warmup && now() <= warmupEnd) await oneTurn(system, -1 - warm++, tally)
  if (tally.errors === warm) throw new Error(`${system.name}: every warm-up turn failed: ${tally.firstError}`)
  const seq = await sequential(system, phaseDeadline(shares[1]!), tally, capped)
  const levels: Array<ConcurrentReport> = []
  for (const [i, level] of plan.levels.entries()) {
    levels.push(await concurrent(system, level, phaseDeadline(shares[2 + i]!), tally, capped))
  }
  return {
    sequential: seq,
    concurrent: levels,
    errors: tally.errors,
    firstError: tally.firstError,
    cappedPhases: capped
  }
}

const versionOf = (name: string) => {
  try {
    const file = join(here, "node_modules", ...name.split("/"), "package.json")
    return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version
  } catch {
    return "missing"
  }
}

const main = async () => {
  try {
    const baseEnv: Record<string, string | undefined> = { ...process.env }
    for (const key of Object.keys(baseEnv)) if (key.startsWith("YOI_")) delete baseEnv[key]
    const peerEnv = {
      ...baseEnv,
      // Telemetry and tracing off; the peer's per-request info logging off (its default level is debug).
      LANGGRAPH_CLI_NO_ANALYTICS: "1",
      DO_NOT_TRACK: "1",
      LANGSMITH_TRACING: "false",
      LANGSMITH_TRACING_V2: "false",
      LANGCHAIN_TRACING: "false",
      LANGCHAIN_TRACING_V2: "false",
      LOG_LEVEL: "warn",
      // What `langgraph dev` sets for its server process.
      NODE_ENV: "development"
    }
    const [peerServer, oursServer] = await Promise.all([
      startServer("langgraph API server", [join(here, "peer-server.ts"), "127.0.0.1", "0", join(scratch, "peer")], {
        cwd: here,
        env: peerEnv
      }),
      startServer(
        "yoi-runtime serve",
        [
          join(repoRoot, "packages/server/src/bin.ts"),
          "serve",
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--data-dir",
          join(scratch, "data"),
          "--allocation-dir",
          join(scratch, "allocations")
        ],
        { cwd: repoRoot, env: baseEnv }
      )
    ])
    // One system at a time, so the other server is idle while one is measured.
    const ours = await measure(yoi(oursServer.url, oursServer.pid), weights.ours)
    const peer = await measure(langgraph(peerServer.url, peerServer.pid), weights.peer)
    const report: DriverReport = {
      mode,
      plan,
      node: process.version,
      versions: Object.fromEntries(
        [
          "@langchain/langgraph-api",
          "@langchain/langgraph",
          "@langchain/core",
          "@langchain/langgraph-checkpoint",
          "@langchain/langgraph-sdk"
        ].map((name) => [name, versionOf(name)])
      ),
      peer,
      ours
    }
    process.stdout.write(`${JSON.stringify(report)}\n`)
  } finally {
    await stopAll()
    removeScratch()
  }
}

await main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`driver failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  }
)
