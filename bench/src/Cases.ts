/**
 * The benchmark cases, in order. Each entry is one process: the harness runs every entry in a fresh Node process
 * (so one case's heap, timers and page cache state never leak into another's figures) and kills it at its time
 * cap. Case 4 has two entries (memory and filesystem store) so their resident memory is measured apart.
 */
import { existsSync } from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { CaseOptions, CaseResult, Skipped } from "./CaseResult.ts"

export interface CaseEntry {
  readonly id: string
  readonly part?: string | undefined
  readonly title: string
  /** Time caps in seconds (quick, full): past it the process is killed and the case reported as capped. */
  readonly capSeconds: { readonly quick: number; readonly full: number }
  /** Extra Node flags for the case's process. */
  readonly nodeFlags?: ReadonlyArray<string> | undefined
  /** One-off setup run by the harness before the case's timer starts (e.g. installing a peer); returns a problem or null. */
  readonly prepare?: (() => Promise<string | null>) | undefined
  readonly run: (options: CaseOptions) => Promise<CaseResult | Skipped>
}

/** The peer comparison lives in its own folder and may be absent. */
export const peerCase = fileURLToPath(new URL("../peer-langgraph/case.ts", import.meta.url))

/** Case 8's module, loaded only when it runs (its folder keeps its own dependencies). */
const peer = async () =>
  (await import(pathToFileURL(peerCase).href)) as {
    readonly ensurePeerDeps: () => Promise<string | null>
    readonly run: (options: CaseOptions) => Promise<CaseResult | Skipped>
  }

/**
 * Case 4 measures resident memory: V8 grows the young generation with the allocation rate, not with live data, so
 * left free its size (up to tens of MB) lands in whichever reading comes after the busier phase; fixed, RSS growth
 * is the old space's, which is where idle Workers live.
 */
const scaleFlags = ["--min-semi-space-size=16", "--max-semi-space-size=16"]

export const cases: ReadonlyArray<CaseEntry> = [
  {
    id: "1",
    title: "In-process turn",
    capSeconds: { quick: 20, full: 120 },
    run: async (options) => (await import("./cases/InProcessTurn.ts")).run(options)
  },
  {
    id: "2",
    title: "HTTP command round trip",
    capSeconds: { quick: 20, full: 180 },
    run: async (options) => (await import("./cases/HttpRoundTrip.ts")).run(options)
  },
  {
    id: "3",
    title: "Streaming over HTTP",
    capSeconds: { quick: 20, full: 120 },
    run: async (options) => (await import("./cases/Streaming.ts")).run(options)
  },
  {
    id: "4",
    part: "memory",
    title: "Scale (memory store)",
    nodeFlags: scaleFlags,
    capSeconds: { quick: 20, full: 120 },
    run: async (options) => (await import("./cases/Scale.ts")).run({ ...options, part: "memory" })
  },
  {
    id: "4",
    part: "filesystem",
    title: "Scale (filesystem store)",
    nodeFlags: scaleFlags,
    capSeconds: { quick: 30, full: 180 },
    run: async (options) => (await import("./cases/Scale.ts")).run({ ...options, part: "filesystem" })
  },
  {
    id: "5",
    title: "Concurrency",
    capSeconds: { quick: 20, full: 120 },
    run: async (options) => (await import("./cases/Concurrency.ts")).run(options)
  },
  {
    id: "6",
    title: "Bounded transcript",
    capSeconds: { quick: 20, full: 120 },
    run: async (options) => (await import("./cases/BoundedTranscript.ts")).run(options)
  },
  {
    id: "7",
    title: "Recovery",
    capSeconds: { quick: 30, full: 240 },
    run: async (options) => (await import("./cases/Recovery.ts")).run(options)
  },
  {
    id: "8",
    title: "Peer: langgraph.js",
    capSeconds: { quick: 30, full: 180 },
    prepare: async () => existsSync(peerCase) ? (await peer()).ensurePeerDeps() : null,
    run: async (options) =>
      existsSync(peerCase) ? (await peer()).run(options) : { skipped: "bench/peer-langgraph/case.ts is not present" }
  },
  {
    id: "9",
    title: "Engine path (real llama.cpp server)",
    capSeconds: { quick: 30, full: 180 },
    // installs llama-server outside the cap (CI installs it after the bench); the case fails if it cannot start one
    prepare: async () => (await import("./cases/EnginePath.ts")).ensureLlamaServer(),
    run: async (options) => (await import("./cases/EnginePath.ts")).run(options)
  }
]

/** Prefix of the line on which a case process prints its result. */
export const resultMarker = "@@yoi-bench-result "

export const entryName = (entry: Pick<CaseEntry, "id" | "part">): string =>
  entry.part === undefined ? entry.id : `${entry.id}-${entry.part}`
