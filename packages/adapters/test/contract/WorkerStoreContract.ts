/**
 * The `WorkerStore` contract: what every adapter (memory, filesystem, …) must do, as one suite.
 *
 * Each test builds its own store with `Layer.fresh(layer)`, so tests share no state and may run concurrently. A layer
 * whose construction needs a resource (a temp directory from a sub-layer, …) gets a new one per test too, because
 * `Layer.fresh` rebuilds the whole graph.
 */
import { assert, describe, it } from "@effect/vitest"
import { Errors, Ids, type RuntimeEvent, type Transcript, WorkerStore } from "@yoi/domain"
import {
  durableEvent,
  minimalRecord,
  range,
  reasoningDelta,
  seqsOf,
  textDelta,
  transcriptEntries,
  transcriptEntry,
  w1,
  w2,
  workerRecord
} from "@yoi/domain/test/support/fixtures"
import { Effect, Layer, Option, type Scope } from "effect"
import { observe } from "../support/fixtures.ts"

type Store = WorkerStore.WorkerStore["Service"]

/** One-argument forms, safe to pass to `map`. */
const entry = (seq: number) => transcriptEntry(seq)
const entries = (from: number, to: number) => transcriptEntries(from, to)

const workerIdsOf = (records: ReadonlyArray<WorkerStore.WorkerRecord>): Array<string> =>
  records.map((r) => r.workerId).sort()

/** A change the store must refuse, applied on top of the base state of `w1` (or onto an empty `w2`). */
interface Rejection {
  readonly name: string
  readonly workerId: Ids.WorkerId
  readonly change: WorkerStore.WorkerChange
}

/**
 * Base state of `w1` for the rejection tests: transcript 1..3, events 1, 2, 4, 5 (3 was a transient delta) and
 * record revision 1. Every rejected change below also carries parts that would be valid on their own, so a store
 * that applied a prefix before validating the rest would be caught.
 */
const base: WorkerStore.WorkerChange = {
  transcript: entries(1, 3),
  events: [durableEvent(1), durableEvent(2), durableEvent(4), durableEvent(5)],
  record: workerRecord(w1, 1)
}

const rejections: ReadonlyArray<Rejection> = [
  {
    name: "a transcript seq that skips ahead",
    workerId: w1,
    change: { transcript: [entry(5)], events: [durableEvent(6)], record: workerRecord(w1, 2) }
  },
  {
    name: "a transcript seq that repeats the last one",
    workerId: w1,
    change: { transcript: entries(3, 4), events: [durableEvent(6)], record: workerRecord(w1, 2) }
  },
  {
    name: "transcript entries that are not contiguous within the change",
    workerId: w1,
    change: { transcript: [entry(4), entry(6)], events: [durableEvent(6)], record: workerRecord(w1, 2) }
  },
  {
    name: "a transcript that restarts at 1",
    workerId: w1,
    change: { transcript: [entry(1)], record: workerRecord(w1, 2) }
  },
  {
    name: "an event seq equal to the last persisted one",
    workerId: w1,
    change: { transcript: [entry(4)], events: [durableEvent(5), durableEvent(6)], record: workerRecord(w1, 2) }
  },
  {
    name: "an event seq below the last persisted one",
    workerId: w1,
    change: { transcript: [entry(4)], events: [durableEvent(3)], record: workerRecord(w1, 2) }
  },
  {
    name: "repeated event seqs within the change",
    workerId: w1,
    change: { transcript: [entry(4)], events: [durableEvent(6), durableEvent(6)], record: workerRecord(w1, 2) }
  },
  {
    name: "decreasing event seqs within the change",
    workerId: w1,
    change: { transcript: [entry(4)], events: [durableEvent(8), durableEvent(7)], record: workerRecord(w1, 2) }
  },
  {
    name: "a transient text_delta among durable events",
    workerId: w1,
    change: {
      transcript: [entry(4)],
      events: [durableEvent(6), textDelta(7), durableEvent(8)],
      record: workerRecord(w1, 2)
    }
  },
  {
    name: "a transient reasoning_delta",
    workerId: w1,
    change: { events: [reasoningDelta(6)], record: workerRecord(w1, 2) }
  },
  {
    name: "a new Worker's transcript not starting at 1",
    workerId: w2,
    change: { transcript: entries(2, 3), events: [durableEvent(1)], record: workerRecord(w2, 1) }
  },
  {
    name: "a new Worker's event with seq 0",
    workerId: w2,
    change: { transcript: [entry(1)], events: [durableEvent(0)], record: workerRecord(w2, 1) }
  },
  {
    name: "a record of another Worker",
    workerId: w1,
    change: { transcript: [entry(4)], events: [durableEvent(6)], record: workerRecord(w2, 1) }
  }
]

/**
 * Registers the `WorkerStore` contract suite for one adapter.
 *
 * `layer` may need a `Scope` and may fail to build; it is rebuilt for every test.
 * @category testing
 */
export const workerStoreContract = (
  name: string,
  layer: Layer.Layer<WorkerStore.WorkerStore, unknown, Scope.Scope>
): void => {
  const test = (title: string, body: (store: Store) => Effect.Effect<void, unknown, Scope.Scope>) =>
    it.effect(title, () =>
      Effect.gen(function*() {
        yield* body(yield* WorkerStore.WorkerStore)
      }).pipe(Effect.provide(Layer.fresh(layer))))

  describe(`WorkerStore contract: ${name}`, () => {
    test("a fresh store is empty", (store) =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* store.loadRuntime))
        assert.deepStrictEqual(yield* store.listWorkers, [])
        assert.deepStrictEqual(yield* store.diagnostics, [])
      }))

    test("the runtime record round-trips and the last save wins", (store) =>
      Effect.gen(function*() {
        const first = new WorkerStore.RuntimeRecord({ runtimeId: Ids.RuntimeId.make("rt_1"), createdAt: 42 })
        yield* store.saveRuntime(first)
        assert.deepStrictEqual(yield* store.loadRuntime, Option.some(first))
        const second = new WorkerStore.RuntimeRecord({ runtimeId: Ids.RuntimeId.make("rt_2"), createdAt: 43 })
        yield* store.saveRuntime(second)
        assert.deepStrictEqual(yield* store.loadRuntime, Option.some(second))
      }))

    test("getWorker of an unknown Worker is None", (store) =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* store.getWorker(w1)))
        yield* store.commit(w2, { record: workerRecord(w2, 1) })
        assert.isTrue(Option.isNone(yield* store.getWorker(w1)))
      }))

    test("Worker records: committed, read back whole, listed, replaced by later commits", (store) =>
      Effect.gen(function*() {
        yield* store.commit(w1, { record: workerRecord(w1, 1) })
        yield* store.commit(w2, { record: workerRecord(w2, 1) })
        assert.deepStrictEqual(yield* store.getWorker(w1), Option.some(workerRecord(w1, 1)))
        assert.deepStrictEqual(yield* store.getWorker(w2), Option.some(workerRecord(w2, 1)))
        assert.deepStrictEqual(workerIdsOf(yield* store.listWorkers), ["w_1", "w_2"])

        yield* store.commit(w1, { record: workerRecord(w1, 2) })
        assert.deepStrictEqual(yield* store.getWorker(w1), Option.some(workerRecord(w1, 2)))
        const listed = yield* store.listWorkers
        assert.deepStrictEqual(workerIdsOf(listed), ["w_1", "w_2"])
        assert.deepStrictEqual(listed.find((r) => r.workerId === w1), workerRecord(w1, 2))
      }))

    test("a record with only the required fields round-trips", (store) =>
      Effect.gen(function*() {
        const minimal = minimalRecord(w1)
        yield* store.commit(w1, { record: minimal })
        assert.deepStrictEqual(yield* store.getWorker(w1), Option.some(minimal))
      }))

    test("commit persists transcript entries, events and the record together", (store) =>
      Effect.gen(function*() {
        yield* store.commit(w1, {
          transcript: entries(1, 2),
          events: [durableEvent(1), durableEvent(2)],
          record: workerRecord(w1, 1)
        })
        yield* store.commit(w1, { transcript: [entry(3)], events: [durableEvent(3)], record: workerRecord(w1, 2) })
        const seen = yield* observe(store, w1)
        assert.deepStrictEqual(seen.record, Option.some(workerRecord(w1, 2)))
        assert.deepStrictEqual(seen.events, [durableEvent(1), durableEvent(2), durableEvent(3)])
        assert.strictEqual(seen.lastEventSeq, 3)
        assert.deepStrictEqual(seen.transcript.entries, entries(1, 3))
        assert.strictEqual(seen.transcriptCount, 3)
      }))

    test("a commit may carry any subset of transcript, events and record", (store) =>
      Effect.gen(function*() {
        yield* store.commit(w1, { events: [durableEvent(1)] })
        yield* store.commit(w1, { transcript: [entry(1)] })
        yield* store.commit(w1, {})
        yield* store.commit(w1, { transcript: [], events: [] })
        const seen = yield* observe(store, w1)
        assert.isTrue(Option.isNone(seen.record))
        assert.deepStrictEqual(seen.events, [durableEvent(1)])
        assert.strictEqual(seen.transcriptCount, 1)
        yield* store.commit(w1, { record: workerRecord(w1, 1) })
        assert.deepStrictEqual(yield* store.getWorker(w1), Option.some(workerRecord(w1, 1)))
        assert.strictEqual(yield* store.transcriptCount(w1), 1)
      }))

    test("event seqs may skip values (transient seqs are never persisted)", (store) =>
      Effect.gen(function*() {
        yield* store.commit(w1, { events: [durableEvent(2), durableEvent(5)] })
        yield* store.commit(w1, { events: [durableEvent(9)] })
        assert.deepStrictEqual(seqsOf(yield* store.readEvents(w1, { after: 0, limit: 10 })), [2, 5, 9])
        assert.strictEqual(yield* store.lastEventSeq(w1), 9)
      }))

    test("lastEventSeq is 0 without events, then the highest persisted seq", (store) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* store.lastEventSeq(w1), 0)
        yield* store.commit(w1, { record: workerRecord(w1, 1), transcript: [entry(1)] })
        assert.strictEqual(yield* store.lastEventSeq(w1), 0)
        yield* store.commit(w1, { events: [durableEvent(1), durableEvent(4)] })
        assert.strictEqual(yield* store.lastEventSeq(w1), 4)
        yield* store.commit(w1, { events: [durableEvent(7)] })
        assert.strictEqual(yield* store.lastEventSeq(w1), 7)
      }))

    test("readEvents pages 1000 events by cursor: ascending, seq > after, at most limit", (store) =>
      Effect.gen(function*() {
        // seqs 1, 3, 5, …, 1999: the even seqs stand for transient deltas that were never persisted
        const all = range(1, 1000).map((i) => durableEvent(2 * i - 1))
        for (let batch = 0; batch < 10; batch++) {
          yield* store.commit(w1, { events: all.slice(batch * 100, (batch + 1) * 100) })
        }
        assert.strictEqual(yield* store.lastEventSeq(w1), 1999)
        assert.deepStrictEqual(yield* store.readEvents(w1, { after: 0, limit: 1000 }), all)
        assert.deepStrictEqual(yield* store.readEvents(w1, { after: 0, limit: 5000 }), all)

        const read = (after: number, limit: number) => store.readEvents(w1, { after, limit }).pipe(Effect.map(seqsOf))
        assert.deepStrictEqual(yield* read(0, 5), [1, 3, 5, 7, 9])
        assert.deepStrictEqual(yield* read(1, 2), [3, 5], "after an existing seq")
        assert.deepStrictEqual(yield* read(2, 2), [3, 5], "after a seq that was never persisted")
        assert.deepStrictEqual(yield* read(1000, 3), [1001, 1003, 1005])
        assert.deepStrictEqual(yield* read(1995, 10), [1997, 1999], "limit larger than what is left")
        assert.deepStrictEqual(yield* read(1999, 10), [], "after the last seq")
        assert.deepStrictEqual(yield* read(5000, 10), [], "after beyond the last seq")
        assert.deepStrictEqual(yield* read(0, 0), [], "limit 0")
        assert.deepStrictEqual(yield* read(-5, 2), [1, 3], "negative after reads from the start")

        // walking the log by cursor gives every event once, in order
        const walked: Array<RuntimeEvent.WorkerEvent> = []
        let cursor = 0
        for (let pages = 0; pages < 100; pages++) {
          const page = yield* store.readEvents(w1, { after: cursor, limit: 37 })
          if (page.length === 0) break
          assert.isAtMost(page.length, 37)
          walked.push(...page)
          cursor = page.at(-1)!.seq
        }
        assert.deepStrictEqual(walked, all)
      }))

    test("reads of a Worker with no data are empty", (store) =>
      Effect.gen(function*() {
        for (const query of [{ limit: 50 }, { after: 3, limit: 50 }, { before: 3, limit: 50 }]) {
          const page = yield* store.readTranscript(w1, query)
          assert.deepStrictEqual(page.entries, [])
          assert.strictEqual(page.total, 0)
          assert.isFalse(page.hasMore)
        }
        assert.strictEqual(yield* store.transcriptCount(w1), 0)
        assert.deepStrictEqual(yield* store.readEvents(w1, { after: 0, limit: 50 }), [])
        assert.strictEqual(yield* store.lastEventSeq(w1), 0)
        yield* store.commit(w1, { record: workerRecord(w1, 1) })
        assert.strictEqual((yield* store.readTranscript(w1, { limit: 50 })).total, 0)
      }))

    test("transcript paging: latest by default, before, after, both, limit, hasMore, total", (store) =>
      Effect.gen(function*() {
        // written over several commits: the transcript continues across them
        yield* store.commit(w1, { transcript: entries(1, 4) })
        yield* store.commit(w1, { transcript: entries(5, 7) })
        yield* store.commit(w1, { transcript: entries(8, 10) })
        assert.strictEqual(yield* store.transcriptCount(w1), 10)

        const cases: ReadonlyArray<readonly [Transcript.TranscriptQuery, Array<number>, boolean]> = [
          [{ limit: 3 }, [8, 9, 10], true],
          [{ limit: 10 }, range(1, 10), false],
          [{ limit: 50 }, range(1, 10), false],
          [{ limit: 1 }, [10], true],
          [{ before: 4, limit: 3 }, [1, 2, 3], false],
          [{ before: 5, limit: 3 }, [2, 3, 4], true],
          [{ before: 2, limit: 3 }, [1], false],
          [{ before: 1, limit: 3 }, [], false],
          [{ before: 11, limit: 2 }, [9, 10], true],
          [{ before: 100, limit: 2 }, [9, 10], true],
          [{ after: 0, limit: 3 }, [1, 2, 3], true],
          [{ after: 2, limit: 3 }, [3, 4, 5], true],
          [{ after: 7, limit: 3 }, [8, 9, 10], false],
          [{ after: 7, limit: 5 }, [8, 9, 10], false],
          [{ after: 10, limit: 3 }, [], false],
          [{ after: 50, limit: 3 }, [], false],
          [{ after: 2, before: 6, limit: 10 }, [3, 4, 5], false],
          [{ after: 2, before: 9, limit: 3 }, [3, 4, 5], true],
          [{ after: 1, before: 3, limit: 5 }, [2], false],
          [{ after: 5, before: 6, limit: 3 }, [], false],
          [{ after: 6, before: 5, limit: 3 }, [], false]
        ]
        for (const [query, expected, hasMore] of cases) {
          const label = JSON.stringify(query)
          const page = yield* store.readTranscript(w1, query)
          assert.deepStrictEqual(seqsOf(page.entries), expected, label)
          assert.deepStrictEqual(page.entries, expected.map(entry), label)
          assert.strictEqual(page.hasMore, hasMore, label)
          assert.strictEqual(page.total, 10, label)
        }
      }))

    for (const rejection of rejections) {
      test(`commit rejects ${rejection.name} and changes nothing`, (store) =>
        Effect.gen(function*() {
          yield* store.commit(w1, base)
          const before1 = yield* observe(store, w1)
          const before2 = yield* observe(store, w2)
          const listed = workerIdsOf(yield* store.listWorkers)

          const failure = yield* Effect.flip(store.commit(rejection.workerId, rejection.change))
          assert.instanceOf(failure, Errors.StoreFailure)
          assert.strictEqual(failure.operation, "commit")
          assert.isAbove(failure.message.length, 0)
          assert.notInclude(failure.message, "/", "a StoreFailure never names a path")

          assert.deepStrictEqual(yield* observe(store, w1), before1)
          assert.deepStrictEqual(yield* observe(store, w2), before2)
          assert.deepStrictEqual(workerIdsOf(yield* store.listWorkers), listed)

          // the store is not wedged: a valid continuation still commits
          yield* store.commit(w1, { transcript: [entry(4)], events: [durableEvent(6)], record: workerRecord(w1, 2) })
          const after = yield* observe(store, w1)
          assert.strictEqual(after.transcriptCount, 4)
          assert.strictEqual(after.lastEventSeq, 6)
          assert.deepStrictEqual(after.record, Option.some(workerRecord(w1, 2)))
        }))
    }

    test("commits to different Workers are independent", (store) =>
      Effect.gen(function*() {
        yield* store.commit(w1, {
          transcript: entries(1, 3),
          events: [durableEvent(1), durableEvent(2), durableEvent(3)]
        })
        // w2's logs start from the beginning, whatever w1 holds
        yield* store.commit(w2, { transcript: [entry(1)], events: [durableEvent(1)], record: workerRecord(w2, 1) })
        yield* store.commit(w1, { transcript: [entry(4)], events: [durableEvent(4)], record: workerRecord(w1, 1) })

        const one = yield* observe(store, w1)
        const two = yield* observe(store, w2)
        assert.deepStrictEqual(seqsOf(one.events), [1, 2, 3, 4])
        assert.deepStrictEqual(one.transcript.entries, entries(1, 4))
        assert.deepStrictEqual(one.record, Option.some(workerRecord(w1, 1)))
        assert.deepStrictEqual(seqsOf(two.events), [1])
        assert.deepStrictEqual(two.transcript.entries, [entry(1)])
        assert.strictEqual(two.transcriptCount, 1)
        assert.strictEqual(two.lastEventSeq, 1)
        assert.deepStrictEqual(two.record, Option.some(workerRecord(w2, 1)))

        // a rejected commit to one Worker does not disturb the other
        yield* Effect.flip(store.commit(w2, { events: [durableEvent(1)] }))
        assert.deepStrictEqual(yield* observe(store, w1), one)
      }))
  })
}
