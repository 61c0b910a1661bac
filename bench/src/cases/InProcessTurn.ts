/**
 * Case 1 — an in-process turn: `CreateWorker` + `SendInput` + `WatchWorker` until `run_finished`, through the
 * embedded client over a memory Runtime with the zero-delay scripted engine; baseline: draining the same engine
 * stream directly. Context rows split the cost: the same turn on the `Runtime` service directly (no RPC layer), and
 * input + wait only on one reused Worker. Observability rows time the same turn on four stacks of their own in a
 * second alternating loop — spans and metrics on, spans off, metrics discarded, both — each ratio on / off ≤ 1.05×.
 */
import { ScriptedLlmEngine } from "@yoi/adapters"
import { RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient, Profiles, Runtime, RuntimePresets } from "@yoi/runtime"
import { Context, Effect, Layer, Stream } from "effect"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { compare, timed } from "../support/Loops.ts"
import { round, summarize } from "../support/Measure.ts"
import * as Observability from "../support/Observability.ts"

const input = "hello"

const stack = EmbeddedRuntimeClient.layer.pipe(Layer.provideMerge(RuntimePresets.layerMemory({ runtimeId: "bench" })))
const turnOf = (client: RuntimeClient.RuntimeClientApi) =>
  Effect.gen(function*() {
    const { worker } = yield* client.CreateWorker({ profile: { kind: "builtin", name: "companion" } })
    const workerId = worker.ref.workerId
    const accepted = yield* client.SendInput({ workerId, input: { kind: "user", text: input } })
    yield* client.WatchWorker({ workerId, after: accepted.eventSeq - 1 }).pipe(
      Stream.takeUntil((item) => item._tag === "run_finished"),
      Stream.runDrain
    )
  })

export const run = (options: CaseOptions): Promise<CaseResult> => {
  const count = options.quick ? 1_000 : 20_000
  const warmup = options.quick ? 300 : 2_000
  const budgetMs = options.quick ? 3_000 : 20_000

  const program = Effect.gen(function*() {
    const client = yield* RuntimeClient.RuntimeClient
    const runtime = yield* Runtime.Runtime
    const waitFinished = (workerId: string, after: number) =>
      client.WatchWorker({ workerId, after }).pipe(
        Stream.takeUntil((item) => item._tag === "run_finished"),
        Stream.runDrain
      )
    const fullTurn = turnOf(client)
    const { worker: reused } = yield* client.CreateWorker({ profile: { kind: "builtin", name: "companion" } })
    const inputTurn = Effect.gen(function*() {
      const accepted = yield* client.SendInput({ workerId: reused.ref.workerId, input: { kind: "user", text: input } })
      yield* waitFinished(reused.ref.workerId, accepted.eventSeq - 1)
    })

    const runtimeTurn = Effect.gen(function*() {
      const { worker } = yield* runtime.createWorker({ profile: { kind: "builtin", name: "companion" } })
      const workerId = worker.ref.workerId
      const accepted = yield* runtime.sendInput({ workerId, input: { kind: "user", text: input } })
      yield* runtime.watchWorker({ workerId, after: accepted.eventSeq - 1 }).pipe(
        Stream.takeUntil((item) => item._tag === "run_finished"),
        Stream.runDrain
      )
    })

    const engine = ScriptedLlmEngine.make()
    const direct = engine.stream({
      workerId: "w_bench",
      runId: "r_bench",
      profile: Profiles.companion,
      model: "scripted",
      history: [],
      input
    }).pipe(Stream.runDrain)

    const samples = yield* compare(
      [timed(direct), timed(fullTurn), timed(runtimeTurn), timed(inputTurn)],
      { warmup, count, budgetMs }
    )
    const [baseline, subject, core, reuse] = samples.map(summarize)
    const observed = yield* Effect.forEach(Observability.settings, (setting) => {
      const under = Observability.under(setting)
      // a memo map of its own: the variant gets its own Runtime, not the one this program runs on
      const build = Effect.flatMap(
        Effect.all([Layer.makeMemoMap, Effect.scope]),
        ([memoMap, scope]) => Layer.buildWithMemoMap(stack, memoMap, scope)
      )
      return Effect.map(
        under(build),
        (context) => under(timed(turnOf(Context.get(context, RuntimeClient.RuntimeClient))))
      )
    })
    const [on, tracingOff, metricsOff, allOff] = (yield* compare(observed, { warmup, count, budgetMs })).map(
      summarize
    )
    const deltas = yield* engine.stream({
      workerId: "w_bench",
      runId: "r_bench",
      profile: Profiles.companion,
      model: "scripted",
      history: [],
      input
    }).pipe(Stream.runCount)
    return {
      baseline: baseline!,
      subject: subject!,
      core: core!,
      reuse: reuse!,
      deltas,
      observability: { on: on!, tracingOff: tracingOff!, metricsOff: metricsOff!, allOff: allOff! }
    }
  }).pipe(Effect.provide(stack), Effect.scoped)

  return Effect.runPromise(program).then(({ baseline, subject, core, reuse, deltas, observability }) => ({
    id: "1",
    title: "In-process turn",
    baseline: "drain the zero-delay scripted engine stream directly",
    subject: "embedded client: CreateWorker + SendInput + WatchWorker until run_finished (memory Runtime)",
    rows: [
      row({ metric: "turn mean", unit: "µs", baseline: baseline.mean, subject: subject.mean, maxRatio: 3 }),
      row({ metric: "turn mean (absolute)", unit: "µs", baseline: null, subject: subject.mean, maxAbsolute: 100 }),
      row({ metric: "turn p50", unit: "µs", baseline: baseline.p50, subject: subject.p50 }),
      row({ metric: "turn p99", unit: "µs", baseline: baseline.p99, subject: subject.p99 }),
      row({
        metric: "turns/s",
        unit: "ops/s",
        baseline: 1e6 / baseline.mean,
        subject: 1e6 / subject.mean,
        higherIsBetter: true
      }),
      row({
        metric: "same turn on the Runtime (no RPC) mean",
        unit: "µs",
        baseline: baseline.mean,
        subject: core.mean
      }),
      row({ metric: "same turn on the Runtime (no RPC) p50", unit: "µs", baseline: baseline.p50, subject: core.p50 }),
      row({ metric: "input-only turn mean (same Worker)", unit: "µs", baseline: baseline.mean, subject: reuse.mean }),
      row({ metric: "input-only turn p99", unit: "µs", baseline: baseline.p99, subject: reuse.p99 }),
      ...Observability.rows(observability, "mean")
    ],
    notes: [
      `engine: scripted, zero delay, reply "Scripted reply to: ${input}" in ${deltas - 1} text deltas + usage`,
      "no RPC: the same three calls on the Runtime service itself, so (subject − no RPC) is the embedded RPC layer",
      "input-only: SendInput + WatchWorker on one long-lived Worker (history read grows to the 100-entry bound)",
      Observability.note
    ],
    context: {
      turns: subject.n,
      baselineRuns: baseline.n,
      inputOnlyTurns: reuse.n,
      runtimeMeanUs: round(core.mean),
      subjectMeanUs: round(subject.mean),
      baselineMeanUs: round(baseline.mean),
      observedTurns: observability.on.n
    }
  }))
}
