/**
 * Case 5 — concurrency: N Workers (1,000; 200 with `--quick`) each streaming 100 deltas at once, every Worker
 * watched through the embedded client. Figures: completion time (first input sent → last `run_finished` received)
 * and delivery lag (engine emit → watcher receive, stamped by `StampEngine`). Baseline: the same N engine streams
 * consumed directly and concurrently. Two shapes: paced (one delta every 10 ms, like a model streaming tokens) and
 * burst (zero delay).
 */
import { LlmEngine, RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient, Profiles, RuntimePresets } from "@yoi/runtime"
import { Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { now, round, summarize } from "../support/Measure.ts"
import * as StampEngine from "../support/StampEngine.ts"

interface Outcome {
  readonly ms: number
  /** CPU time of this process (user + system) per delivered delta, µs. */
  readonly cpuPerDelta: number
  readonly lags: Array<number>
  readonly deltas: number
}

const lag = (outcome: Outcome) => summarize(outcome.lags)

const cpuPer = (since: NodeJS.CpuUsage, count: number) => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / count
}

export const run = (options: CaseOptions): Promise<CaseResult> => {
  const workers = options.quick ? 200 : 1_000
  const deltas = 100
  const pacedMs = 10

  const program = Effect.gen(function*() {
    const client = yield* RuntimeClient.RuntimeClient
    const engine = yield* LlmEngine.LlmEngine
    const ids: Array<string> = []
    for (let i = 0; i < workers; i++) {
      ids.push((yield* client.CreateWorker({ profile: { kind: "builtin", name: "companion" } })).worker.ref.workerId)
    }

    const subject = (script: string) =>
      Effect.gen(function*() {
        const lags: Array<number> = []
        const ready = yield* Effect.forEach(ids, () => Deferred.make<void>())
        const watchers = yield* Effect.forEach(ids, (workerId, i) =>
          Effect.gen(function*() {
            const detail = yield* client.GetWorker({ workerId })
            return yield* client.WatchWorker({ workerId, after: detail.lastSeq }).pipe(
              Stream.takeUntil((item) => item._tag === "run_finished"),
              Stream.runForEachArray((items) =>
                Effect.sync(() => {
                  const at = now()
                  for (const item of items) {
                    if (item._tag === "snapshot") Deferred.doneUnsafe(ready[i]!, Effect.void)
                    else if (item._tag === "text_delta") lags.push(StampEngine.lagOf(item.delta, at))
                  }
                })
              ),
              Effect.forkScoped
            )
          }))
        yield* Effect.forEach(ready, Deferred.await, { discard: true })
        const cpu = process.cpuUsage()
        const start = now()
        yield* Effect.forEach(
          ids,
          (workerId) => client.SendInput({ workerId, input: { kind: "user", text: `/script ${script}` } }),
          { concurrency: "unbounded", discard: true }
        )
        yield* Effect.forEach(watchers, Fiber.join, { discard: true })
        return { ms: now() - start, cpuPerDelta: cpuPer(cpu, lags.length), lags, deltas: lags.length } satisfies Outcome
      }).pipe(Effect.scoped)

    const baseline = (script: string) =>
      Effect.gen(function*() {
        const lags: Array<number> = []
        const cpu = process.cpuUsage()
        const start = now()
        yield* Effect.forEach(ids, (workerId) =>
          engine.stream({
            workerId,
            runId: "r_bench",
            profile: Profiles.companion,
            model: "scripted",
            history: [],
            input: `/script ${script}`
          }).pipe(
            Stream.runForEachArray((items) =>
              Effect.sync(() => {
                const at = now()
                for (const item of items) if (item._tag === "text_delta") lags.push(StampEngine.lagOf(item.delta, at))
              })
            )
          ), { concurrency: "unbounded", discard: true })
        return { ms: now() - start, cpuPerDelta: cpuPer(cpu, lags.length), lags, deltas: lags.length } satisfies Outcome
      })

    const paced = JSON.stringify({ deltas, delayMs: pacedMs })
    const burst = JSON.stringify({ deltas })
    // Warm-up: one burst round through both paths.
    yield* baseline(burst)
    yield* subject(burst)
    return {
      baselinePaced: yield* baseline(paced),
      subjectPaced: yield* subject(paced),
      baselineBurst: yield* baseline(burst),
      subjectBurst: yield* subject(burst)
    }
  }).pipe(
    Effect.provide([
      EmbeddedRuntimeClient.layer.pipe(
        Layer.provide(RuntimePresets.layerMemory({ runtimeId: "bench", engineLayer: StampEngine.layer() }))
      ),
      StampEngine.layer()
    ])
  )

  return Effect.runPromise(program).then((r) => {
    const [bp, sp, bb, sb] = [lag(r.baselinePaced), lag(r.subjectPaced), lag(r.baselineBurst), lag(r.subjectBurst)]
    return {
      id: "5",
      title: "Concurrency",
      baseline: `${workers} engine streams consumed directly, concurrently`,
      subject: `${workers} Workers × ${deltas} deltas at once, each watched via the embedded client (memory Runtime)`,
      rows: [
        row({
          metric: `paced (${pacedMs} ms/delta) completion`,
          unit: "ms",
          baseline: r.baselinePaced.ms,
          subject: r.subjectPaced.ms
        }),
        row({ metric: "paced delivery lag p50", unit: "ms", baseline: bp.p50, subject: sp.p50 }),
        row({ metric: "paced delivery lag p99", unit: "ms", baseline: bp.p99, subject: sp.p99, maxAbsolute: 50 }),
        row({ metric: "burst completion", unit: "ms", baseline: r.baselineBurst.ms, subject: r.subjectBurst.ms }),
        row({ metric: "burst delivery lag p99", unit: "ms", baseline: bb.p99, subject: sb.p99 }),
        row({
          metric: "paced CPU per delta",
          unit: "µs",
          baseline: r.baselinePaced.cpuPerDelta,
          subject: r.subjectPaced.cpuPerDelta
        }),
        row({
          metric: "burst deltas delivered/s",
          unit: "ops/s",
          baseline: r.baselineBurst.deltas / r.baselineBurst.ms * 1000,
          subject: r.subjectBurst.deltas / r.subjectBurst.ms * 1000,
          higherIsBetter: true
        })
      ],
      notes: [
        `completion: from the first SendInput to the last run_finished received; inputs sent concurrently ` +
        `after all ${workers} watchers received their snapshot`,
        "lag: performance.now() at the engine's emit (StampEngine) to the watcher's receive, same process",
        `paced load: ${workers * 1000 / pacedMs} deltas/s offered; one core sustains about 1e6 / (CPU per delta) ` +
        "deltas/s — past that, deltas queue and the lag grows"
      ],
      context: {
        workers,
        deltasPerRun: deltas,
        pacedDelivered: r.subjectPaced.deltas,
        burstDelivered: r.subjectBurst.deltas,
        pacedLagMaxMs: round(sp.max),
        burstLagP50Ms: round(sb.p50)
      }
    }
  })
}
