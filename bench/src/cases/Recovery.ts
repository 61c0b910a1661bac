/**
 * Case 7 — recovery: restarting on a filesystem store that holds N Workers (10,000; 1,000 with `--quick`) with
 * 10⁶ transcript entries in all (10⁴). Subjects: (a) in process, opening the store and the Runtime
 * (`RuntimePresets.layerFileSystem`: load every record, check every log against its watermark, reconcile) until
 * `GetRuntime` answers; (b) the real `yoi-runtime serve` process, from spawn to its "listening" banner. Baselines:
 * (a) a bare `node:fs` scan doing the same reads (list, read and parse each `worker.json`, stat its three logs);
 * (b) the same process on an empty data directory. The store files are written directly (`StoreFiles`).
 *
 * Each subject is measured twice: after a crash (no clean-close marker: every log is checked against its
 * watermark) and after a clean stop (the marker left by closing the store lets the open read only the records).
 * A crash is simulated by removing the marker; a clean stop is a closed scope in process and SIGTERM for the process.
 */
import { NodeServices } from "@effect/platform-node"
import { FileSystemStoreFormat } from "@yoi/adapters"
import { Runtime, RuntimePresets } from "@yoi/runtime"
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { readdir, readFile, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { now, round, summarize, type Summary } from "../support/Measure.ts"
import * as StoreFiles from "../support/StoreFiles.ts"

const bin = fileURLToPath(import.meta.resolve("@yoi/server/bin"))

/** The bare scan: what opening the store reads, with the store's concurrency (8). */
const bareScan = async (directory: string): Promise<number> => {
  const root = join(directory, FileSystemStoreFormat.workersDirectory)
  const names = (await readdir(root)).sort()
  let next = 0
  let loaded = 0
  // Eight lanes, each reading one Worker at a time: the store's own bounded concurrency.
  const lane = async () => {
    while (next < names.length) {
      const dir = join(root, names[next++]!)
      // oxlint-disable-next-line no-await-in-loop
      const file = JSON.parse(await readFile(join(dir, FileSystemStoreFormat.workerFile), "utf8")) as {
        readonly format: number
      }
      if (file.format === 1) loaded++
      // oxlint-disable-next-line no-await-in-loop
      await Promise.all(
        [FileSystemStoreFormat.eventLog, FileSystemStoreFormat.transcriptLog, FileSystemStoreFormat.transcriptIndex]
          .map((name) => stat(join(dir, name)).catch(() => null))
      )
    }
  }
  await Promise.all(Array.from({ length: 8 }, lane))
  return loaded
}

/** Opens a Runtime on `directory` and waits for `GetRuntime`; returns ms and the restored Worker count. */
const openRuntime = (directory: string, allocationDirectory: string) =>
  Effect.gen(function*() {
    const start = now()
    const context = yield* Layer.build(
      RuntimePresets.layerFileSystem({ runtimeId: "bench", directory, allocationDirectory })
    )
    const summary = yield* Context.get(context, Runtime.Runtime).getRuntime
    return { ms: now() - start, workers: summary.counts.total }
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

/** Marks the store as crashed: without the marker its next open checks every log. */
const crash = (directory: string) => rmSync(join(directory, "clean"), { force: true })

/**
 * Spawns `yoi-runtime serve` on `directory`; resolves with ms from spawn to the banner once the process is gone:
 * stopped with SIGKILL (a crash) or SIGTERM (a graceful stop, which leaves the store marked clean).
 */
const processStart = (directory: string, allocationDirectory: string, stop: "SIGKILL" | "SIGTERM" = "SIGKILL") =>
  new Promise<number>((resolve, reject) => {
    const start = now()
    const child = spawn(process.execPath, [
      bin,
      "serve",
      "--port",
      "0",
      "--data-dir",
      directory,
      "--allocation-dir",
      allocationDirectory
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    let listening: number | undefined
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (listening === undefined && /listening on http:\/\/\S+/.test(output)) {
        listening = now() - start
        child.kill(stop)
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", () => {
      clearTimeout(timer)
      if (listening !== undefined) resolve(listening)
      else reject(new Error(`yoi-runtime exited before listening:\n${output}`))
    })
  })

export const run = async (options: CaseOptions): Promise<CaseResult> => {
  const workers = options.quick ? 1_000 : 10_000
  const entriesEach = options.quick ? 10 : 100
  const repeats = options.quick ? 1 : 3
  const base = mkdtempSync(join(tmpdir(), "yoi-bench-recovery-"))
  const directory = join(base, "data")
  const empty = join(base, "empty")
  const allocations = join(base, "allocations")
  try {
    const writeStart = now()
    const generated = StoreFiles.writeStore(directory, workers, entriesEach)
    const writeMs = now() - writeStart

    const bare: Array<number> = []
    const opened: Array<number> = []
    const openedClean: Array<number> = []
    const started: Array<number> = []
    const startedClean: Array<number> = []
    const startedEmpty: Array<number> = []
    await Effect.runPromise(Effect.gen(function*() {
      for (let i = 0; i < repeats; i++) {
        const start = now()
        const loaded = yield* Effect.promise(() => bareScan(directory))
        bare.push(now() - start)
        if (loaded !== workers) return yield* Effect.die(`bench case 7: the bare scan loaded ${loaded} of ${workers}`)
        crash(directory)
        const open = yield* openRuntime(directory, allocations)
        // Its scope closed cleanly: the next open reads only the records.
        if (!existsSync(join(directory, "clean"))) return yield* Effect.die("bench case 7: no clean-close marker")
        const openClean = yield* openRuntime(directory, allocations)
        opened.push(open.ms)
        openedClean.push(openClean.ms)
        for (const restored of [open.workers, openClean.workers]) {
          if (restored !== workers) {
            return yield* Effect.die(`bench case 7: the Runtime restored ${restored} of ${workers} Workers`)
          }
        }
        startedClean.push(yield* Effect.promise(() => processStart(directory, allocations, "SIGTERM")))
        crash(directory)
        started.push(yield* Effect.promise(() => processStart(directory, allocations)))
        startedEmpty.push(yield* Effect.promise(() => processStart(empty, allocations)))
      }
    }))
    const [b, o, oc, s, sc, e] = [bare, opened, openedClean, started, startedClean, startedEmpty].map(summarize) as [
      Summary,
      Summary,
      Summary,
      Summary,
      Summary,
      Summary
    ]
    return {
      id: "7",
      title: "Recovery",
      baseline: "bare node:fs scan of the same files / the same process on an empty data directory",
      subject: `restart on a filesystem store with ${workers} Workers and ${generated.entries} transcript entries`,
      rows: [
        row({
          metric: "open store + Runtime in process, after crash",
          unit: "ms",
          baseline: b.p50,
          subject: o.p50,
          maxAbsolute: 2000
        }),
        row({
          metric: "open store + Runtime in process, after close",
          unit: "ms",
          baseline: b.p50,
          subject: oc.p50,
          maxAbsolute: 2000
        }),
        row({
          metric: "serve: spawn → listening, after crash",
          unit: "ms",
          baseline: e.p50,
          subject: s.p50,
          maxAbsolute: 2000
        }),
        row({
          metric: "serve: spawn → listening, after SIGTERM",
          unit: "ms",
          baseline: e.p50,
          subject: sc.p50,
          maxAbsolute: 2000
        })
      ],
      notes: [
        `store files written directly in the FileSystemWorkerStore format (${workers} × ${entriesEach} entries, ` +
        `${round(generated.transcriptBytes / 1024 / 1024, 1)} MB of transcript, in ${round(writeMs / 1000, 1)} s); ` +
        "event logs hold each Worker's last run (opening only checks their sizes)",
        "after a crash: the store's clean-close marker removed, so every log is checked against its watermark " +
        "(3 sizes per Worker); after a clean close / SIGTERM: the marker is there and only the records are read",
        `${
          repeats === 1 ? "one restart" : `median of ${repeats} restarts`
        } each; warm page cache (the files were just written)`
      ],
      context: {
        workers,
        entries: generated.entries,
        openMinMs: round(Math.min(...opened)),
        processMinMs: round(Math.min(...started)),
        processCleanMinMs: round(Math.min(...startedClean)),
        bareScanMs: round(b.p50)
      }
    }
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}
