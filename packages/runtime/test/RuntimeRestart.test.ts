/**
 * Restarts. Crash atomicity, exhaustively: a process can die between any two writes. The store here is a disk that stops
 * after its k-th commit (every later commit dies, as if the process were killed right there); a new Runtime then
 * opens what was persisted, and a careful client retries every command with its idempotency key. For every k the
 * outcome must be one a crash-free run could have had: each command happened whole or not at all, a retry answers
 * what the first call answered, no run ends that never started, seqs only increase and usage adds up. And what a
 * watcher sees across a restart: `lastSeq` is the last seq an event carries (the reserved block stays internal),
 * a cursor at it resumes with no gap, and a run the restart closed reads like any failed run.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryWorkerStore, ScriptedLlmEngine } from "@yoi/adapters"
import type { Ids, Requests, RuntimeEvent, WorkerStore } from "@yoi/domain"
import type { Runtime } from "@yoi/runtime"
import { Effect, Exit, Fiber, Option, References, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Harness from "./support/harness.ts"

interface Disk {
  readonly inner: WorkerStore.WorkerStore["Service"]
  commits: number
  limit: number
}

/** The store as a dying process sees it: commits past the limit never reach the disk. */
const crashing = (disk: Disk): WorkerStore.WorkerStore["Service"] =>
  Harness.guarded(disk.inner, {
    commit: Effect.suspend(() => {
      if (disk.commits >= disk.limit) return Effect.die("the process was killed")
      disk.commits++
      return Effect.void
    })
  })

const runtimeOn = (store: WorkerStore.WorkerStore["Service"]) =>
  Harness.build({
    runtimeId: "crash",
    store,
    engine: ScriptedLlmEngine.layer({ deltas: 3, delay: "10 millis" })
  })

type Step =
  | { readonly op: "create"; readonly key: string; readonly input?: string }
  | {
    readonly op: "send"
    readonly worker: string
    readonly key: string
    readonly whenBusy: "reject" | "enqueue" | "interrupt"
  }
  | { readonly op: "cancel"; readonly worker: string }
  | { readonly op: "stop"; readonly worker: string }
  | { readonly op: "tick"; readonly ms: number }

/** Creates with initial inputs, queues, runs ending into queued ones, an interrupt, a cancel and a stop mid-run. */
const workload: ReadonlyArray<Step> = [
  { op: "create", key: "ada", input: "ada-0" },
  { op: "send", worker: "ada", key: "ada-1", whenBusy: "enqueue" },
  { op: "send", worker: "ada", key: "ada-2", whenBusy: "enqueue" },
  { op: "create", key: "bob" },
  { op: "send", worker: "bob", key: "bob-1", whenBusy: "reject" },
  { op: "tick", ms: 15 },
  { op: "send", worker: "bob", key: "bob-2", whenBusy: "interrupt" },
  { op: "send", worker: "ada", key: "ada-3", whenBusy: "enqueue" },
  { op: "tick", ms: 35 },
  { op: "cancel", worker: "ada" },
  { op: "create", key: "cy", input: "cy-0" },
  { op: "send", worker: "cy", key: "cy-1", whenBusy: "enqueue" },
  { op: "tick", ms: 15 },
  { op: "stop", worker: "cy" },
  { op: "tick", ms: 25 }
]

interface Answers {
  /** Worker ids by the key of the create step. */
  readonly workers: Map<string, Ids.WorkerId>
  readonly created: Map<string, Requests.CreatedWorker>
  /** The first answer to each send, by its key, with the create key of its Worker. */
  readonly sent: Map<string, { readonly worker: string; readonly accepted: Requests.InputAccepted }>
}

/**
 * Runs the workload as a client would: a command on a Worker whose creation was never answered is skipped (the
 * client has no id for it). `retry` is the second pass after the restart: cancels are not repeated (a cancel has
 * no key, and repeating it could cancel another run); everything else is, with its key, and a command answered in
 * the first pass must be answered the same.
 */
const play = (runtime: Runtime.Runtime["Service"], answers: Answers, retry: boolean) =>
  Effect.forEach(workload, (step) =>
    Effect.gen(function*() {
      if (step.op === "tick") return yield* TestClock.adjust(`${step.ms} millis`)
      if (step.op === "create") {
        const exit = yield* Effect.exit(runtime.createWorker({
          idempotencyKey: step.key,
          ...(step.input !== undefined ? { initialInput: { kind: "user", text: step.input } } : {})
        }))
        if (Exit.isFailure(exit)) return
        const before = answers.created.get(step.key)
        if (before !== undefined) {
          assert.strictEqual(exit.value.worker.ref.workerId, before.worker.ref.workerId, `${step.key}: same Worker`)
          assert.deepStrictEqual(exit.value.input, before.input, `${step.key}: same initial input`)
        } else answers.created.set(step.key, exit.value)
        answers.workers.set(step.key, exit.value.worker.ref.workerId)
        return
      }
      const workerId = answers.workers.get(step.worker)
      if (workerId === undefined) return
      if (step.op === "cancel") {
        if (!retry) yield* Effect.exit(runtime.cancelRun({ workerId }))
        return
      }
      if (step.op === "stop") return yield* Effect.exit(runtime.stopWorker({ workerId }))
      const exit = yield* Effect.exit(runtime.sendInput({
        workerId,
        input: { kind: "user", text: step.key },
        whenBusy: step.whenBusy,
        idempotencyKey: step.key
      }))
      if (Exit.isFailure(exit)) return
      const before = answers.sent.get(step.key)
      if (before !== undefined) {
        assert.deepStrictEqual(exit.value, before.accepted, `${step.key}: the retry answers the same`)
      } else answers.sent.set(step.key, { worker: step.worker, accepted: exit.value })
    }), { discard: true })

/** Moves the clock until no Worker has a run or a queued input (bounded). */
const settle = (runtime: Runtime.Runtime["Service"]) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const page = yield* runtime.listWorkers({ limit: 200 })
      if (page.workers.every((w) => w.status !== "running" && w.queueLength === 0)) return
      yield* TestClock.adjust("1 second")
    }
    assert.fail("the Workers never settled")
  })

const isRunEnd = (event: RuntimeEvent.WorkerEvent) =>
  event._tag === "run_finished" || event._tag === "run_cancelled" || event._tag === "run_failed"

/** What must hold of every Worker, whatever the crash point. */
const checkWorker = (disk: Disk, answers: Answers, worker: string, k: number) =>
  Effect.gen(function*() {
    const workerId = answers.workers.get(worker)!
    const at = `crash after commit ${k}, Worker ${worker}`
    const record = Option.getOrUndefined(yield* disk.inner.getWorker(workerId))
    assert.isDefined(record, at)
    const events = yield* disk.inner.readEvents(workerId, { after: 0, limit: 10_000 })
    const transcript = (yield* disk.inner.readTranscript(workerId, { limit: 10_000 })).entries
    for (let i = 1; i < events.length; i++) assert.isAbove(events[i]!.seq, events[i - 1]!.seq, `${at}: seqs increase`)
    transcript.forEach((entry, i) => assert.strictEqual(entry.seq, i + 1, `${at}: transcript seqs`))

    const started = new Set<string>()
    const ended = new Set<string>()
    for (const event of events) {
      if (event._tag === "run_started") started.add(event.runId)
      if (isRunEnd(event) && "runId" in event) {
        assert.isTrue(started.has(event.runId), `${at}: ${event._tag} for a run that never started (${event.runId})`)
        assert.isFalse(ended.has(event.runId), `${at}: a run ended twice`)
        ended.add(event.runId)
      }
    }
    assert.strictEqual(ended.size, started.size, `${at}: every started run ended`)

    const cancelledInputs = new Set(events.flatMap((e) => e._tag === "input_cancelled" ? [e.inputId] : []))
    const users = transcript.filter((e) => e.kind === "user").map((e) => e.text)
    assert.strictEqual(new Set(users).size, users.length, `${at}: no input twice in the transcript (${users})`)
    for (const [key, { accepted, worker: of }] of answers.sent) {
      if (of !== worker) continue
      const times = users.filter((text) => text === key).length
      assert.strictEqual(times, cancelledInputs.has(accepted.inputId) ? 0 : 1, `${at}: acknowledged ${key} once`)
    }
    const initial = answers.created.get(worker)?.input
    if (initial !== undefined) assert.isTrue(started.has(initial.runId), `${at}: the initial input ran`)

    const usage = record!.usage
    assert.strictEqual(usage.runs, ended.size, `${at}: usage counts every run`)
    assert.strictEqual(usage.failures, events.filter((e) => e._tag === "run_failed").length, `${at}: failures`)
    assert.strictEqual(usage.cancellations, events.filter((e) => e._tag === "run_cancelled").length, at)
    assert.isUndefined(record!.currentRun, at)
    assert.deepStrictEqual(record!.queue, [], at)
  })

/** One round: the workload until the disk dies after `limit` commits, a restart, the retries, then the checks. */
const round = (limit: number) =>
  Effect.gen(function*() {
    const disk: Disk = { inner: yield* MemoryWorkerStore.make, commits: 0, limit }
    const answers: Answers = { workers: new Map(), created: new Map(), sent: new Map() }
    yield* Effect.scoped(Effect.flatMap(runtimeOn(crashing(disk)), (runtime) => play(runtime, answers, false)))
    const committed = disk.commits
    disk.limit = Number.POSITIVE_INFINITY
    yield* Effect.scoped(Effect.gen(function*() {
      const runtime = yield* runtimeOn(crashing(disk))
      yield* play(runtime, answers, true)
      yield* settle(runtime)
      for (const worker of answers.workers.keys()) yield* checkWorker(disk, answers, worker, limit)
    }))
    return committed
  }).pipe(Effect.provideService(References.MinimumLogLevel, "None"))

describe("Runtime crash atomicity", () => {
  it.effect("after a crash at any commit and retries with the same keys, every command happened once or not at all", () =>
    Effect.gen(function*() {
      const total = yield* round(Number.POSITIVE_INFINITY)
      assert.isAbove(total, 12)
      for (let k = 0; k <= total; k++) yield* round(k)
    }))
})

const restartable = Effect.map(MemoryWorkerStore.make, (inner): Disk => ({
  inner,
  commits: 0,
  limit: Number.POSITIVE_INFINITY
}))

describe("Runtime restart", () => {
  it.effect("after a clean restart lastSeq is the last event's seq and a watcher at it resumes with no gap", () =>
    Effect.gen(function*() {
      const disk = yield* restartable
      const { lastEvent, workerId } = yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(crashing(disk))
        const { worker } = yield* runtime.createWorker({})
        yield* Harness.runToIdle(runtime, worker.ref.workerId, "hello")
        yield* runtime.shutdown("1 second")
        const events = yield* disk.inner.readEvents(worker.ref.workerId, { after: 0, limit: 1000 })
        return { lastEvent: events.at(-1)!.seq, workerId: worker.ref.workerId }
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(crashing(disk))
        assert.strictEqual((yield* runtime.getWorker({ workerId })).lastSeq, lastEvent)
        const snapshot = yield* runtime.watchWorker({ workerId, after: lastEvent }).pipe(Stream.runHead)
        assert.deepInclude(Option.getOrThrow(snapshot), { _tag: "snapshot", lastSeq: lastEvent, gap: false })
        // Replaying "until the snapshot's lastSeq" ends: an event carries it.
        const replayed = yield* runtime.watchWorker({ workerId, after: 0 }).pipe(
          Stream.takeUntil((item) => item._tag !== "snapshot" && item.seq === lastEvent),
          Stream.runCollect
        )
        const final = replayed.at(-1)
        assert.strictEqual(final !== undefined && final._tag !== "snapshot" ? final.seq : undefined, lastEvent)
        // New events continue past every seq the last process reserved, in order.
        const items = yield* Harness.runToIdle(runtime, workerId, "again")
        const seqs = items.map((item) => item.seq)
        assert.isAbove(seqs[0]!, lastEvent)
        for (let i = 1; i < seqs.length; i++) assert.isAbove(seqs[i]!, seqs[i - 1]!)
      }))
    }))

  it.effect("a run the restart closed gets its error entry and failure; a cursor from its deltas still resumes", () =>
    Effect.gen(function*() {
      const disk = yield* restartable
      const { deltaSeq, lastDurable, workerId, runId } = yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(crashing(disk))
        const { worker } = yield* runtime.createWorker({})
        const workerId = worker.ref.workerId
        const firstDelta = yield* runtime.watchWorker({ workerId }).pipe(
          Stream.filterMap((item) => item._tag === "text_delta" ? Result.succeed(item.seq) : Result.failVoid),
          Stream.runHead,
          Effect.forkChild({ startImmediately: true })
        )
        const accepted = yield* runtime.sendInput({ workerId, input: { kind: "user", text: "in flight" } })
        yield* TestClock.adjust("10 millis")
        const deltaSeq = Option.getOrThrow(yield* Fiber.join(firstDelta))
        const lastDurable = yield* disk.inner.lastEventSeq(workerId)
        // the scope closes with the run in flight and no shutdown: the process died
        return { deltaSeq, lastDurable, workerId, runId: accepted.runId }
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(crashing(disk))
        const detail = yield* runtime.getWorker({ workerId })
        assert.strictEqual(detail.status, "idle")
        assert.strictEqual(detail.lastError?.code, "runtime_restarted")
        assert.strictEqual(detail.usage.failures, 1)
        assert.strictEqual(detail.usage.runs, 1)
        const transcript = yield* runtime.getTranscript({ workerId })
        assert.deepStrictEqual(transcript.entries.map((e) => [e.kind, e.runId]), [["user", runId], ["error", runId]])
        assert.match(transcript.entries[1]!.text, /^runtime_restarted: /)
        const events = yield* disk.inner.readEvents(workerId, { after: 0, limit: 1000 })
        const failed = events.filter((e) => e._tag === "run_failed")
        assert.deepStrictEqual(failed.map((e) => e.runId), [runId])
        // The last seq this client saw was a delta's, past the last durable event: it is still a valid cursor.
        assert.isAbove(deltaSeq, lastDurable)
        const snapshot = Option.getOrThrow(
          yield* runtime.watchWorker({ workerId, after: deltaSeq }).pipe(Stream.runHead)
        )
        assert.strictEqual(snapshot._tag, "snapshot")
      }))
    }))
})
