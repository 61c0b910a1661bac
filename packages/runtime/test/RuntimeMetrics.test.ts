/**
 * The Runtime's metrics move at the transitions that change them: runs by how they ended, runs in flight, queued
 * inputs, open watchers, delivered deltas and store commits. Each test has its own `MetricRegistry`.
 */
import { assert, it } from "@effect/vitest"
import { type RuntimeEvent } from "@yoi/domain"
import { Runtime, RuntimeMetrics, RuntimePresets } from "@yoi/runtime"
import { Effect, Fiber, Metric, Stream } from "effect"
import * as Harness from "./support/harness.ts"

const user = (text: string) => ({ kind: "user" as const, text })

const count = (counter: Metric.Counter<number>) => Effect.map(Metric.value(counter), (state) => state.count)
const gauge = (metric: Metric.Gauge<number>) => Effect.map(Metric.value(metric), (state) => state.value)

/** Watches a Worker from the start until its run `runId` ends. */
const watchRun = (runtime: Runtime.Runtime["Service"], workerId: string, runId: string) =>
  runtime.watchWorker({ workerId }).pipe(
    Stream.takeUntil((item) =>
      (item._tag === "run_finished" || item._tag === "run_failed" || item._tag === "run_cancelled") &&
      item.runId === runId
    ),
    Stream.runCollect
  )

it.effect("runs, queued inputs, watchers, deltas and commits are counted where they change", () =>
  Effect.gen(function*() {
    const runtime = yield* Runtime.Runtime
    const create = Effect.map(runtime.createWorker({}), (created) => created.worker.ref.workerId)

    // a finished run, watched: its deltas are delivered
    const a = yield* create
    const finished = yield* runtime.sendInput({ workerId: a, input: user("hi") })
    const items = yield* watchRun(runtime, a, finished.runId)
    const deltas = items.filter((item): item is RuntimeEvent.WorkerEvent => item._tag === "text_delta").length
    assert.isAbove(deltas, 0)

    // a failed run
    const b = yield* create
    const failed = yield* runtime.sendInput({ workerId: b, input: user("/script {\"fail\":\"before\"}") })
    const failedItems = yield* watchRun(runtime, b, failed.runId)
    assert.strictEqual(failedItems[failedItems.length - 1]!._tag, "run_failed")

    // a run in flight (its first delta waits on the test clock), a queued input and an open watcher
    const c = yield* create
    yield* runtime.sendInput({ workerId: c, input: Harness.inFlight })
    const queued = yield* runtime.sendInput({ workerId: c, input: user("later"), whenBusy: "enqueue" })
    assert.strictEqual(queued.status, "queued")
    const watcher = yield* runtime.watchWorker({ workerId: c }).pipe(
      Stream.runDrain,
      Effect.forkChild({ startImmediately: true })
    )
    yield* Effect.yieldNow
    assert.strictEqual(yield* count(RuntimeMetrics.runsStarted), 3)
    assert.strictEqual(yield* count(RuntimeMetrics.runsFinished), 1)
    assert.strictEqual(yield* count(RuntimeMetrics.runsFailed), 1)
    assert.strictEqual(yield* count(RuntimeMetrics.runsCancelled), 0)
    assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 1)
    assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 1)
    assert.strictEqual(yield* gauge(RuntimeMetrics.watchers), 1)
    assert.strictEqual(yield* count(RuntimeMetrics.deltasDelivered), deltas)

    // stopping the Worker cancels its run and drops its queue; closing the watcher leaves no watcher
    yield* runtime.stopWorker({ workerId: c })
    yield* Fiber.interrupt(watcher)
    assert.strictEqual(yield* count(RuntimeMetrics.runsCancelled), 1)
    assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 0)
    assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 0)
    assert.strictEqual(yield* gauge(RuntimeMetrics.watchers), 0)
    assert.strictEqual(yield* count(RuntimeMetrics.runsStarted), 3)

    // every transition above was a store commit
    const commits = yield* Metric.value(RuntimeMetrics.storeCommitSeconds)
    assert.isAbove(commits.count, 6)
  }).pipe(
    Effect.provide(RuntimePresets.layerMemory({ engine: { reply: "one two three" } })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  ))

it.effect("a queued input that starts leaves the queue gauge", () =>
  Effect.gen(function*() {
    const runtime = yield* Runtime.Runtime
    const workerId = (yield* runtime.createWorker({})).worker.ref.workerId
    const first = yield* runtime.sendInput({ workerId, input: Harness.inFlight })
    const second = yield* runtime.sendInput({ workerId, input: user("next"), whenBusy: "enqueue" })
    assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 1)
    const cancelled = yield* runtime.cancelRun({ workerId })
    assert.strictEqual(cancelled.runId, first.runId)
    yield* watchRun(runtime, workerId, second.runId)
    assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 0)
    assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 0)
    assert.strictEqual(yield* count(RuntimeMetrics.runsStarted), 2)
    assert.strictEqual(yield* count(RuntimeMetrics.runsCancelled), 1)
    assert.strictEqual(yield* count(RuntimeMetrics.runsFinished), 1)
  }).pipe(
    Effect.provide(RuntimePresets.layerMemory()),
    Effect.provideService(Metric.MetricRegistry, new Map())
  ))

it.effect("a Runtime's closing scope takes its queued inputs and interrupted runs out of the gauges", () =>
  Effect.gen(function*() {
    yield* Effect.gen(function*() {
      const runtime = yield* Runtime.Runtime
      const workerId = (yield* runtime.createWorker({})).worker.ref.workerId
      yield* runtime.sendInput({ workerId, input: Harness.inFlight })
      yield* runtime.sendInput({ workerId, input: user("later"), whenBusy: "enqueue" })
      assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 1)
      assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 1)
    }).pipe(Effect.provide(RuntimePresets.layerMemory()))
    // the scope closed without a shutdown: nothing of that Runtime is counted any more
    assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 0)
    assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 0)
  }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
