/**
 * The benchmark harness: `pnpm bench [--quick] [--only 1,3,4-memory] [--profile]`.
 *
 * Runs every case of `Cases.ts` in its own Node process (with `--expose-gc`, killed at the case's time cap),
 * prints one table and writes the same figures to `bench/results/latest.json`. Every figure is a subject measured
 * against a baseline in the same run; the ratio is subject / baseline (for throughputs baseline / subject, so a
 * ratio above 1 always means the subject is slower). Targets are goals to report against: a missed target never
 * fails the run. The run fails (exit 1) only when a case crashes, so a broken harness cannot go unnoticed.
 *
 * `--quick` shrinks every count so the whole run fits CI (under a minute on 2 cores). `--profile` also writes a
 * V8 CPU profile per case to `bench/results/profiles/` and prints its top self-time functions.
 */
import { spawn } from "node:child_process"
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { arch, cpus, platform, totalmem } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { CaseResult, Row } from "./CaseResult.ts"
import { type CaseEntry, cases, entryName, resultMarker } from "./Cases.ts"
import { summarizeProfile } from "./profileSummary.ts"

const runCase = fileURLToPath(new URL("runCase.ts", import.meta.url))
const resultsDirectory = fileURLToPath(new URL("../results/", import.meta.url))

type Outcome =
  | { readonly status: "ok"; readonly result: CaseResult }
  | { readonly status: "skipped"; readonly reason: string }
  | { readonly status: "failed"; readonly reason: string }
  | { readonly status: "capped"; readonly reason: string }

interface Ran {
  readonly entry: CaseEntry
  readonly seconds: number
  readonly outcome: Outcome
}

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const profile = args.includes("--profile")
const onlyAt = args.indexOf("--only")
const only = onlyAt === -1 ? undefined : new Set((args[onlyAt + 1] ?? "").split(",").filter((s) => s.length > 0))
const selected = cases.filter((entry) => only === undefined || only.has(entry.id) || only.has(entryName(entry)))

const isSkipped = (value: unknown): value is { readonly skipped: string } =>
  typeof value === "object" && value !== null && "skipped" in value && typeof value.skipped === "string"

const isResult = (value: unknown): value is CaseResult =>
  typeof value === "object" && value !== null && "rows" in value && Array.isArray(value.rows)

const profileDirectory = (entry: CaseEntry) => join(resultsDirectory, "profiles", entryName(entry))

/** Runs one case process to its result, its failure or its time cap. */
const runEntry = (entry: CaseEntry): Promise<Ran> =>
  new Promise((resolve) => {
    const started = performance.now()
    const cap = quick ? entry.capSeconds.quick : entry.capSeconds.full
    const flags = ["--expose-gc", ...(entry.nodeFlags ?? [])]
    if (profile) {
      rmSync(profileDirectory(entry), { recursive: true, force: true })
      mkdirSync(profileDirectory(entry), { recursive: true })
      flags.push("--cpu-prof", "--cpu-prof-dir", profileDirectory(entry))
    }
    const child = spawn(process.execPath, [...flags, runCase, entryName(entry), ...(quick ? ["--quick"] : [])], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let capped = false
    const timer = setTimeout(() => {
      capped = true
      child.kill("SIGKILL")
    }, cap * 1000)
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      const seconds = (performance.now() - started) / 1000
      const line = stdout.split("\n").find((l) => l.startsWith(resultMarker))
      const done = (outcome: Outcome) => resolve({ entry, seconds, outcome })
      if (capped) return done({ status: "capped", reason: `stopped at its time cap of ${cap} s` })
      if (line === undefined) {
        return done({
          status: "failed",
          reason: `exited with ${code ?? signal} before reporting:\n${stderr.trim() || stdout.trim()}`
        })
      }
      const value = JSON.parse(line.slice(resultMarker.length)) as unknown
      if (isSkipped(value)) return done({ status: "skipped", reason: value.skipped })
      if (isResult(value)) return done({ status: "ok", result: value })
      return done({ status: "failed", reason: "reported something that is neither a result nor a skip" })
    })
  })

// ---- formatting ------------------------------------------------------------------------------------------------

const number = (value: number | null): string => {
  if (value === null || !Number.isFinite(value)) return "—"
  const magnitude = Math.abs(value)
  if (magnitude >= 100) return Math.round(value).toLocaleString("en-US")
  if (magnitude >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

const ratio = (value: number | null): string => value === null || !Number.isFinite(value) ? "—" : `${value.toFixed(2)}×`

const met = (row: Row): string => row.met === null ? "" : row.met ? "met" : "MISSED"

const columns = [
  { title: "metric", width: 46, align: "left" },
  { title: "baseline", width: 11, align: "right" },
  { title: "subject", width: 11, align: "right" },
  { title: "unit", width: 6, align: "left" },
  { title: "ratio", width: 9, align: "right" },
  { title: "target", width: 22, align: "left" },
  { title: "met", width: 6, align: "left" }
] as const

const line = (cells: ReadonlyArray<string>) =>
  `  ${
    cells.map((cell, i) => {
      const column = columns[i]!
      const text = cell.length > column.width ? `${cell.slice(0, column.width - 1)}…` : cell
      return column.align === "left" ? text.padEnd(column.width) : text.padStart(column.width)
    }).join("  ").trimEnd()
  }`

const render = (ran: ReadonlyArray<Ran>): string => {
  const out: Array<string> = []
  for (const { entry, outcome, seconds } of ran) {
    const label = `${entryName(entry)}  ${outcome.status === "ok" ? outcome.result.title : entry.title}`
    out.push("", `── ${label} ${"─".repeat(Math.max(3, 110 - label.length))} ${seconds.toFixed(1)} s`)
    if (outcome.status !== "ok") {
      out.push(`  ${outcome.status.toUpperCase()}: ${outcome.reason}`)
      continue
    }
    const result = outcome.result
    out.push(`  baseline: ${result.baseline}`, `  subject:  ${result.subject}`)
    out.push(line(columns.map((column) => column.title)))
    for (const row of result.rows) {
      out.push(line([
        row.metric,
        number(row.baseline),
        number(row.subject),
        row.unit,
        ratio(row.ratio),
        row.target ?? "",
        met(row)
      ]))
    }
    for (const note of result.notes) out.push(`  · ${note}`)
    const context = Object.entries(result.context).map(([key, value]) => `${key} ${value}`)
    if (context.length > 0) out.push(`  · context: ${context.join(", ")}`)
  }
  return out.join("\n")
}

// ---- run ---------------------------------------------------------------------------------------------------------

const startedAt = new Date()
const environment = {
  node: process.version,
  platform: `${platform()} ${arch()}`,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryGB: Math.round(totalmem() / 1024 ** 3)
}
console.log(
  `yoi bench ${quick ? "--quick" : "(full)"}: ${selected.length} case processes — node ${environment.node}, ` +
    `${environment.platform}, ${environment.cpus} CPUs (${environment.cpuModel})`
)
console.log("ratio = subject / baseline (throughputs: baseline / subject); above 1 means the subject is slower")

const ran: Array<Ran> = []
let preparingMs = 0
for (const entry of selected) {
  if (entry.prepare !== undefined) {
    process.stdout.write(`  preparing ${entryName(entry)} ${entry.title} …`)
    const started = performance.now()
    // oxlint-disable-next-line no-await-in-loop
    const problem = await entry.prepare()
    const ms = performance.now() - started
    preparingMs += ms
    // A failed preparation is left to the case, which reports it as its skip reason.
    process.stdout.write(
      (problem === null ? " ready" : ` not ready: ${problem.split("\n")[0]}`) + ` (${(ms / 1000).toFixed(1)} s)\n`
    )
  }
  process.stdout.write(`  running ${entryName(entry)} ${entry.title} …`)
  // One case at a time, on purpose: cases running side by side would measure each other.
  // oxlint-disable-next-line no-await-in-loop
  const result = await runEntry(entry)
  process.stdout.write(` ${result.outcome.status} (${result.seconds.toFixed(1)} s)\n`)
  ran.push(result)
}

console.log(render(ran))

const rows = ran.flatMap((r) => r.outcome.status === "ok" ? r.outcome.result.rows : [])
const missed = ran.flatMap((r) =>
  r.outcome.status === "ok"
    ? r.outcome.result.rows.filter((row) => row.met === false).map((row) => `${r.entry.id}: ${row.metric}`)
    : []
)
const summary = {
  targetsMet: rows.filter((row) => row.met === true).length,
  targetsMissed: missed.length,
  missed,
  skipped: ran.filter((r) => r.outcome.status === "skipped").map((r) => entryName(r.entry)),
  capped: ran.filter((r) => r.outcome.status === "capped").map((r) => entryName(r.entry)),
  failed: ran.filter((r) => r.outcome.status === "failed").map((r) => entryName(r.entry)),
  seconds: Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
  /** Of `seconds`, the one-off setup outside the cases' timers (installing the peer on first use). */
  preparingSeconds: Math.round(preparingMs / 100) / 10
}
console.log(
  `\ntargets: ${summary.targetsMet} met, ${summary.targetsMissed} missed` +
    (summary.skipped.length > 0 ? `; skipped: ${summary.skipped.join(", ")}` : "") +
    (summary.capped.length > 0 ? `; capped: ${summary.capped.join(", ")}` : "") +
    (summary.failed.length > 0 ? `; FAILED: ${summary.failed.join(", ")}` : "") +
    ` — ${summary.seconds} s in all` +
    (summary.preparingSeconds >= 1 ? ` (${summary.preparingSeconds} s of it preparing)` : "")
)

if (profile) {
  for (const { entry } of ran) {
    const directory = profileDirectory(entry)
    for (const file of readdirSync(directory).filter((name) => name.endsWith(".cpuprofile"))) {
      console.log(`\nprofile ${entryName(entry)} (${join(directory, file)}):`)
      console.log(summarizeProfile(join(directory, file), 15))
    }
  }
}

mkdirSync(resultsDirectory, { recursive: true })
const file = join(resultsDirectory, "latest.json")
writeFileSync(
  file,
  `${
    JSON.stringify(
      {
        harness: "@yoi/bench",
        mode: quick ? "quick" : "full",
        startedAt: startedAt.toISOString(),
        environment,
        cases: ran.map(({ entry, seconds, outcome }) => ({
          id: entry.id,
          ...(entry.part !== undefined ? { part: entry.part } : {}),
          title: entry.title,
          seconds: Math.round(seconds * 10) / 10,
          status: outcome.status,
          ...(outcome.status === "ok" ? { result: outcome.result } : { reason: outcome.reason })
        })),
        summary
      },
      null,
      2
    )
  }\n`
)
console.log(`figures written to ${file}`)
process.exitCode = summary.failed.length > 0 ? 1 : 0
