/**
 * Case 8 — peer: the langgraph.js in-memory API server (`@langchain/langgraph-api` 1.5.x) with an echo graph
 * (baseline) against the Yoi runtime server with the scripted engine (subject), on the same loopback, both as
 * child processes. A turn: create a thread / Worker, send the input, stream the reply until the run is done.
 * Figures: turns per second (one at a time, 8 and 64 in flight) and time to first streamed reply token (p50/p99).
 *
 * The peer's dependencies live in this folder's own `node_modules` (npm, `package-lock.json`), never in the
 * workspace; `run` installs them with `npm ci` when they are missing. The measuring happens in `driver.ts`, a
 * dependency-free child process that starts and kills both servers; when `unshare -rn` works here it runs inside a
 * fresh network namespace whose only interface is loopback, so neither server can reach anything else.
 *
 * Alone: `node bench/peer-langgraph/case.ts [--full]` prints the rows and the JSON.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type CaseOptions, type CaseResult, type Row, row, type Skipped } from "../src/CaseResult.ts"
import type { DriverReport, SystemReport } from "./driver.ts"

const here = fileURLToPath(new URL(".", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
const driver = join(here, "driver.ts")

/** The environment of every process this case starts: the peer's telemetry and tracing off. */
const quietEnv = (): Record<string, string | undefined> => ({
  ...process.env,
  LANGGRAPH_CLI_NO_ANALYTICS: "1",
  DO_NOT_TRACK: "1",
  LANGSMITH_TRACING: "false",
  LANGCHAIN_TRACING_V2: "false"
})

/** Runs a command to completion within `timeoutMs`; resolves with its exit code (null on timeout) and output tail. */
const runCommand = (
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly cwd: string
    readonly timeoutMs: number
    readonly env?: Record<string, string | undefined>
    /** Give the child a pipe as stdin that closes when this process ends (the driver's lifeline). */
    readonly lifeline?: boolean
  }
) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve) => {
    let stdout = ""
    let stderr = ""
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? quietEnv(),
      detached: true,
      stdio: [options.lifeline === true ? "pipe" : "ignore", "pipe", "pipe"]
    })
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    process.once("exit", killGroup)
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${options.timeoutMs} ms: killed)`
      killGroup()
    }, options.timeoutMs)
    child.stdout!.on("data", (chunk: Buffer) => (stdout = (stdout + chunk.toString("utf8")).slice(-1_000_000)))
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-20_000)))
    child.on("error", (error) => {
      clearTimeout(timer)
      process.removeListener("exit", killGroup)
      resolve({ code: null, stdout, stderr: `${stderr}\n${error.message}` })
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      // The driver kills its servers itself; this also reaps anything left in its process group.
      killGroup()
      process.removeListener("exit", killGroup)
      resolve({ code, stdout, stderr })
    })
  })

const tail = (text: string, lines = 15) => text.trim().split("\n").slice(-lines).join("\n")

/**
 * Installs the peer's pinned dependencies when missing; returns why it could not, or null. `run` calls it within
 * its budget; a harness may call it first, outside the case's time cap.
 */
export const ensurePeerDeps = async (): Promise<string | null> => {
  if (existsSync(join(here, "node_modules", "@langchain", "langgraph-api", "package.json"))) return null
  const result = await runCommand("npm", ["ci", "--no-audit", "--no-fund"], { cwd: here, timeoutMs: 300_000 })
  if (result.code === 0 && existsSync(join(here, "node_modules", "@langchain", "langgraph-api", "package.json"))) {
    return null
  }
  return `npm ci in bench/peer-langgraph failed (exit ${result.code}): ${tail(result.stderr || result.stdout, 8)}`
}

/** Whether a network namespace with only loopback can be made here (`unshare -rn`, then `ip link set lo up`). */
const netnsUsable = (): { readonly ok: boolean; readonly why: string } => {
  const probe = spawnSync("unshare", ["-rn", "sh", "-c", "ip link set lo up"], { timeout: 10_000, encoding: "utf8" })
  if (probe.error) return { ok: false, why: probe.error.message }
  if (probe.status !== 0) return { ok: false, why: `exit ${probe.status}: ${tail(probe.stderr, 3)}` }
  return { ok: true, why: "" }
}

const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : String(value))

const describe = (name: string, report: SystemReport) => {
  const seq = report.sequential
  return `${name}: one at a time ${seq.turns} turns in ${fmt(seq.seconds, 2)} s (create p50 ${
    fmt(seq.create.p50)
  } ms, ` +
    `input ack p50 ${fmt(seq.ack.p50)} ms, first item p50 ${fmt(seq.firstItem.p50)} ms, first token p50 ${
      fmt(seq.ttfe.p50)
    } ms, last token p50 ${fmt(seq.lastToken.p50)} ms, whole turn p50 ${fmt(seq.turn.p50)} ms, server CPU ${
      fmt(seq.serverCpuMsPerTurn, 2)
    } ms/turn); ` +
    report.concurrent.map((level) =>
      `${level.concurrency} in flight ${level.turns} turns in ${fmt(level.seconds, 2)} s (first token p50 ${
        fmt(level.ttfe.p50)
      } ms, whole turn p50 ${fmt(level.turn.p50)} ms, server CPU ${fmt(level.serverCpuMsPerTurn, 2)} ms/turn)`
    ).join("; ") +
    `; errors ${report.errors}${report.firstError === null ? "" : ` (first: ${report.firstError})`}` +
    (report.cappedPhases.length === 0 ? "" : `; phases stopped by the time cap: ${report.cappedPhases.join(", ")}`)
}

const throughputTarget = "≥ 5× the peer (ratio ≤ 0.2)"
const ttfeTarget = "≥ 10× lower than the peer (ratio ≤ 0.1)"

const throughputRow = (metric: string, baseline: number, subject: number): Row => ({
  ...row({ metric, unit: "turns/s", baseline, subject, higherIsBetter: true, maxRatio: 0.2 }),
  target: throughputTarget
})
const ttfeRow = (metric: string, baseline: number, subject: number): Row => ({
  ...row({ metric, unit: "ms", baseline, subject, maxRatio: 0.1 }),
  target: ttfeTarget
})

const toResult = (report: DriverReport, netns: { readonly ok: boolean; readonly why: string }): CaseResult => {
  const { peer, ours } = report
  const levels = ours.concurrent.map((level, i) => ({ ours: level, peer: peer.concurrent[i]! }))
  const rows: Array<Row> = [
    throughputRow(
      "turns/s, one at a time (create → input → stream to done)",
      peer.sequential.turnsPerSecond,
      ours.sequential.turnsPerSecond
    ),
    ...levels.map((level) =>
      throughputRow(
        `turns/s, ${level.ours.concurrency} in flight`,
        level.peer.turnsPerSecond,
        level.ours.turnsPerSecond
      )
    ),
    ttfeRow("time to first event p50 (input → first reply token)", peer.sequential.ttfe.p50, ours.sequential.ttfe.p50),
    ttfeRow("time to first event p99", peer.sequential.ttfe.p99, ours.sequential.ttfe.p99),
    ...levels.map((level) =>
      row({
        metric: `time to first event p50, ${level.ours.concurrency} in flight`,
        unit: "ms",
        baseline: level.peer.ttfe.p50,
        subject: level.ours.ttfe.p50
      })
    ),
    row({
      metric: "whole turn p50, one at a time (create → done)",
      unit: "ms",
      baseline: peer.sequential.turn.p50,
      subject: ours.sequential.turn.p50
    }),
    ...levels.slice(-1).map((level) =>
      row({
        metric: `server CPU per turn, ${level.ours.concurrency} in flight`,
        unit: "ms",
        baseline: level.peer.serverCpuMsPerTurn,
        subject: level.ours.serverCpuMsPerTurn
      })
    )
  ]
  const notes: Array<string> = [
    `A turn: peer POST /threads, POST /threads/:id/runs/stream (stream_mode messages-tuple) read to the end of the ` +
    `SSE stream; ours CreateWorker, then WatchWorker (from the new Worker's last seq) and SendInput sent together ` +
    `(ndjson over POST /rpc), the watch read to run_finished of the accepted run. Both over plain fetch from one ` +
    `driver process; both replies are the input echoed in 5 word pieces, checked whole. Time to first event counts ` +
    `from sending the input to the first reply token: one round trip for both (peer: one request; ours: the watch ` +
    `is open when the input lands, as a client that keeps its watch open, like the browser API's SSE, has it).`,
    `Peer: @langchain/langgraph-api ${report.versions["@langchain/langgraph-api"]}, @langchain/langgraph ${
      report.versions["@langchain/langgraph"]
    }, @langchain/core ${report.versions["@langchain/core"]}, @langchain/langgraph-checkpoint ${
      report.versions["@langchain/langgraph-checkpoint"]
    }; startServer() from @langchain/langgraph-api/server with nWorkers 10 (the CLI's default), NODE_ENV=development ` +
    `(as langgraph dev), LOG_LEVEL=warn (its per-request info logging off, in its favour), telemetry and tracing ` +
    `off (LANGGRAPH_CLI_NO_ANALYTICS=1, DO_NOT_TRACK=1, LANGSMITH_TRACING=false). It keeps state in memory and ` +
    `writes a snapshot file 3 s after the last change (debounced), so under load what it ` +
    `acknowledges reaches disk only once the load stops.`,
    `Ours: yoi-runtime serve with the scripted engine and the durable file-system store (every acknowledged input ` +
    `and event on disk), node ${report.node}.`,
    netns.ok
      ? "Both servers and the driver ran inside one network namespace with only loopback (unshare -rn)."
      : `No network namespace (unshare -rn unusable: ${netns.why}); both servers ran on the host's 127.0.0.1.`,
    `Where the peer's time goes (read from its source): its queue workers poll for pending runs, sleeping up to 1 s ` +
    `(random) between polls, so a run waits for a poll before its first event; and its run stream only ends when a ` +
    `500 ms wait for the next event times out and the run is seen finished, so every streamed turn ends 0–500 ms ` +
    `after its last token.`,
    describe("peer", peer),
    describe("ours", ours)
  ]
  const missed = rows.filter((r) => r.met === false).map((r) => r.metric)
  if (missed.length > 0) {
    const top = levels.at(-1)
    notes.push(
      `Missed: ${missed.join("; ")}. Measured causes — ours, one at a time: create p50 ${
        fmt(ours.sequential.create.p50)
      } ms, input ack (SendInput round trip, a durable append: the run starts after it) p50 ${
        fmt(ours.sequential.ack.p50)
      } ms, first token ${fmt(ours.sequential.ttfe.p50 - ours.sequential.ack.p50)} ms after the ack (p50)` +
        (top === undefined
          ? "."
          : `; at ${top.ours.concurrency} in flight both servers are CPU-bound (2 cores shared with the driver): ` +
            `server CPU per turn ours ${fmt(top.ours.serverCpuMsPerTurn, 2)} ms vs peer ${
              fmt(top.peer.serverCpuMsPerTurn, 2)
            } ms, so capacity, not latency, sets that row.`)
    )
  }
  return {
    id: "8",
    title: "Peer: langgraph.js in-memory API server vs yoi-runtime serve, create → input → stream",
    baseline: `@langchain/langgraph-api ${report.versions["@langchain/langgraph-api"]} in-memory server, echo graph`,
    subject: "yoi-runtime serve, scripted engine, file-system store",
    rows,
    notes,
    context: {
      mode: report.mode,
      netns: netns.ok ? "loopback-only namespace" : "host loopback",
      warmupTurns: report.plan.warmup,
      peerSequentialTurns: peer.sequential.turns,
      oursSequentialTurns: ours.sequential.turns,
      ...Object.fromEntries(
        levels.flatMap((level) => [
          [`peerTurnsAt${level.ours.concurrency}`, level.peer.turns],
          [`oursTurnsAt${level.ours.concurrency}`, level.ours.turns]
        ])
      ),
      budgetMs: Math.round(report.plan.budgetMs),
      peerErrors: peer.errors,
      oursErrors: ours.errors,
      ...Object.fromEntries(Object.entries(report.versions).map(([name, version]) => [name, version]))
    }
  }
}

/**
 * The case's whole time, npm ci included: within the harness's time cap for case 8 (bench/src/Cases.ts: 30 s
 * quick, 180 s full), which SIGKILLs a case that overruns. PEER_LANGGRAPH_BUDGET_S overrides it.
 */
const budgetMs = (quick: boolean) => {
  const fromEnv = Number(process.env.PEER_LANGGRAPH_BUDGET_S)
  return (fromEnv > 0 ? fromEnv : quick ? 27 : 172) * 1000
}

export const run = async (options: CaseOptions): Promise<CaseResult | Skipped> => {
  const started = performance.now()
  const budget = budgetMs(options.quick)
  if (!existsSync(join(repoRoot, "packages", "server", "node_modules", "effect"))) {
    return { skipped: "the workspace is not installed (run pnpm install): yoi-runtime serve cannot start" }
  }
  const depsProblem = await ensurePeerDeps()
  if (depsProblem !== null) return { skipped: depsProblem }
  const netns = netnsUsable()
  // What is left for the driver, less 2 s for spawning it and reading its report.
  const driverBudget = budget - (performance.now() - started) - 2_000
  const needed = options.quick ? 15_000 : 60_000
  if (driverBudget < needed) {
    return {
      skipped: `installing the peer's dependencies left ${Math.round(driverBudget / 1000)} s of the case's ${
        budget / 1000
      } s budget, less than the ${needed / 1000} s it needs; run it again (they are installed now)`
    }
  }
  const mode = options.quick ? "quick" : "full"
  const scratch = mkdtempSync(join(tmpdir(), "yoi-bench-peer-langgraph-"))
  const driverArgs = [driver, mode, scratch, String(Math.round(driverBudget))]
  const commandOptions = {
    cwd: repoRoot,
    timeoutMs: driverBudget + 1_500,
    env: { ...quietEnv(), PEER_DRIVER_LIFELINE: "1" },
    lifeline: true
  }
  const result = await (netns.ok
    ? runCommand(
      "unshare",
      ["-rn", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\"", process.execPath, ...driverArgs],
      commandOptions
    )
    : runCommand(process.execPath, driverArgs, commandOptions)).finally(() =>
      rmSync(scratch, { recursive: true, force: true, maxRetries: 3 })
    )
  const line = result.stdout.trim().split("\n").at(-1) ?? ""
  if (result.code !== 0 || !line.startsWith("{")) {
    return { skipped: `the case 8 driver failed (exit ${result.code}): ${tail(result.stderr || result.stdout)}` }
  }
  const report = JSON.parse(line) as DriverReport
  // A turn that failed or a phase with no turn makes the figures meaningless: that is a broken case, not a result.
  for (const [name, system] of [["peer", report.peer], ["ours", report.ours]] as const) {
    const empty = [
      ["one at a time", system.sequential.turns] as const,
      ...system.concurrent.map((level) => [`${level.concurrency} in flight`, level.turns] as const)
    ].filter(([, turns]) => turns === 0)
    if (system.errors > 0 || empty.length > 0) {
      throw new Error(
        `case 8: ${name}: ${system.errors} failed turns${
          system.firstError === null ? "" : ` (first: ${system.firstError})`
        }${empty.length === 0 ? "" : `; no turn completed in: ${empty.map(([phase]) => phase).join(", ")}`}`
      )
    }
  }
  return toResult(report, netns)
}

if (import.meta.main) {
  const result = await run({ quick: !process.argv.includes("--full") })
  if ("skipped" in result) {
    console.log(`skipped: ${result.skipped}`)
  } else {
    console.log(`${result.id}. ${result.title}`)
    for (const r of result.rows) {
      console.log(
        `  ${r.metric.padEnd(58)} ${fmt(r.baseline ?? Number.NaN, 2).padStart(9)} → ${fmt(r.subject, 2).padStart(9)} ${
          r.unit.padEnd(8)
        } ratio ${r.ratio === null ? "-" : fmt(r.ratio, 3)}${
          r.target === null ? "" : `  target ${r.target}: ${r.met === true ? "met" : "MISSED"}`
        }`
      )
    }
    for (const note of result.notes) console.log(`  - ${note}`)
    console.log(JSON.stringify(result))
  }
}
