/**
 * Execution bindings, the Runtime's side: every Worker is bound at create (a failed bind creates nothing; a failed
 * commit closes the binding), a stop closes its binding once, a lost binding fails its Worker — the run in flight
 * ends `execution_lost` with its partial text, queued inputs are cancelled, later input is refused — while the other
 * Workers keep working, and a Worker restored with a `BindingRecord` is `stale` until its next run re-binds it.
 * Runs over the test execution of `support/execution.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryWorkerStore } from "@yoi/adapters"
import { Errors, type Ids, type RuntimeEvent, WorkerExecution } from "@yoi/domain"
import { Runtime, RuntimeMetrics, RuntimePresets } from "@yoi/runtime"
import { Effect, Fiber, Layer, Metric, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Execution from "./support/execution.ts"
import * as Harness from "./support/harness.ts"

const user = (text: string) => ({ kind: "user" as const, text })

/** Four deltas, 100 ms of test time apart. */
const slow = { reply: "one two three four", deltas: 4, delay: "100 millis" } as const

/** Watches a Worker from the start until `until`, collecting its events (snapshots left out). */
const watchUntil = (
  runtime: Runtime.Runtime["Service"],
  workerId: string,
  until: (event: RuntimeEvent.WorkerEvent) => boolean
) =>
  runtime.watchWorker({ workerId }).pipe(
    Stream.filter((item): item is RuntimeEvent.WorkerEvent => item._tag !== "snapshot"),
    Stream.takeUntil(until),
    Stream.runCollect,
    Effect.forkChild({ startImmediately: true })
  )

const gauge = (metric: Metric.Gauge<number>) => Effect.map(Metric.value(metric), (state) => state.value)

const becameFailed = (event: RuntimeEvent.WorkerEvent) => event._tag === "status_changed" && event.to === "failed"

const idOf = (created: { readonly worker: { readonly ref: { readonly workerId: Ids.WorkerId } } }) =>
  created.worker.ref.workerId

/** A Worker created by a Runtime over `store` whose scope then closed, as a process that went away. */
const createdBeforeRestart = (
  store: Harness.Options["store"],
  execution: Harness.Options["execution"]
) =>
  Effect.scoped(Effect.gen(function*() {
    const runtime = yield* Harness.build({ runtimeId: "exec", store, execution })
    return idOf(yield* runtime.createWorker({}))
  }))

describe("Runtime execution bindings", () => {
  it.effect("every Worker is bound at create; its record carries the binding's record, no view does", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const test = Execution.make()
      const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: test.execution })
      const created = yield* runtime.createWorker({ displayName: "ada" })
      const workerId = idOf(created)
      assert.strictEqual(test.hosts.length, 1)
      const host = test.hosts[0]!
      assert.strictEqual(host.target.workerId, workerId)
      assert.strictEqual(host.target.provider, "scripted")
      assert.strictEqual(host.target.profile.name, "companion")
      assert.isUndefined(host.target.restore)
      const stored = Option.getOrThrow(yield* store.getWorker(workerId))
      assert.deepStrictEqual(stored.binding, host.record)
      const detail = yield* runtime.getWorker({ workerId })
      assert.strictEqual(detail.binding, "connected")
      const page = yield* runtime.listWorkers({})
      for (const view of [created, detail, page]) assert.notInclude(JSON.stringify(view), "\"host\"")
    }).pipe(Effect.scoped))

  it.effect("a failed bind rolls the create back: ExecutionUnavailable, nothing listed or stored, the claim free", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const test = Execution.make()
      const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: test.execution })
      const scope = [{ target: "/srv/project", permission: "write" as const, recursive: true }]
      test.failBinds = true
      const error = yield* Effect.flip(
        runtime.createWorker({ scope, initialInput: user("hello"), idempotencyKey: "create-1" })
      )
      assert.deepStrictEqual(
        error,
        new Errors.ExecutionUnavailable({ code: "launch_failed", message: "the test host could not start" })
      )
      assert.strictEqual(test.failedClosed.count, 1)
      assert.deepStrictEqual((yield* runtime.listWorkers({})).workers, [])
      assert.deepStrictEqual(yield* store.listWorkers, [])
      assert.strictEqual((yield* runtime.getRuntime).counts.total, 0)
      // the scope claim was released and the key is unused: the retry creates the Worker
      test.failBinds = false
      const created = yield* runtime.createWorker({ scope, initialInput: user("hello"), idempotencyKey: "create-1" })
      assert.strictEqual(created.input?.status, "started")
      assert.strictEqual((yield* runtime.listWorkers({})).workers.length, 1)
    }).pipe(Effect.scoped))

  it.effect("a failed create commit closes the new binding", () =>
    Effect.gen(function*() {
      const test = Execution.make()
      const failing = Harness.guarded(yield* MemoryWorkerStore.make, {
        commit: Effect.fail(new Errors.StoreFailure({ operation: "commit", message: "disk unavailable" }))
      })
      const runtime = yield* Harness.build({ runtimeId: "exec", store: failing, execution: test.execution })
      const error = yield* Effect.flip(runtime.createWorker({}))
      assert.strictEqual(error._tag, "StoreFailure")
      assert.strictEqual(test.hosts.length, 1)
      assert.isTrue(test.hosts[0]!.closed)
      assert.strictEqual(test.hosts[0]!.stops, 1)
      assert.deepStrictEqual((yield* runtime.listWorkers({})).workers, [])
    }).pipe(Effect.scoped))

  it.effect("StopWorker stops and closes the binding once; a later loss changes nothing", () =>
    Effect.gen(function*() {
      const test = Execution.make({ engine: slow })
      const runtime = yield* Harness.build({ runtimeId: "exec", execution: test.execution })
      const workerId = idOf(yield* runtime.createWorker({ initialInput: user("go") }))
      const host = test.hosts[0]!
      const stopped = yield* runtime.stopWorker({ workerId })
      assert.strictEqual(stopped.outcome, "stopped")
      assert.strictEqual(host.stops, 1)
      assert.isTrue(host.closed)
      assert.strictEqual((yield* runtime.stopWorker({ workerId })).outcome, "already_stopped")
      yield* host.lose()
      yield* TestClock.adjust("1 second")
      const worker = yield* runtime.getWorker({ workerId })
      assert.strictEqual(worker.status, "stopped")
      assert.strictEqual(worker.lastError, undefined)
      assert.strictEqual(host.stops, 1)
    }).pipe(Effect.scoped))

  it.effect("lost mid-run: run_failed execution_lost with the partial text, the queue cancelled, the Worker failed", () =>
    Effect.gen(function*() {
      const test = Execution.make({ engine: slow })
      const runtime = yield* Harness.build({ runtimeId: "exec", execution: test.execution })
      const a = idOf(yield* runtime.createWorker({ displayName: "ada" }))
      const b = idOf(yield* runtime.createWorker({ displayName: "bob" }))
      const watcher = yield* watchUntil(runtime, a, becameFailed)
      const started = yield* runtime.sendInput({ workerId: a, input: user("go") })
      const queued = yield* runtime.sendInput({ workerId: a, input: user("later"), whenBusy: "enqueue" })
      yield* TestClock.adjust("250 millis")
      yield* test.hosts[0]!.lose()
      const events = yield* Fiber.join(watcher)

      const deltas = events.flatMap((e) => e._tag === "text_delta" ? [e.delta] : [])
      assert.strictEqual(deltas.length, 2)
      const others = events.filter((e) => e._tag !== "text_delta").map((e) =>
        e._tag === "run_failed" || e._tag === "input_cancelled" ? `${e._tag}:${e.reason}` : e._tag
      )
      assert.deepStrictEqual(others, [
        "input_accepted",
        "run_started",
        "status_changed",
        "input_queued",
        "usage",
        "run_failed:execution_lost",
        "input_cancelled:execution_lost",
        "status_changed"
      ])
      const failed = events.find((e) => e._tag === "run_failed")
      assert.deepStrictEqual(
        failed?._tag === "run_failed" ? [failed.runId, failed.code, failed.message] : [],
        [started.runId, "host_exited", "the execution host exited"]
      )
      assert.strictEqual(events.find((e) => e._tag === "input_cancelled")?.runId, queued.runId)

      const transcript = yield* runtime.getTranscript({ workerId: a })
      assert.deepStrictEqual(
        transcript.entries.map((e) => [e.kind, e.text, e.interrupted === true]),
        [
          ["user", "go", false],
          ["assistant", deltas.join(""), true],
          ["error", "host_exited: the execution host exited", false]
        ]
      )
      const worker = yield* runtime.getWorker({ workerId: a })
      assert.strictEqual(worker.status, "failed")
      assert.deepStrictEqual([worker.lastError?.code, worker.lastError?.message], [
        "host_exited",
        "the execution host exited"
      ])
      assert.isFalse(worker.capabilities.canAcceptInput)
      assert.isFalse(worker.capabilities.canCancel)
      assert.strictEqual(worker.queueLength, 0)
      assert.strictEqual(worker.binding, "stale")
      assert.strictEqual(worker.usage.failures, 1)
      assert.isTrue(test.hosts[0]!.closed)

      const refused = yield* Effect.flip(runtime.sendInput({ workerId: a, input: user("hello?") }))
      assert.deepStrictEqual(refused, new Errors.WorkerStopped({ workerId: a, status: "failed" }))

      // the other Worker keeps working, on its own binding
      const other = yield* Harness.runToIdle(runtime, b, "still there?")
      assert.strictEqual(other.find((e) => e._tag === "text_done")?._tag, "text_done")
      assert.isTrue(other.some((e) => e._tag === "run_finished"))
      assert.isFalse(test.hosts[1]!.closed)
      // a failed Worker can still be stopped
      assert.strictEqual((yield* runtime.stopWorker({ workerId: a })).outcome, "stopped")
    }).pipe(Effect.scoped))

  it.effect("lost while idle: the Worker fails with no run event; the loss is sanitized before it is recorded", () =>
    Effect.gen(function*() {
      const test = Execution.make()
      const runtime = yield* Harness.build({ runtimeId: "exec", execution: test.execution })
      const workerId = idOf(yield* runtime.createWorker({}))
      const watcher = yield* watchUntil(runtime, workerId, becameFailed)
      yield* test.hosts[0]!.lose(
        new WorkerExecution.ExecutionLost({ code: "host_exited", message: "the host\nexited\u0007" })
      )
      const events = yield* Fiber.join(watcher)
      assert.deepStrictEqual(events.map((e) => e._tag), ["status_changed"])
      assert.deepStrictEqual(events[0]!._tag === "status_changed" ? [events[0]!.from, events[0]!.to] : [], [
        "idle",
        "failed"
      ])
      const worker = yield* runtime.getWorker({ workerId })
      assert.strictEqual(worker.status, "failed")
      assert.strictEqual(worker.lastError?.message, "the host exited")
      assert.strictEqual(worker.usage.runs, 0)
      assert.strictEqual((yield* runtime.getRuntime).counts.failed, 1)
    }).pipe(Effect.scoped))

  it.effect("after a loss mid-run no run is active and nothing is queued (metrics)", () =>
    Effect.gen(function*() {
      const test = Execution.make({ engine: slow })
      const runtime = yield* Harness.build({ runtimeId: "exec", execution: test.execution })
      const workerId = idOf(yield* runtime.createWorker({ initialInput: user("go") }))
      yield* runtime.sendInput({ workerId, input: user("later"), whenBusy: "enqueue" })
      assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 1)
      assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 1)
      const watcher = yield* watchUntil(runtime, workerId, becameFailed)
      yield* test.hosts[0]!.lose()
      yield* Fiber.join(watcher)
      assert.strictEqual(yield* gauge(RuntimeMetrics.activeRuns), 0)
      assert.strictEqual(yield* gauge(RuntimeMetrics.queuedInputs), 0)
      assert.strictEqual((yield* Metric.value(RuntimeMetrics.runsFailed)).count, 1)
      assert.strictEqual((yield* Metric.value(RuntimeMetrics.runsStarted)).count, 1)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("shutdown stops and closes every binding; the Workers are stale until their next run", () =>
    Effect.gen(function*() {
      const test = Execution.make()
      const runtime = yield* Harness.build({ runtimeId: "exec", execution: test.execution })
      const a = idOf(yield* runtime.createWorker({}))
      const b = idOf(yield* runtime.createWorker({}))
      yield* runtime.shutdown("1 second")
      for (const host of test.hosts) {
        assert.strictEqual(host.stops, 1)
        assert.isTrue(host.closed)
      }
      for (const workerId of [a, b]) {
        const worker = yield* runtime.getWorker({ workerId })
        assert.strictEqual(worker.binding, "stale")
        assert.strictEqual(worker.status, "idle")
      }
    }).pipe(Effect.scoped))

  it.effect("closing the Runtime's scope stops and closes every binding", () =>
    Effect.gen(function*() {
      const test = Execution.make({ engine: slow })
      yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* Harness.build({ runtimeId: "exec", execution: test.execution })
        yield* runtime.createWorker({ initialInput: user("go") })
        yield* runtime.createWorker({})
        assert.isFalse(test.hosts.some((host) => host.closed))
      }))
      assert.strictEqual(test.hosts.length, 2)
      for (const host of test.hosts) {
        assert.strictEqual(host.stops, 1)
        assert.isTrue(host.closed)
      }
    }))
})

describe("Runtime execution bindings from a preset", () => {
  it.effect("a preset runs every Worker on the execution it is given", () => {
    const test = Execution.make()
    return Effect.gen(function*() {
      const runtime = yield* Runtime.Runtime
      const workerId = idOf(yield* runtime.createWorker({}))
      assert.strictEqual(test.hosts[0]?.target.workerId, workerId)
      const events = yield* Harness.runToIdle(runtime, workerId, "hi")
      assert.isTrue(events.some((e) => e._tag === "run_finished"))
    }).pipe(
      Effect.provide(
        RuntimePresets.layerMemory({ execution: Layer.succeed(WorkerExecution.WorkerExecution, test.execution) })
      )
    )
  })
})

describe("Runtime execution bindings across a restart", () => {
  it.effect("a Worker restored with a BindingRecord is stale; its next input re-binds with it and runs", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const first = Execution.make()
      const workerId = yield* createdBeforeRestart(store, first.execution)
      const old = first.hosts[0]!
      assert.isTrue(old.closed)

      const second = Execution.make()
      const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: second.execution })
      assert.strictEqual((yield* runtime.getWorker({ workerId })).binding, "stale")
      assert.strictEqual((yield* runtime.listWorkers({})).workers[0]!.binding, "stale")
      assert.strictEqual(second.attempts.length, 0)

      const events = yield* Harness.runToIdle(runtime, workerId, "hello again")
      assert.isTrue(events.some((e) => e._tag === "run_finished"))
      assert.strictEqual(second.hosts.length, 1)
      const host = second.hosts[0]!
      assert.strictEqual(host.target.workerId, workerId)
      assert.deepStrictEqual(host.target.restore, old.record)
      assert.strictEqual((yield* runtime.getWorker({ workerId })).binding, "connected")
      assert.deepStrictEqual(Option.getOrThrow(yield* store.getWorker(workerId)).binding, host.record)

      // the re-bound binding is watched like any other
      const watcher = yield* watchUntil(runtime, workerId, becameFailed)
      yield* host.lose()
      yield* Fiber.join(watcher)
      assert.strictEqual((yield* runtime.getWorker({ workerId })).status, "failed")
    }).pipe(Effect.scoped))

  it.effect("a failed re-bind fails that run (execution_unavailable) and leaves the Worker stale; the next binds", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const first = Execution.make()
      const workerId = yield* createdBeforeRestart(store, first.execution)
      const second = Execution.make()
      second.failBinds = true
      const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: second.execution })
      const events = yield* Harness.runToIdle(runtime, workerId, "hello")
      const failed = events.find((e) => e._tag === "run_failed")
      assert.deepStrictEqual(
        failed?._tag === "run_failed" ? [failed.reason, failed.code, failed.message] : [],
        ["execution_unavailable", "launch_failed", "the test host could not start"]
      )
      assert.strictEqual(second.failedClosed.count, 1)
      const worker = yield* runtime.getWorker({ workerId })
      assert.strictEqual(worker.status, "idle")
      assert.strictEqual(worker.binding, "stale")
      assert.deepStrictEqual(Option.getOrThrow(yield* store.getWorker(workerId)).binding, first.hosts[0]!.record)

      second.failBinds = false
      const again = yield* Harness.runToIdle(runtime, workerId, "hello")
      assert.isTrue(again.some((e) => e._tag === "run_finished"))
      assert.deepStrictEqual(second.hosts[0]!.target.restore, first.hosts[0]!.record)
      assert.strictEqual((yield* runtime.getWorker({ workerId })).binding, "connected")
    }).pipe(Effect.scoped))

  it.effect("a queued input the restart starts re-binds its Worker first", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const first = Execution.make({ engine: slow })
      const workerId = yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: first.execution })
        const id = idOf(yield* runtime.createWorker({ initialInput: user("go") }))
        yield* runtime.sendInput({ workerId: id, input: user("later"), whenBusy: "enqueue" })
        return id
      }))
      const second = Execution.make()
      const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: second.execution })
      yield* TestClock.adjust("1 second")
      const transcript = yield* runtime.getTranscript({ workerId })
      assert.deepStrictEqual(transcript.entries.map((e) => e.kind), ["user", "error", "user", "assistant"])
      assert.strictEqual(second.hosts.length, 1)
      assert.deepStrictEqual(second.hosts[0]!.target.restore, first.hosts[0]!.record)
      assert.strictEqual((yield* runtime.getWorker({ workerId })).status, "idle")
    }).pipe(Effect.scoped))

  it.effect("a Worker whose execution records nothing is connected after a restart and bound by its next run", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const first = Execution.make({ records: false })
      const workerId = yield* createdBeforeRestart(store, first.execution)
      assert.isUndefined(Option.getOrThrow(yield* store.getWorker(workerId)).binding)
      const second = Execution.make({ records: false })
      const runtime = yield* Harness.build({ runtimeId: "exec", store, execution: second.execution })
      assert.strictEqual((yield* runtime.getWorker({ workerId })).binding, "connected")
      assert.strictEqual(second.attempts.length, 0)
      const events = yield* Harness.runToIdle(runtime, workerId, "hi")
      assert.isTrue(events.some((e) => e._tag === "run_finished"))
      assert.strictEqual(second.hosts.length, 1)
      assert.isUndefined(second.hosts[0]!.target.restore)
    }).pipe(Effect.scoped))
})
