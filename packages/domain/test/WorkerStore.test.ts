import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { StoreFailure } from "../src/Errors.ts"
import * as WorkerStore from "../src/WorkerStore.ts"
import {
  durableEvent,
  reasoningDelta,
  textDelta,
  transcriptEntries,
  transcriptEntry,
  w1,
  w2,
  workerRecord
} from "./support/fixtures.ts"

const heads = (lastEventSeq: number, transcriptCount: number): WorkerStore.LogHeads => ({
  lastEventSeq,
  transcriptCount
})

/** The failure's message, or a test failure when the change was accepted. */
const refusal = (result: Result.Result<WorkerStore.LogHeads, StoreFailure>): string => {
  if (Result.isSuccess(result)) return assert.fail(`accepted: ${JSON.stringify(result.success)}`)
  assert.instanceOf(result.failure, StoreFailure)
  assert.strictEqual(result.failure.operation, "commit")
  return result.failure.message
}

describe("WorkerStore.checkChange", () => {
  it.effect("accepts a change that continues both logs, and answers the heads after it", () =>
    Effect.sync(() => {
      const change = { transcript: transcriptEntries(4, 5), events: [durableEvent(8), durableEvent(12)] }
      assert.deepStrictEqual(WorkerStore.checkChange(w1, heads(7, 3), change), Result.succeed(heads(12, 5)))
    }))

  it.effect("on an empty Worker the transcript starts at 1 and any positive event seq is accepted", () =>
    Effect.sync(() => {
      const change = { transcript: [transcriptEntry(1)], events: [durableEvent(3)], record: workerRecord(w1, 1) }
      assert.deepStrictEqual(
        WorkerStore.checkChange(w1, WorkerStore.emptyLogHeads, change),
        Result.succeed(heads(3, 1))
      )
    }))

  it.effect("an empty change (or one with only a record) leaves the heads as they are", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(WorkerStore.checkChange(w1, heads(4, 2), {}), Result.succeed(heads(4, 2)))
      assert.deepStrictEqual(
        WorkerStore.checkChange(w1, heads(4, 2), { transcript: [], events: [], record: workerRecord(w1, 2) }),
        Result.succeed(heads(4, 2))
      )
    }))

  const refused: ReadonlyArray<readonly [string, WorkerStore.LogHeads, WorkerStore.WorkerChange, string]> = [
    [
      "a transcript that skips a seq",
      heads(0, 3),
      { transcript: [transcriptEntry(5)] },
      "transcript seq 5 does not continue the transcript (expected 4)"
    ],
    [
      "a transcript that repeats the last seq",
      heads(0, 3),
      { transcript: transcriptEntries(3, 4) },
      "transcript seq 3 does not continue the transcript (expected 4)"
    ],
    [
      "a gap inside the change's transcript",
      heads(0, 0),
      { transcript: [transcriptEntry(1), transcriptEntry(3)] },
      "transcript seq 3 does not continue the transcript (expected 2)"
    ],
    [
      "an event seq equal to the last persisted one",
      heads(5, 0),
      { events: [durableEvent(5)] },
      "event seq 5 does not increase past 5"
    ],
    [
      "an event seq 0 on an empty Worker",
      WorkerStore.emptyLogHeads,
      { events: [durableEvent(0)] },
      "event seq 0 does not increase past 0"
    ],
    [
      "event seqs that decrease within the change",
      heads(5, 0),
      { events: [durableEvent(8), durableEvent(7)] },
      "event seq 7 does not increase past 8"
    ],
    [
      "a transient text_delta",
      heads(5, 0),
      { events: [durableEvent(6), textDelta(7)] },
      "transient event text_delta (seq 7) is never persisted"
    ],
    [
      "a transient reasoning_delta",
      heads(5, 0),
      { events: [reasoningDelta(6)] },
      "transient event reasoning_delta (seq 6) is never persisted"
    ],
    [
      "a record of another Worker",
      heads(0, 0),
      { record: workerRecord(w2, 1) },
      "the record belongs to another Worker"
    ],
    [
      "a bad transcript before bad events: the transcript is named",
      heads(5, 3),
      { transcript: [transcriptEntry(9)], events: [durableEvent(1)] },
      "transcript seq 9 does not continue the transcript (expected 4)"
    ]
  ]
  it.effect.each(refused)(
    "refuses %s, with a message naming seqs and never a path",
    ([, at, change, message]) =>
      Effect.sync(() => {
        const text = refusal(WorkerStore.checkChange(w1, at, change))
        assert.strictEqual(text, message)
        assert.notInclude(text, "/")
      })
  )

  it.effect("the heads a success answers validate the next change, as a store's queue of commits does", () =>
    Effect.sync(() => {
      const first = WorkerStore.checkChange(w1, heads(0, 0), {
        transcript: [transcriptEntry(1)],
        events: [durableEvent(2)]
      })
      assert.isTrue(Result.isSuccess(first))
      const next = Result.getOrThrow(first)
      assert.isTrue(Result.isSuccess(WorkerStore.checkChange(w1, next, { transcript: [transcriptEntry(2)] })))
      refusal(WorkerStore.checkChange(w1, next, { events: [durableEvent(2)] }))
    }))
})
