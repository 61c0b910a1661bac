/**
 * Case 6 — bounded transcript reads: `GetTranscript(limit 50)` through the embedded client over a filesystem
 * Runtime, on a Worker with 10⁶ transcript entries (10⁴ with `--quick`) vs a Worker with 10². The store files are
 * written directly in the `FileSystemWorkerStore` format (`StoreFiles`); every page read decodes and checks them.
 */
import { NodeServices } from "@effect/platform-node"
import { RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Effect, FileSystem } from "effect"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { compare, timed } from "../support/Loops.ts"
import { now, round, summarize } from "../support/Measure.ts"
import * as StoreFiles from "../support/StoreFiles.ts"

export const run = (options: CaseOptions): Promise<CaseResult> => {
  const large = options.quick ? 10_000 : 1_000_000
  const small = 100
  const loop = { warmup: 200, count: options.quick ? 500 : 5_000, budgetMs: options.quick ? 2_500 : 15_000 }

  const program = Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-bench-transcript-" })
    const allocationDirectory = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-bench-alloc-" })
    const smallId = StoreFiles.workerId(0)
    const largeId = StoreFiles.workerId(1)
    const writeStart = now()
    StoreFiles.checkTemplate()
    StoreFiles.writeWorker(directory, smallId, small)
    const generated = StoreFiles.writeWorker(directory, largeId, large)
    const writeMs = now() - writeStart

    return yield* Effect.gen(function*() {
      const client = yield* RuntimeClient.RuntimeClient
      const latest = (workerId: string) => client.GetTranscript({ workerId, limit: 50 })
      const check = yield* latest(largeId)
      if (check.total !== large || check.entries.length !== 50 || check.entries[49]!.seq !== large) {
        return yield* Effect.die(new Error("bench case 6: the generated transcript does not read back"))
      }
      const samples = yield* compare([
        timed(latest(smallId)),
        timed(latest(largeId)),
        timed(client.GetTranscript({ workerId: largeId, limit: 50, before: large / 2 })),
        timed(client.GetTranscript({ workerId: largeId, limit: 50, after: 0 }))
      ], loop)
      const [baseline, subject, middle, first] = samples.map(summarize)
      return {
        baseline: baseline!,
        subject: subject!,
        middle: middle!,
        first: first!,
        writeMs,
        bytes: generated.transcriptBytes
      }
    }).pipe(
      Effect.provide(EmbeddedRuntimeClient.layer),
      Effect.provide(RuntimePresets.layerFileSystem({ runtimeId: "bench", directory, allocationDirectory }))
    )
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

  return Effect.runPromise(program).then((r) => ({
    id: "6",
    title: "Bounded transcript",
    baseline: `GetTranscript(limit 50) on a Worker with ${small} entries`,
    subject: `GetTranscript(limit 50) on a Worker with ${large} entries (filesystem store, embedded client)`,
    rows: [
      row({ metric: "latest page p50", unit: "µs", baseline: r.baseline.p50, subject: r.subject.p50, maxRatio: 2 }),
      row({ metric: "latest page p99", unit: "µs", baseline: r.baseline.p99, subject: r.subject.p99 }),
      row({ metric: "middle page (before N/2) p50", unit: "µs", baseline: r.baseline.p50, subject: r.middle.p50 }),
      row({ metric: "first page (after 0) p50", unit: "µs", baseline: r.baseline.p50, subject: r.first.p50 })
    ],
    notes: [
      `store files written directly in the FileSystemWorkerStore format (${large} entries, ` +
      `${round(r.bytes / 1024 / 1024, 1)} MB of transcript, in ${round(r.writeMs / 1000, 1)} s), not through the ` +
      "Runtime; page reads decode every line with the domain schema and check it against the index",
      "warm page cache (the files were just written)"
    ],
    context: {
      entries: large,
      transcriptMB: round(r.bytes / 1024 / 1024, 1),
      pages: r.subject.n,
      generateMs: round(r.writeMs)
    }
  }))
}
