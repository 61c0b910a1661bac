/**
 * Case 4 — scale: N idle Workers in one Runtime, created through the embedded client, on the memory store (part
 * `memory`) and on the filesystem store (part `filesystem`); the harness runs each part in its own process so
 * their memory does not mix. Figures: resident memory per Worker (the growth from N/2 to N Workers, after full
 * collections) and `ListWorkers(limit 100)` latency at N vs at 100 Workers. The filesystem part then restarts on
 * the store it built (a fresh store and Runtime on the same directory, until `GetRuntime` answers), for context:
 * a store of Workers that never ran, as the Runtime writes it.
 */
import { NodeServices } from "@effect/platform-node"
import { RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient, Runtime, RuntimePresets } from "@yoi/runtime"
import { Context, Effect, FileSystem, Layer } from "effect"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { timeLoop } from "../support/Loops.ts"
import { deadline, now, round, settledHeap, settledRss, summarize } from "../support/Measure.ts"

export type Part = "memory" | "filesystem"

const kb = (bytes: number) => bytes / 1024

export const run = (options: CaseOptions & { readonly part: Part }): Promise<CaseResult> => {
  const target = options.quick ? 1_000 : 10_000
  const small = 100
  const loop = { warmup: 200, count: options.quick ? 500 : 2_000, budgetMs: options.quick ? 800 : 3_000 }
  const createBudgetMs = options.quick ? 15_000 : 90_000

  const measure = Effect.gen(function*() {
    const client = yield* RuntimeClient.RuntimeClient
    const createTimes: Array<number> = []
    const budget = deadline(createBudgetMs)
    const createUpTo = (n: number) =>
      Effect.gen(function*() {
        while (createTimes.length < n && !budget.expired()) {
          const start = now()
          yield* client.CreateWorker({ profile: { kind: "builtin", name: "companion" } })
          createTimes.push((now() - start) * 1000)
        }
      })
    const listFirst = client.ListWorkers({ limit: 100 })

    yield* createUpTo(small)
    const atSmall = summarize(yield* timeLoop(listFirst, loop))

    // Memory per Worker is the marginal growth from N/2 to N Workers, both read right after creating: by N/2 the
    // JIT's code and V8's heap spaces have grown to their working size, which a reading at 100 Workers would
    // charge to the Workers (it made RSS per Worker 3-12 KB depending on what ran before, for ~1.2 KB of live heap).
    const half = Math.floor(target / 2)
    yield* createUpTo(half)
    const atHalf = createTimes.length
    const rssHalf = yield* Effect.promise(settledRss)
    const heapHalf = settledHeap()
    yield* createUpTo(target)
    const reached = createTimes.length
    const rssLarge = yield* Effect.promise(settledRss)
    const heapLarge = settledHeap()
    const atLarge = summarize(yield* timeLoop(listFirst, loop))
    // The cursor of a page in the middle, found by paging from the start.
    const middle = yield* Effect.gen(function*() {
      let cursor = (yield* client.ListWorkers({ limit: 100 })).nextCursor
      for (let skipped = 100; skipped < reached / 2 && cursor !== undefined; skipped += 100) {
        cursor = (yield* client.ListWorkers({ limit: 100, cursor })).nextCursor
      }
      return cursor
    })
    const atLargeMiddle = summarize(
      yield* timeLoop(client.ListWorkers({ limit: 100, ...(middle !== undefined ? { cursor: middle } : {}) }), loop)
    )
    return {
      reached,
      create: summarize(createTimes),
      atSmall,
      atLarge,
      atLargeMiddle,
      rssPerWorker: (rssLarge - rssHalf) / (reached - atHalf),
      heapPerWorker: (heapLarge - heapHalf) / (reached - atHalf),
      rssLarge
    }
  })

  const program = Effect.gen(function*() {
    if (options.part === "memory") {
      const measured = yield* measure.pipe(
        Effect.provide(
          EmbeddedRuntimeClient.layer.pipe(Layer.provide(RuntimePresets.layerMemory({ runtimeId: "bench" })))
        )
      )
      return { ...measured, reopenMs: undefined }
    }
    const fs = yield* FileSystem.FileSystem
    const directories = {
      runtimeId: "bench",
      directory: yield* fs.makeTempDirectoryScoped({ prefix: "yoi-bench-scale-" }),
      allocationDirectory: yield* fs.makeTempDirectoryScoped({ prefix: "yoi-bench-alloc-" })
    }
    const measured = yield* measure.pipe(
      Effect.provide(EmbeddedRuntimeClient.layer.pipe(Layer.provide(RuntimePresets.layerFileSystem(directories))))
    )
    // The first Runtime is closed: restart on its store.
    const start = now()
    const context = yield* Layer.build(RuntimePresets.layerFileSystem(directories))
    const summary = yield* Context.get(context, Runtime.Runtime).getRuntime
    if (summary.counts.total !== measured.reached) {
      return yield* Effect.die(`bench case 4: the restart restored ${summary.counts.total} of ${measured.reached}`)
    }
    return { ...measured, reopenMs: now() - start }
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

  return Effect.runPromise(program).then((r) => ({
    id: "4",
    title: `Scale (${options.part} store)`,
    baseline: `the same Runtime at ${small} Workers`,
    subject: `${r.reached} idle Workers in one Runtime (${options.part} store), embedded client`,
    rows: [
      row({
        metric: `[${options.part}] RSS per Worker`,
        unit: "KB",
        baseline: null,
        subject: kb(r.rssPerWorker),
        // Over 500 Workers the growth is a few MB, inside the allocator's own steps: judged on the full run only.
        maxAbsolute: options.quick ? undefined : 4
      }),
      row({ metric: `[${options.part}] JS heap per Worker`, unit: "KB", baseline: null, subject: kb(r.heapPerWorker) }),
      row({
        metric: `[${options.part}] ListWorkers(100) p50`,
        unit: "µs",
        baseline: r.atSmall.p50,
        subject: r.atLarge.p50,
        maxRatio: 2
      }),
      row({
        metric: `[${options.part}] ListWorkers(100) p99`,
        unit: "µs",
        baseline: r.atSmall.p99,
        subject: r.atLarge.p99
      }),
      row({
        metric: `[${options.part}] ListWorkers(100) p50, middle page`,
        unit: "µs",
        baseline: r.atSmall.p50,
        subject: r.atLargeMiddle.p50
      }),
      ...(r.reopenMs === undefined ? [] : [
        row({
          metric: `[${options.part}] restart on this store`,
          unit: "ms",
          baseline: null,
          subject: r.reopenMs
        })
      ])
    ],
    notes: [
      `Workers created one by one through the embedded client (${options.part} store); ` +
      "the case's process runs with a fixed 16 MB young generation (bench/src/Cases.ts): RSS then moves with " +
      "the old space, in the allocator's steps, so the JS heap figure (live objects after full collections) is " +
      "the stable one; RSS per Worker can even read below it when the old space had pages committed already",
      `per-Worker memory is the growth from ${Math.floor(target / 2)} to ${r.reached} Workers after full ` +
      "collections (marginal: the JIT and heap spaces are warm by then)",
      ...(options.quick
        ? [
          "--quick: RSS growth over 500 Workers is within the allocator's noise, so RSS per Worker is judged on " +
          "the full run (10,000 Workers); the JS heap figure is the stable one"
        ]
        : []),
      ...(r.reached < target ? [`creation stopped by its time cap at ${r.reached} of ${target} Workers`] : [])
    ],
    context: {
      workers: r.reached,
      createMeanUs: round(r.create.mean),
      createP99Us: round(r.create.p99),
      rssMB: round(r.rssLarge / 1024 / 1024, 1)
    }
  }))
}
