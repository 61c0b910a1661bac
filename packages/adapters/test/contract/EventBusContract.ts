/**
 * The `EventBus` contract: what every adapter must do, as one suite.
 *
 * Each test builds its own bus with `Layer.fresh(layer)`, so tests share no state and may run concurrently. Most
 * behaviours run once per kind of topic (a Worker topic and the Runtime topic), since a bus keeps them apart but
 * must treat them alike. Every event carries a label `<topic>#<seq>`, so an assertion on labels checks order, seq and
 * which topic an event came from at once.
 *
 * Nothing here waits on time: consumers are forked with `startImmediately` and joined. A bus that blocks a publisher
 * or never closes a lagging subscriber makes its test hang, and vitest's timeout reports it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Errors, EventBus, Ids, RuntimeEvent } from "@yoi/domain"
import { Cause, Effect, Fiber, Layer, type Pull, Result, type Scope, Stream } from "effect"

type Bus = EventBus.EventBus["Service"]
type Event = RuntimeEvent.WorkerEvent | RuntimeEvent.RuntimeEvent
type Subscription = EventBus.Subscription<Event>

/** Options that tell the suite how the adapter under test was configured. */
export interface EventBusContractOptions {
  /** The configured replay size per topic: the bus keeps at least this many latest events, at most twice as many. */
  readonly replay: number
}

/** One topic of a bus, seen the same way whether it is a Worker's or the Runtime's. */
interface Topic {
  readonly name: string
  publish(seq: number): Effect.Effect<void>
  subscribe(options: EventBus.SubscribeOptions): Effect.Effect<Subscription, never, Scope.Scope>
}

const runId = Ids.RunId.make("run_1")
const w1 = Ids.WorkerId.make("w_1")
const w2 = Ids.WorkerId.make("w_2")

const workerTopic = (bus: Bus, workerId: Ids.WorkerId): Topic => ({
  name: workerId,
  publish: (seq) =>
    bus.publish(
      workerId,
      RuntimeEvent.TextDeltaEvent.make({ seq, at: 1_000 + seq, runId, delta: `${workerId}#${seq}` })
    ),
  subscribe: (options) => bus.subscribe(workerId, options)
})

const runtimeTopic = (bus: Bus): Topic => ({
  name: "runtime",
  publish: (seq) =>
    bus.publishRuntime(
      RuntimeEvent.WorkerCreatedEvent.make({ seq, at: 1_000 + seq, workerId: w1, displayName: `runtime#${seq}` })
    ),
  subscribe: (options) => bus.subscribeRuntime(options)
})

const topicKinds: ReadonlyArray<readonly [string, (bus: Bus) => Topic]> = [
  ["a Worker topic", (bus) => workerTopic(bus, w1)],
  ["the Runtime topic", runtimeTopic]
]

const labelOf = (event: Event): string =>
  event._tag === "text_delta" ? event.delta : event._tag === "worker_created" ? event.displayName : event._tag

const labels = (events: ReadonlyArray<Event>): Array<string> => events.map(labelOf)

const seqsOf = (events: ReadonlyArray<{ readonly seq: number }>): Array<number> => events.map((e) => e.seq)

const range = (from: number, to: number): Array<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

/** The labels `topic` gets for seqs `from..to`. */
const expected = (topic: Topic, from: number, to: number): Array<string> =>
  range(from, to).map((seq) => `${topic.name}#${seq}`)

const publishRange = (topic: Topic, from: number, to: number) =>
  Effect.forEach(range(from, to), (seq) => topic.publish(seq), { discard: true })

/** The next `n` live events (fails if the subscriber lagged first). */
const takeLive = (subscription: Subscription, n: number) => subscription.live.pipe(Stream.take(n), Stream.runCollect)

/** Pulls whole chunks until at least `n` events arrived; returns exactly what was pulled. */
const pullAtLeast = Effect.fnUntraced(function*(
  pull: Pull.Pull<ReadonlyArray<Event>, Errors.SubscriberLagged>,
  n: number
) {
  const received: Array<Event> = []
  while (received.length < n) received.push(...(yield* pull))
  return received
})

/** Pulls until the live stream fails; returns what arrived before the failure, and the failure. */
const pullUntilFailure = Effect.fnUntraced(function*(
  pull: Pull.Pull<ReadonlyArray<Event>, Errors.SubscriberLagged>
) {
  const received: Array<Event> = []
  while (true) {
    const result = yield* Effect.result(pull)
    if (Result.isSuccess(result)) {
      received.push(...result.success)
      continue
    }
    if (Cause.isDone(result.failure)) {
      return assert.fail("the live stream ended instead of failing with SubscriberLagged")
    }
    return { received, error: result.failure }
  }
})

/**
 * Registers the `EventBus` contract suite for one adapter.
 *
 * `layer` may need a `Scope` and may fail to build; it is rebuilt for every test. Pass `options` with the adapter's
 * configured replay size to also run the eviction tests; every other test assumes the bus buffers at least 8 events
 * per topic.
 * @category testing
 */
export const eventBusContract = (
  name: string,
  layer: Layer.Layer<EventBus.EventBus, unknown, Scope.Scope>,
  options?: EventBusContractOptions
): void => {
  const test = (title: string, body: (bus: Bus) => Effect.Effect<void, unknown, Scope.Scope>) =>
    it.effect(title, () =>
      Effect.gen(function*() {
        yield* body(yield* EventBus.EventBus)
      }).pipe(Effect.provide(Layer.fresh(layer))))

  describe(`EventBus contract: ${name}`, () => {
    for (const [kind, topicOf] of topicKinds) {
      describe(kind, () => {
        test("a subscriber receives events published after it subscribed, in order", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            const subscription = yield* topic.subscribe({ after: 0, capacity: 64 })
            assert.deepStrictEqual(subscription.replay, [])
            assert.isTrue(subscription.complete)
            // The consumer is already waiting when the events are published.
            const consumer = yield* takeLive(subscription, 5).pipe(Effect.forkChild({ startImmediately: true }))
            yield* publishRange(topic, 1, 5)
            assert.deepStrictEqual(labels(yield* Fiber.join(consumer)), expected(topic, 1, 5))
            // A consumer that starts reading later gets the events buffered for it, still in order.
            yield* publishRange(topic, 6, 8)
            assert.deepStrictEqual(labels(yield* takeLive(subscription, 3)), expected(topic, 6, 8))
          }))

        test("replay holds the buffered events with seq > after, ascending, and is complete", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            yield* publishRange(topic, 1, 6)
            const cases: ReadonlyArray<readonly [after: number, from: number]> = [
              [0, 1],
              [2, 3],
              [5, 6],
              [6, 7],
              [100, 7]
            ]
            for (const [after, from] of cases) {
              const subscription = yield* topic.subscribe({ after, capacity: 16 })
              assert.deepStrictEqual(labels(subscription.replay), expected(topic, from, 6), `after ${after}`)
              assert.isTrue(subscription.complete, `after ${after}`)
            }
          }))

        test("replay and live meet exactly: no gap and no duplicate", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            yield* publishRange(topic, 1, 4)
            const subscription = yield* topic.subscribe({ after: 2, capacity: 16 })
            yield* publishRange(topic, 5, 7)
            assert.deepStrictEqual(
              labels([...subscription.replay, ...(yield* takeLive(subscription, 3))]),
              expected(topic, 3, 7)
            )
          }))

        test("subscribing while a publisher is mid-stream splits its events between replay and live", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            const total = 60
            const publisher = yield* Effect.forEach(
              range(1, total),
              (seq) => topic.publish(seq).pipe(Effect.andThen(Effect.yieldNow)),
              { discard: true }
            ).pipe(Effect.forkChild({ startImmediately: true }))
            for (let i = 0; i < 5; i++) yield* Effect.yieldNow
            const subscription = yield* topic.subscribe({ after: 0, capacity: 3 * total })
            yield* Fiber.join(publisher)
            const replayed = seqsOf(subscription.replay)
            const last = replayed.at(-1) ?? 0
            assert.isTrue(last > 0 && last < total, `subscribed mid-stream (replay ended at ${last})`)
            assert.isTrue(subscription.complete)
            assert.deepStrictEqual(replayed, range(1, last))
            // Sentinels after the run: an event lost between replay and live shows up as a sentinel, not a hang.
            yield* publishRange(topic, total + 1, 2 * total)
            assert.deepStrictEqual(seqsOf(yield* takeLive(subscription, total - last)), range(last + 1, total))
          }))

        test("every subscriber gets every event, whatever its cursor", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            yield* publishRange(topic, 1, 3)
            const a = yield* topic.subscribe({ after: 0, capacity: 16 })
            const b = yield* topic.subscribe({ after: 3, capacity: 16 })
            const c = yield* topic.subscribe({ after: 1, capacity: 16 })
            const consumers = yield* Effect.forEach(
              [a, b, c],
              (s) => takeLive(s, 4).pipe(Effect.forkChild({ startImmediately: true }))
            )
            yield* publishRange(topic, 4, 7)
            const received = yield* Fiber.joinAll(consumers)
            for (const events of received) assert.deepStrictEqual(labels(events), expected(topic, 4, 7))
            assert.deepStrictEqual(labels(a.replay), expected(topic, 1, 3))
            assert.deepStrictEqual(labels(b.replay), [])
            assert.deepStrictEqual(labels(c.replay), expected(topic, 2, 3))
          }))

        test("a stalled subscriber never blocks publishing: it gets its buffer, then SubscriberLagged", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            const stalled = yield* topic.subscribe({ after: 0, capacity: 4 })
            const reader = yield* topic.subscribe({ after: 0, capacity: 2_000 })
            // Would hang if publishing waited for the stalled subscriber.
            yield* publishRange(topic, 1, 1_000)

            const { error, received } = yield* pullUntilFailure(yield* Stream.toPull(stalled.live))
            assert.deepStrictEqual(labels(received), expected(topic, 1, 4))
            assert.instanceOf(error, Errors.SubscriberLagged)
            assert.strictEqual(error.lastDeliveredSeq, 4)

            assert.deepStrictEqual(labels(yield* takeLive(reader, 1_000)), expected(topic, 1, 1_000))
            // The topic still works for the remaining subscriber after the laggard was dropped.
            yield* publishRange(topic, 1_001, 1_100)
            assert.deepStrictEqual(seqsOf(yield* takeLive(reader, 100)), range(1_001, 1_100))
          }))

        test("lastDeliveredSeq is the last live event the subscriber received, not counting replay", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            yield* publishRange(topic, 1, 3)
            const subscription = yield* topic.subscribe({ after: 0, capacity: 4 })
            assert.deepStrictEqual(labels(subscription.replay), expected(topic, 1, 3))
            const pull = yield* Stream.toPull(subscription.live)
            yield* publishRange(topic, 4, 5)
            assert.deepStrictEqual(labels(yield* pullAtLeast(pull, 2)), expected(topic, 4, 5))
            // Now it stops reading while 25 more arrive: 4 fit in its buffer.
            yield* publishRange(topic, 6, 30)
            const { error, received } = yield* pullUntilFailure(pull)
            assert.deepStrictEqual(labels(received), expected(topic, 6, 9))
            assert.strictEqual(error._tag, "SubscriberLagged")
            assert.strictEqual(error.lastDeliveredSeq, 9)
          }))

        test("a lagged subscriber resumes from its lastDeliveredSeq with no loss and no duplicate", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            const laggard = yield* topic.subscribe({ after: 0, capacity: 2 })
            yield* publishRange(topic, 1, 5)
            const { error, received } = yield* pullUntilFailure(yield* Stream.toPull(laggard.live))
            assert.deepStrictEqual(seqsOf(received), [1, 2])
            const resumed = yield* topic.subscribe({ after: error.lastDeliveredSeq, capacity: 16 })
            assert.isTrue(resumed.complete)
            yield* publishRange(topic, 6, 7)
            assert.deepStrictEqual(
              labels([...received, ...resumed.replay, ...(yield* takeLive(resumed, 2))]),
              expected(topic, 1, 7)
            )
          }))

        test("closing a subscription's scope unsubscribes it; the topic keeps working", (bus) =>
          Effect.gen(function*() {
            const topic = topicOf(bus)
            const stays = yield* topic.subscribe({ after: 0, capacity: 512 })
            yield* Effect.scoped(Effect.gen(function*() {
              const leaves = yield* topic.subscribe({ after: 0, capacity: 1 })
              yield* topic.publish(1)
              assert.deepStrictEqual(labels(yield* takeLive(leaves, 1)), expected(topic, 1, 1))
            }))
            // Far more than the closed subscriber's buffer: nothing fails, blocks or reaches it.
            yield* publishRange(topic, 2, 300)
            const fresh = yield* topic.subscribe({ after: 300, capacity: 16 })
            assert.deepStrictEqual(fresh.replay, [])
            yield* publishRange(topic, 301, 303)
            assert.deepStrictEqual(labels(yield* takeLive(fresh, 3)), expected(topic, 301, 303))
            assert.deepStrictEqual(seqsOf(yield* takeLive(stays, 303)), range(1, 303))
          }))

        if (options !== undefined) {
          const { replay } = options
          const total = 5 * replay

          test(`after the replay buffer overflows (replay ${replay}), an old cursor is incomplete`, (bus) =>
            Effect.gen(function*() {
              const topic = topicOf(bus)
              yield* publishRange(topic, 1, total)
              const old = yield* topic.subscribe({ after: 0, capacity: 16 })
              assert.isFalse(old.complete)
              const kept = seqsOf(old.replay)
              const first = kept[0] ?? 0
              assert.isAbove(first, 1, "the oldest events were evicted")
              assert.deepStrictEqual(kept, range(first, total), "what is kept is the latest events, contiguous")
              assert.isAtLeast(kept.length, replay, "at least the configured number of events is kept")
              assert.isAtMost(kept.length, 2 * replay, "the buffer is bounded")

              // `complete` flips exactly at the oldest retained event.
              const justCovered = yield* topic.subscribe({ after: first - 1, capacity: 16 })
              assert.isTrue(justCovered.complete)
              assert.deepStrictEqual(seqsOf(justCovered.replay), kept)
              const justMissed = yield* topic.subscribe({ after: first - 2, capacity: 16 })
              assert.isFalse(justMissed.complete)
              assert.deepStrictEqual(seqsOf(justMissed.replay), kept)

              const recent = yield* topic.subscribe({ after: total - replay, capacity: 16 })
              assert.isTrue(recent.complete)
              assert.deepStrictEqual(labels(recent.replay), expected(topic, total - replay + 1, total))

              // An incomplete subscription is still live from the present on.
              yield* publishRange(topic, total + 1, total + 2)
              assert.deepStrictEqual(labels(yield* takeLive(old, 2)), expected(topic, total + 1, total + 2))
            }))
        }
      })
    }

    test("topics are isolated: Worker topics from each other and from the Runtime topic", (bus) =>
      Effect.gen(function*() {
        const a = workerTopic(bus, w1)
        const b = workerTopic(bus, w2)
        const rt = runtimeTopic(bus)
        const topics = [a, b, rt]
        const live = yield* Effect.forEach(topics, (t) => t.subscribe({ after: 0, capacity: 64 }))

        // Interleaved publishes with overlapping seqs.
        for (const seq of range(1, 5)) {
          yield* a.publish(seq)
          if (seq <= 3) yield* b.publish(seq)
          if (seq <= 2) yield* rt.publish(seq)
        }
        const counts = [5, 3, 2]
        for (const [i, t] of topics.entries()) {
          const subscription = live[i]!
          assert.deepStrictEqual(labels(yield* takeLive(subscription, counts[i]!)), expected(t, 1, counts[i]!))
          // The next event on this topic is the next one this subscriber sees: nothing foreign came in between.
          yield* t.publish(counts[i]! + 1)
          assert.deepStrictEqual(labels(yield* takeLive(subscription, 1)), expected(t, counts[i]! + 1, counts[i]! + 1))
        }

        const replays = yield* Effect.forEach(topics, (t) => t.subscribe({ after: 0, capacity: 64 }))
        assert.deepStrictEqual(labels(replays[0]!.replay), expected(a, 1, 6))
        assert.deepStrictEqual(labels(replays[1]!.replay), expected(b, 1, 4))
        assert.deepStrictEqual(labels(replays[2]!.replay), expected(rt, 1, 3))
        // A topic nobody published to is empty, and complete.
        const empty = yield* workerTopic(bus, Ids.WorkerId.make("w_3")).subscribe({ after: 0, capacity: 4 })
        assert.deepStrictEqual(empty.replay, [])
        assert.isTrue(empty.complete)
      }))

    test("a stalled subscriber on one topic does not disturb another topic", (bus) =>
      Effect.gen(function*() {
        const a = workerTopic(bus, w1)
        const rt = runtimeTopic(bus)
        const stalled = yield* a.subscribe({ after: 0, capacity: 1 })
        const other = yield* rt.subscribe({ after: 0, capacity: 64 })
        yield* publishRange(a, 1, 50)
        yield* publishRange(rt, 1, 3)
        assert.deepStrictEqual(labels(yield* takeLive(other, 3)), expected(rt, 1, 3))
        const { error } = yield* pullUntilFailure(yield* Stream.toPull(stalled.live))
        assert.strictEqual(error.lastDeliveredSeq, 1)
      }))

    if (options !== undefined) {
      const { replay } = options
      test("each topic has its own replay buffer: one overflowing evicts nothing elsewhere", (bus) =>
        Effect.gen(function*() {
          const a = workerTopic(bus, w1)
          const b = workerTopic(bus, w2)
          const rt = runtimeTopic(bus)
          yield* publishRange(b, 1, 3)
          yield* publishRange(rt, 1, 3)
          yield* publishRange(a, 1, 5 * replay)
          assert.isFalse((yield* a.subscribe({ after: 0, capacity: 4 })).complete)
          for (const t of [b, rt]) {
            const subscription = yield* t.subscribe({ after: 0, capacity: 4 })
            assert.isTrue(subscription.complete, t.name)
            assert.deepStrictEqual(labels(subscription.replay), expected(t, 1, 3))
          }
        }))
    }
  })
}
