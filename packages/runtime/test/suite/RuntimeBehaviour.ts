/**
 * The Runtime behavioural suite: written once against `RuntimeClient`, run over every transport (the embedded
 * client here; HTTP in the server package). Every test builds its own Runtime from the harness, so tests are
 * independent. Timing is driven by `TestClock`: the scripted engine sleeps on the Effect clock between deltas.
 */
import { assert, describe, it } from "@effect/vitest"
import type { ScriptedLlmEngine } from "@yoi/adapters"
import { RuntimeClient, type RuntimeEvent } from "@yoi/domain"
import type { RuntimeConfig } from "@yoi/runtime"
import { Cause, Effect, Exit, Fiber, type Layer, Option, type Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { hop } from "../support/hop.ts"

/** What a test asks of the Runtime it runs against. */
export interface SuiteConfig {
  readonly engine?: ScriptedLlmEngine.Options | undefined
  readonly limits?: Partial<RuntimeConfig.Limits> | undefined
  readonly replayBuffer?: number | undefined
}

/** Builds a fresh Runtime reachable through a `RuntimeClient`. */
export type Harness = (config: SuiteConfig) => Layer.Layer<RuntimeClient.RuntimeClient, unknown>

type Item = RuntimeEvent.WorkerWatchItem

const slow = { engine: { reply: "one two three four five six", delay: "1 second" } } as const

const create = (client: RuntimeClient.RuntimeClientApi, displayName = "companion") =>
  Effect.map(client.CreateWorker({ displayName }), (created) => created.worker.ref.workerId)

const send = (client: RuntimeClient.RuntimeClientApi, workerId: string, text: string, whenBusy?: string) =>
  client.SendInput({ workerId, input: { kind: "user", text }, ...(whenBusy !== undefined ? { whenBusy } : {}) })

/** Watches from `after` until an item matches, collecting everything (snapshot included). */
const watchUntil = (
  client: RuntimeClient.RuntimeClientApi,
  workerId: string,
  after: number,
  done: (item: Item) => boolean
) =>
  client.WatchWorker({ workerId, after }).pipe(
    Stream.takeUntil(done),
    Stream.runCollect,
    Effect.forkChild({ startImmediately: true })
  )

const isEnd = (runId: string) => (item: Item) =>
  (item._tag === "run_finished" || item._tag === "run_cancelled" || item._tag === "run_failed") && item.runId === runId

const events = (items: ReadonlyArray<Item>) =>
  items.filter((item): item is RuntimeEvent.WorkerEvent => item._tag !== "snapshot")

/**
 * Joins `fiber`, moving the test clock a second at a time until it is done. One big `adjust` is not enough over a
 * real store: a queued run starts only once the previous run's events are on disk, which takes real time, so its
 * first sleep may be registered after a single adjust has already returned.
 */
const joinDriven = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    while (fiber.pollUnsafe() === undefined) {
      yield* TestClock.adjust("1 second")
      yield* hop
    }
    return yield* Fiber.join(fiber)
  })

/** Runs one input to its end with the clock advanced far enough; returns the watched items. */
const runToEnd = (client: RuntimeClient.RuntimeClientApi, workerId: string, text: string) =>
  Effect.gen(function*() {
    const before = yield* client.GetWorker({ workerId })
    const accepted = yield* send(client, workerId, text)
    const watcher = yield* watchUntil(client, workerId, before.lastSeq, isEnd(accepted.runId))
    return { accepted, items: yield* joinDriven(watcher) }
  })

export const runtimeBehaviour = (name: string, harness: Harness) => {
  const withClient = <A, E>(
    config: SuiteConfig,
    body: (client: RuntimeClient.RuntimeClientApi) => Effect.Effect<A, E, Scope.Scope>
  ) => Effect.flatMap(RuntimeClient.RuntimeClient, body).pipe(Effect.provide(harness(config)))

  describe(`Runtime behaviour (${name})`, () => {
    it.effect("create, list and detail", () =>
      withClient({}, (client) =>
        Effect.gen(function*() {
          const created = yield* client.CreateWorker({ displayName: "Ada" })
          const ref = created.worker.ref
          assert.match(ref.workerId, /^w_/)
          assert.strictEqual(created.worker.status, "idle")
          assert.strictEqual(created.worker.displayName, "Ada")
          assert.strictEqual(created.worker.profileName, "companion")
          assert.strictEqual(created.worker.displayRef, `Ada@${ref.runtimeId}`)
          assert.deepStrictEqual(created.worker.capabilities.tools, [])
          const second = yield* create(client, "Bob")
          const page = yield* client.ListWorkers({})
          assert.deepStrictEqual(page.workers.map((w) => w.ref.workerId), [ref.workerId, second])
          const detail = yield* client.GetWorker({ workerId: ref.workerId })
          assert.strictEqual(detail.displayName, "Ada")
          assert.strictEqual(detail.transcriptCount, 0)
          const summary = yield* client.GetRuntime()
          assert.strictEqual(summary.counts.total, 2)
          assert.strictEqual(summary.counts.idle, 2)
          assert.isFalse(summary.capabilities.shell)
        })))

    it.effect("ListWorkers pages by cursor and filters by status", () =>
      withClient({}, (client) =>
        Effect.gen(function*() {
          const ids: Array<string> = []
          for (let i = 0; i < 5; i++) ids.push(yield* create(client, `w${i}`))
          yield* client.StopWorker({ workerId: ids[1]! })
          const first = yield* client.ListWorkers({ limit: 2 })
          assert.deepStrictEqual(first.workers.map((w) => w.ref.workerId), ids.slice(0, 2))
          const second = yield* client.ListWorkers({ limit: 2, cursor: first.nextCursor! })
          assert.deepStrictEqual(second.workers.map((w) => w.ref.workerId), ids.slice(2, 4))
          const idle = yield* client.ListWorkers({ status: "idle" })
          assert.strictEqual(idle.workers.length, 4)
          const stopped = yield* client.ListWorkers({ status: "stopped" })
          assert.deepStrictEqual(stopped.workers.map((w) => w.ref.workerId), [ids[1]])
        })))

    it.effect("input → run → run_finished, with the scripted reply in the transcript", () =>
      withClient({ engine: { reply: "Hello there, friend." } }, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const { accepted, items } = yield* runToEnd(client, workerId, "hi")
          assert.strictEqual(accepted.status, "started")
          assert.strictEqual(accepted.transcriptSeq, 1)
          const tags = events(items).map((e) => e._tag)
          assert.deepStrictEqual(tags.filter((t) => t !== "text_delta"), [
            "input_accepted",
            "run_started",
            "status_changed",
            "text_done",
            "usage",
            "run_finished"
          ])
          const deltas = events(items).flatMap((e) => e._tag === "text_delta" ? [e.delta] : [])
          assert.strictEqual(deltas.join(""), "Hello there, friend.")
          const seqs = events(items).map((e) => e.seq)
          assert.deepStrictEqual(seqs, seqs.map((_, i) => i + 1))
          const transcript = yield* client.GetTranscript({ workerId })
          assert.deepStrictEqual(transcript.entries.map((e) => [e.kind, e.text]), [
            ["user", "hi"],
            ["assistant", "Hello there, friend."]
          ])
          assert.isUndefined(transcript.entries[1]!.interrupted)
          const detail = yield* client.GetWorker({ workerId })
          assert.strictEqual(detail.status, "idle")
          assert.strictEqual(detail.usage.runs, 1)
        })))

    it.effect("100 concurrent SendInput on an idle Worker: exactly one accepted, 99 WorkerBusy naming the run", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const results = yield* Effect.all(
            Array.from({ length: 100 }, (_, i) => Effect.result(send(client, workerId, `input ${i}`))),
            { concurrency: "unbounded" }
          )
          const accepted = results.flatMap((r) => r._tag === "Success" ? [r.success] : [])
          const busy = results.flatMap((r) => r._tag === "Failure" ? [r.failure] : [])
          assert.strictEqual(accepted.length, 1)
          assert.strictEqual(busy.length, 99)
          for (const failure of busy) {
            assert.strictEqual(failure._tag, "WorkerBusy")
            if (failure._tag === "WorkerBusy") assert.strictEqual(failure.runId, accepted[0]!.runId)
          }
          const transcript = yield* client.GetTranscript({ workerId })
          assert.strictEqual(transcript.total, 1)
        })))

    it.effect("enqueue runs inputs in order; past the bound it is QueueFull", () =>
      withClient({ ...slow, limits: { maxQueuedInputs: 3 } }, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const first = yield* send(client, workerId, "first")
          const queued = []
          for (const text of ["second", "third", "fourth"]) queued.push(yield* send(client, workerId, text, "enqueue"))
          assert.deepStrictEqual(queued.map((q) => q.status), ["queued", "queued", "queued"])
          assert.isUndefined(queued[0]!.transcriptSeq)
          const full = yield* Effect.flip(send(client, workerId, "fifth", "enqueue"))
          assert.strictEqual(full._tag, "QueueFull")
          const detail = yield* client.GetWorker({ workerId })
          assert.deepStrictEqual(detail.queue.map((q) => q.text), ["second", "third", "fourth"])
          const watcher = yield* watchUntil(client, workerId, 0, isEnd(queued[2]!.runId))
          const items = events(yield* joinDriven(watcher))
          const finished = items.flatMap((e) => e._tag === "run_finished" ? [e.runId] : [])
          assert.deepStrictEqual(finished, [first.runId, ...queued.map((q) => q.runId)])
          const transcript = yield* client.GetTranscript({ workerId })
          assert.deepStrictEqual(
            transcript.entries.filter((e) => e.kind === "user").map((e) => e.text),
            ["first", "second", "third", "fourth"]
          )
          assert.strictEqual((yield* client.GetWorker({ workerId })).status, "idle")
        })))

    it.effect("CancelQueued removes a queued input before it runs", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          yield* send(client, workerId, "first")
          const a = yield* send(client, workerId, "a", "enqueue")
          const b = yield* send(client, workerId, "b", "enqueue")
          assert.strictEqual((yield* client.CancelQueued({ workerId, inputId: a.inputId })).outcome, "cancelled")
          assert.strictEqual((yield* client.CancelQueued({ workerId, inputId: a.inputId })).outcome, "not_queued")
          const watcher = yield* watchUntil(client, workerId, 0, isEnd(b.runId))
          const items = events(yield* joinDriven(watcher))
          assert.isTrue(items.some((e) => e._tag === "input_cancelled" && e.inputId === a.inputId))
          assert.isFalse(items.some((e) => e._tag === "run_started" && e.runId === a.runId))
          const users = (yield* client.GetTranscript({ workerId })).entries.filter((e) => e.kind === "user")
          assert.deepStrictEqual(users.map((e) => e.text), ["first", "b"])
        })))

    it.effect("interrupt cancels the current run, then starts the new input", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const first = yield* send(client, workerId, "first")
          yield* TestClock.adjust("2 seconds")
          const second = yield* send(client, workerId, "second", "interrupt")
          assert.strictEqual(second.status, "started")
          const watcher = yield* watchUntil(client, workerId, 0, isEnd(second.runId))
          const items = events(yield* joinDriven(watcher))
          const cancelled = items.findIndex((e) => e._tag === "run_cancelled" && e.runId === first.runId)
          assert.isAtLeast(cancelled, 0)
          assert.isFalse(items.slice(cancelled + 1).some((e) => "runId" in e && e.runId === first.runId))
          const transcript = yield* client.GetTranscript({ workerId })
          assert.deepStrictEqual(transcript.entries.map((e) => [e.kind, e.text, e.interrupted ?? false]), [
            ["user", "first", false],
            ["assistant", "one two ", true],
            ["user", "second", false],
            ["assistant", "one two three four five six", false]
          ])
        })))

    it.effect("cancel mid-stream: run_cancelled, idle, nothing after it, partial text kept and marked", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const accepted = yield* send(client, workerId, "go")
          const watcher = yield* watchUntil(client, workerId, 0, isEnd(accepted.runId))
          yield* TestClock.adjust("3 seconds")
          const result = yield* client.CancelRun({ workerId, reason: "user pressed stop" })
          assert.strictEqual(result.outcome, "cancelled")
          assert.strictEqual(result.runId, accepted.runId)
          const items = events(yield* Fiber.join(watcher))
          const last = items[items.length - 1]!
          assert.strictEqual(last._tag, "run_cancelled")
          const afterCancel = (yield* client.GetWorker({ workerId })).lastSeq
          yield* TestClock.adjust("1 hour")
          const detail = yield* client.GetWorker({ workerId })
          assert.strictEqual(detail.status, "idle")
          assert.strictEqual(detail.lastSeq, afterCancel)
          assert.strictEqual(detail.usage.cancellations, 1)
          const transcript = yield* client.GetTranscript({ workerId })
          const assistant = transcript.entries.find((e) => e.kind === "assistant")!
          assert.strictEqual(assistant.text, "one two three ")
          assert.isTrue(assistant.interrupted)
          assert.strictEqual((yield* client.CancelRun({ workerId })).outcome, "not_running")
        })))

    it.effect("stop: later input is WorkerStopped; stopping twice is fine; data stays readable", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          yield* send(client, workerId, "first")
          yield* send(client, workerId, "queued", "enqueue")
          yield* TestClock.adjust("2 seconds")
          const stopped = yield* client.StopWorker({ workerId })
          assert.strictEqual(stopped.outcome, "stopped")
          assert.strictEqual(stopped.droppedQueued, 1)
          assert.isDefined(stopped.cancelledRunId)
          const again = yield* client.StopWorker({ workerId })
          assert.strictEqual(again.outcome, "already_stopped")
          const refused = yield* Effect.flip(send(client, workerId, "more"))
          assert.strictEqual(refused._tag, "WorkerStopped")
          const detail = yield* client.GetWorker({ workerId })
          assert.strictEqual(detail.status, "stopped")
          assert.strictEqual(detail.queueLength, 0)
          assert.isFalse(detail.capabilities.canAcceptInput)
          assert.strictEqual((yield* client.GetTranscript({ workerId })).total, 2)
        })))

    it.effect("watch from cursor k after n events delivers exactly k+1..n, then live, no duplicates on reconnect", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const { items } = yield* runToEnd(client, workerId, "first")
          const n = events(items).length
          const k = 4
          const second = yield* send(client, workerId, "second")
          const resumed = yield* watchUntil(client, workerId, k, isEnd(second.runId))
          yield* TestClock.adjust("2 seconds")
          // a reconnect in the middle: resume from the last seq a first connection saw
          const partial = yield* client.WatchWorker({ workerId, after: k }).pipe(
            Stream.take(n - k + 2),
            Stream.runCollect
          )
          const lastSeen = events(partial).at(-1)!.seq
          const reconnected = yield* watchUntil(client, workerId, lastSeen, isEnd(second.runId))
          const all = events(yield* joinDriven(resumed))
          const first = all[0]!
          assert.strictEqual(first.seq, k + 1)
          assert.deepStrictEqual(all.map((e) => e.seq), all.map((_, i) => k + 1 + i))
          const joined = [...events(partial), ...events(yield* joinDriven(reconnected))].map((e) => e.seq)
          assert.deepStrictEqual(joined, all.map((e) => e.seq))
          const snapshot = partial[0]!
          assert.strictEqual(snapshot._tag, "snapshot")
        })))

    it.effect("a watcher resuming before the replay buffer gets durable events from the store", () =>
      withClient({ engine: { reply: "a b c d e f g h" }, replayBuffer: 4 }, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          yield* runToEnd(client, workerId, "one")
          yield* runToEnd(client, workerId, "two")
          const lastSeq = (yield* client.GetWorker({ workerId })).lastSeq
          const watched = yield* client.WatchWorker({ workerId }).pipe(
            Stream.takeUntil((item) => item._tag !== "snapshot" && item.seq === lastSeq),
            Stream.runCollect
          )
          const snapshot = watched[0]!
          assert.strictEqual(snapshot._tag, "snapshot")
          if (snapshot._tag === "snapshot") assert.isTrue(snapshot.gap)
          const seqs = events(watched).map((e) => e.seq)
          assert.deepStrictEqual(seqs, [...seqs].sort((a, b) => a - b))
          assert.strictEqual(new Set(seqs).size, seqs.length)
          const tags = events(watched).map((e) => e._tag)
          assert.strictEqual(tags.filter((t) => t === "run_finished").length, 2)
          assert.strictEqual(tags.filter((t) => t === "input_accepted").length, 2)
        })))

    it.effect("a watcher that does not read is closed with SubscriberLagged while the run completes", () =>
      withClient({ engine: { deltas: 400 }, limits: { watchBuffer: 8 } }, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const pull = yield* Stream.toPull(client.WatchWorker({ workerId }))
          const first = yield* pull
          assert.strictEqual(first[0]._tag, "snapshot")
          const { accepted } = yield* runToEnd(client, workerId, "go")
          const detail = yield* client.GetWorker({ workerId })
          assert.strictEqual(detail.status, "idle")
          assert.strictEqual(detail.usage.runs, 1)
          const delivered: Array<Item> = []
          const exit = yield* Effect.exit(Effect.forever(Effect.map(pull, (chunk) => delivered.push(...chunk))))
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
          assert.isTrue(Option.isSome(error) && error.value._tag === "SubscriberLagged")
          const lastDeliveredSeq = Option.isSome(error) && error.value._tag === "SubscriberLagged"
            ? error.value.lastDeliveredSeq
            : -1
          const seen = events(delivered).map((e) => e.seq)
          assert.strictEqual(lastDeliveredSeq, seen.length === 0 ? 0 : seen[seen.length - 1])
          const rest = yield* client.WatchWorker({ workerId, after: lastDeliveredSeq }).pipe(
            Stream.takeUntil((item) => item._tag !== "snapshot" && item.seq === detail.lastSeq),
            Stream.runCollect
          )
          const resumed = events(rest).map((e) => e.seq)
          assert.strictEqual(resumed[0], lastDeliveredSeq + 1)
          assert.strictEqual(resumed[resumed.length - 1], detail.lastSeq)
          assert.deepStrictEqual(resumed, resumed.map((_, i) => lastDeliveredSeq + 1 + i))
          assert.isTrue(events(rest).some((e) => e._tag === "run_finished" && e.runId === accepted.runId))
        })))

    it.effect("transcript paging with before / after / limit; limit > 200 is rejected", () =>
      withClient({ engine: { reply: "ok" } }, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          for (let i = 1; i <= 5; i++) yield* runToEnd(client, workerId, `q${i}`)
          const latest = yield* client.GetTranscript({ workerId, limit: 3 })
          assert.deepStrictEqual(latest.entries.map((e) => e.seq), [8, 9, 10])
          assert.strictEqual(latest.total, 10)
          assert.isTrue(latest.hasMore)
          const older = yield* client.GetTranscript({ workerId, before: 8, limit: 3 })
          assert.deepStrictEqual(older.entries.map((e) => e.seq), [5, 6, 7])
          const newer = yield* client.GetTranscript({ workerId, after: 2, limit: 3 })
          assert.deepStrictEqual(newer.entries.map((e) => e.seq), [3, 4, 5])
          assert.isTrue(newer.hasMore)
          const tail = yield* client.GetTranscript({ workerId, after: 8, limit: 3 })
          assert.deepStrictEqual(tail.entries.map((e) => e.seq), [9, 10])
          assert.isFalse(tail.hasMore)
          const between = yield* client.GetTranscript({ workerId, after: 2, before: 5 })
          assert.deepStrictEqual(between.entries.map((e) => e.seq), [3, 4])
          for (const limit of [201, 0, -1, 1.5]) {
            const error = yield* Effect.flip(client.GetTranscript({ workerId, limit }))
            assert.strictEqual(error._tag, "InvalidRequest")
            if (error._tag === "InvalidRequest") assert.strictEqual(error.field, "limit")
          }
          assert.strictEqual((yield* client.GetTranscript({ workerId, limit: 200 })).entries.length, 10)
        })))

    it.effect("idempotency keys return the same Worker and the same acceptance", () =>
      withClient(slow, (client) =>
        Effect.gen(function*() {
          const a = yield* client.CreateWorker({ displayName: "A", idempotencyKey: "create-1" })
          const b = yield* client.CreateWorker({ displayName: "A", idempotencyKey: "create-1" })
          assert.strictEqual(a.worker.ref.workerId, b.worker.ref.workerId)
          assert.strictEqual((yield* client.ListWorkers({})).workers.length, 1)
          const workerId = a.worker.ref.workerId
          const request = { workerId, input: { kind: "user", text: "once" }, idempotencyKey: "send-1" }
          const first = yield* client.SendInput(request)
          const retried = yield* client.SendInput(request)
          assert.deepStrictEqual(retried, first)
          assert.strictEqual((yield* client.GetTranscript({ workerId })).total, 1)
          const withInput = yield* client.CreateWorker({
            initialInput: { kind: "user", text: "hello" },
            idempotencyKey: "create-2"
          })
          const again = yield* client.CreateWorker({
            initialInput: { kind: "user", text: "hello" },
            idempotencyKey: "create-2"
          })
          assert.deepStrictEqual(again.input, withInput.input)
          assert.strictEqual(withInput.input?.status, "started")
        })))

    it.effect("usage per run and cumulative; the runtime overview sums Workers", () =>
      withClient({ engine: { reply: "12345678" } }, (client) =>
        Effect.gen(function*() {
          const w1 = yield* create(client)
          const w2 = yield* create(client)
          const { items } = yield* runToEnd(client, w1, "abcd")
          yield* runToEnd(client, w1, "efgh")
          yield* runToEnd(client, w2, "ijkl")
          const usageEvent = events(items).find((e) => e._tag === "usage")
          assert.isDefined(usageEvent)
          if (usageEvent?._tag === "usage") {
            assert.strictEqual(usageEvent.run.outputTokens, 2)
            assert.strictEqual(usageEvent.total.runs, 1)
          }
          const u1 = yield* client.GetUsage({ workerId: w1 })
          const u2 = yield* client.GetUsage({ workerId: w2 })
          assert.strictEqual(u1.usage.runs, 2)
          assert.strictEqual(u1.usage.outputTokens, 4)
          const all = yield* client.GetUsage({})
          assert.strictEqual(all.usage.runs, 3)
          assert.strictEqual(all.usage.outputTokens, u1.usage.outputTokens + u2.usage.outputTokens)
          assert.strictEqual(all.usage.inputTokens, u1.usage.inputTokens + u2.usage.inputTokens)
          assert.strictEqual(all.counts?.total, 2)
        })))

    it.effect("an engine failure ends the run as run_failed with the partial text kept", () =>
      withClient({ engine: { reply: "a b c d", fail: 2 } }, (client) =>
        Effect.gen(function*() {
          const workerId = yield* create(client)
          const { items } = yield* runToEnd(client, workerId, "go")
          const failed = events(items).at(-1)!
          assert.strictEqual(failed._tag, "run_failed")
          if (failed._tag === "run_failed") assert.strictEqual(failed.reason, "engine_failure")
          const detail = yield* client.GetWorker({ workerId })
          assert.strictEqual(detail.status, "idle")
          assert.strictEqual(detail.lastError?.code, "scripted_failure")
          assert.strictEqual(detail.usage.failures, 1)
          const transcript = yield* client.GetTranscript({ workerId })
          const assistant = transcript.entries.find((e) => e.kind === "assistant")!
          assert.strictEqual(assistant.text, "a b ")
          assert.isTrue(assistant.interrupted)
          const before = yield* runToEnd(client, workerId, "/script {\"fail\":\"before\"}")
          assert.strictEqual(events(before.items).at(-1)!._tag, "run_failed")
        })))

    it.effect("WatchRuntime streams worker lifecycle events after its snapshot", () =>
      withClient({ engine: { reply: "x" } }, (client) =>
        Effect.gen(function*() {
          const watcher = yield* client.WatchRuntime({}).pipe(
            Stream.takeUntil((item) => item._tag === "worker_status" && item.to === "stopped"),
            Stream.runCollect,
            Effect.forkChild({ startImmediately: true })
          )
          const workerId = yield* create(client)
          yield* runToEnd(client, workerId, "hi")
          yield* client.StopWorker({ workerId })
          const items = yield* Fiber.join(watcher)
          assert.strictEqual(items[0]!._tag, "runtime_snapshot")
          assert.deepStrictEqual(items.slice(1).map((i) => i._tag === "worker_status" ? `${i.from}>${i.to}` : i._tag), [
            "worker_created",
            "idle>running",
            "running>idle",
            "idle>stopped"
          ])
          const cursorError = yield* Effect.flip(Stream.runDrain(client.WatchRuntime({ after: 999 })))
          assert.strictEqual(cursorError._tag, "CursorOutOfRange")
        })))

    describe("bad input is a typed error and changes nothing", () => {
      const badIds: ReadonlyArray<unknown> = [
        "",
        "x".repeat(121),
        "../x",
        "a/b",
        "w_\u0000",
        "w\nx",
        "wоrker", // Cyrillic o
        "ｗorker", // fullwidth w
        " w",
        "-w"
      ]

      it.effect("invalid worker ids", () =>
        withClient({}, (client) =>
          Effect.gen(function*() {
            const workerId = yield* create(client)
            for (const bad of badIds) {
              const id = bad as string
              const errors = [
                yield* Effect.flip(client.GetWorker({ workerId: id })),
                yield* Effect.flip(send(client, id, "hi")),
                yield* Effect.flip(client.CancelRun({ workerId: id })),
                yield* Effect.flip(client.StopWorker({ workerId: id })),
                yield* Effect.flip(client.GetTranscript({ workerId: id })),
                yield* Effect.flip(client.GetUsage({ workerId: id })),
                yield* Effect.flip(Stream.runDrain(client.WatchWorker({ workerId: id })))
              ]
              for (const error of errors) {
                assert.strictEqual(error._tag, "InvalidRequest", `for ${JSON.stringify(bad)}`)
                if (error._tag === "InvalidRequest") {
                  assert.strictEqual(error.field, "workerId")
                  if (id.length >= 4) assert.notInclude(error.message, id)
                }
              }
            }
            const unknown = yield* Effect.flip(client.GetWorker({ workerId: "w_unknown" }))
            assert.strictEqual(unknown._tag, "WorkerNotFound")
            const detail = yield* client.GetWorker({ workerId })
            assert.strictEqual(detail.lastSeq, 0)
          })))

      it.effect("blank, oversized or malformed input text", () =>
        withClient({ limits: { maxInputChars: 1000 } }, (client) =>
          Effect.gen(function*() {
            const workerId = yield* create(client)
            const cases = [
              { input: { kind: "user", text: "" }, field: "input.text" },
              { input: { kind: "user", text: "  \n\t " }, field: "input.text" },
              { input: { kind: "user", text: "x".repeat(1001) }, field: "input.text" },
              { input: { kind: "system", text: "hi" }, field: "input.kind" }
            ]
            for (const c of cases) {
              const error = yield* Effect.flip(client.SendInput({ workerId, input: c.input }))
              assert.strictEqual(error._tag, "InvalidRequest")
              if (error._tag === "InvalidRequest") assert.strictEqual(error.field, c.field)
            }
            const whenBusy = yield* Effect.flip(client.SendInput({
              workerId,
              input: { kind: "user", text: "hi" },
              whenBusy: "sometimes"
            }))
            assert.strictEqual(whenBusy._tag, "InvalidRequest")
            const key = yield* Effect.flip(client.SendInput({
              workerId,
              input: { kind: "user", text: "hi" },
              idempotencyKey: ""
            }))
            assert.strictEqual(key._tag, "InvalidRequest")
            const detail = yield* client.GetWorker({ workerId })
            assert.strictEqual(detail.lastSeq, 0)
            assert.strictEqual(detail.transcriptCount, 0)
            assert.strictEqual(detail.status, "idle")
          })))

      it.effect("unknown profiles, bad display names and malformed scope rules create nothing", () =>
        withClient({}, (client) =>
          Effect.gen(function*() {
            const profileErrors = [
              yield* Effect.flip(client.CreateWorker({ profile: { kind: "builtin", name: "nope" } })),
              yield* Effect.flip(client.CreateWorker({ profile: { kind: "named", name: "team-coder" } }))
            ]
            for (const error of profileErrors) assert.strictEqual(error._tag, "InvalidProfile")
            const invalid = [
              { request: { profile: { kind: "wizard" } }, field: "profile.kind" },
              { request: { profile: { kind: "builtin", name: "../etc" } }, field: "profile.name" },
              { request: { displayName: "" }, field: "displayName" },
              { request: { displayName: "a\u0007b" }, field: "displayName" },
              { request: { displayName: "x".repeat(121) }, field: "displayName" },
              { request: { scope: [{ target: "relative/path", permission: "write" }] }, field: "scope[0].target" },
              { request: { scope: [{ target: "/a/../b", permission: "write" }] }, field: "scope[0].target" },
              {
                request: { scope: [{ target: "/ok", permission: "read" }, { target: "/x\u0000", permission: "read" }] },
                field: "scope[1].target"
              },
              { request: { scope: [{ target: "/ok", permission: "admin" }] }, field: "scope[0].permission" },
              { request: { requestedCapabilities: ["shell"] }, field: "requestedCapabilities[0]" },
              { request: { initialInput: { kind: "user", text: " " } }, field: "initialInput.text" }
            ]
            for (const c of invalid) {
              const error = yield* Effect.flip(client.CreateWorker(c.request))
              assert.strictEqual(error._tag, "InvalidRequest", JSON.stringify(c.request))
              if (error._tag === "InvalidRequest") assert.strictEqual(error.field, c.field)
            }
            assert.strictEqual((yield* client.ListWorkers({})).workers.length, 0)
            assert.strictEqual((yield* client.GetRuntime()).counts.total, 0)
          })))

      it.effect("overlapping write scopes conflict and name the competing Worker", () =>
        withClient({}, (client) =>
          Effect.gen(function*() {
            const owner = yield* client.CreateWorker({ scope: [{ target: "/repo", permission: "write" }] })
            const conflict = yield* Effect.flip(client.CreateWorker({
              scope: [{ target: "/elsewhere", permission: "write" }, { target: "/repo/src", permission: "write" }]
            }))
            assert.strictEqual(conflict._tag, "ScopeConflict")
            if (conflict._tag === "ScopeConflict") {
              assert.strictEqual(conflict.conflictsWith.workerId, owner.worker.ref.workerId)
              assert.strictEqual(conflict.ruleIndex, 1)
            }
            const reader = yield* client.CreateWorker({ scope: [{ target: "/repo/src", permission: "read" }] })
            assert.strictEqual(reader.worker.status, "idle")
            assert.strictEqual((yield* client.ListWorkers({})).workers.length, 2)
            yield* client.StopWorker({ workerId: owner.worker.ref.workerId })
            const after = yield* client.CreateWorker({ scope: [{ target: "/repo/src", permission: "write" }] })
            assert.strictEqual(after.worker.scope[0]!.target, "/repo/src")
          })))

      it.effect("bad cursors and limits", () =>
        withClient({}, (client) =>
          Effect.gen(function*() {
            const workerId = yield* create(client)
            const ahead = yield* Effect.flip(Stream.runDrain(client.WatchWorker({ workerId, after: 5 })))
            assert.strictEqual(ahead._tag, "CursorOutOfRange")
            const negative = yield* Effect.flip(Stream.runDrain(client.WatchWorker({ workerId, after: -1 })))
            assert.strictEqual(negative._tag, "InvalidRequest")
            for (const request of [{ limit: 0 }, { limit: 500 }, { status: "sleeping" }, { cursor: "../x" }]) {
              const error = yield* Effect.flip(client.ListWorkers(request))
              assert.strictEqual(error._tag, "InvalidRequest")
            }
            const queued = yield* Effect.flip(client.CancelQueued({ workerId, inputId: "a/b" }))
            assert.strictEqual(queued._tag, "InvalidRequest")
          })))
    })
  })
}
