/**
 * The only writer of a Worker: `append` takes one whole `Transition`, numbers its events, persists its durable
 * events, transcript entries and record in one `WorkerStore.commit`, moves the live entry with it, then publishes
 * the events — so one command is one commit by construction, and nothing is published that was not committed.
 *
 * Seqs: `seqReserved` is persisted ahead of the seqs handed out (a block at a time), so a transient delta's seq is
 * never reused after a crash; `lastSeq` stays the last seq an event carries. Transient deltas are only published.
 * The Runtime-wide stream (`publishRuntime`) has its own per-process sequence.
 *
 * Deliberately not here: deciding what a transition holds (`transitions`) and launching or ending run fibers
 * (`runs`). Callers hold the Worker's lock.
 */
import { type Errors, RuntimeEvent, type Worker, WorkerStore } from "@yoi/domain"
import { Clock, Effect } from "effect"
import * as RuntimeMetrics from "../RuntimeMetrics.ts"
import type { RuntimeContext, WorkerEntry } from "./live.ts"
import type { Transition } from "./transitions.ts"

/** Seqs reserved in the record at a time: one record write per this many events of a long run. */
const seqBlock = 1024

const withSeq = (event: RuntimeEvent.WorkerEventInput, seq: number) => ({ ...event, seq }) as RuntimeEvent.WorkerEvent

/**
 * Appends `transition` to the Worker's log, uninterruptibly; returns the status it moved from and to. The record
 * is written when the transition changed it, or always for a new Worker (`created`).
 */
export const append = (
  ctx: RuntimeContext,
  entry: WorkerEntry,
  transition: Transition,
  created = false
): Effect.Effect<{ readonly from: Worker.WorkerStatus; readonly to: Worker.WorkerStatus }, Errors.StoreFailure> =>
  Effect.suspend(() => {
    const previous = entry.record
    const from = previous.status
    const { events, transcript } = transition
    let record: WorkerStore.WorkerRecord | undefined = created || transition.record !== previous
      ? transition.record
      : undefined
    if (events.length === 0 && transcript.length === 0 && record === undefined) {
      return Effect.succeed({ from, to: from })
    }
    const first = entry.nextSeq
    const last = first + events.length - 1
    const numbered = events.map((event, i) => withSeq(event, first + i))
    if (events.length > 0 && last > (record ?? previous).seqReserved) {
      record = new WorkerStore.WorkerRecord({ ...(record ?? previous), seqReserved: last + seqBlock })
    }
    const durable = numbered.filter((event) => !RuntimeEvent.isTransient(event))
    const persist = durable.length === 0 && transcript.length === 0 && record === undefined
      ? Effect.void
      : timed(ctx, ctx.store.commit(entry.workerId, { transcript, events: durable, record }))
    return persist.pipe(
      Effect.andThen(Effect.sync(() => {
        if (events.length > 0) {
          entry.lastSeq = last
          entry.nextSeq = last + 1
        }
        entry.transcriptCount += transcript.length
        if (record !== undefined) {
          const queued = record.queue.length - (created ? 0 : previous.queue.length)
          if (queued !== 0) RuntimeMetrics.queuedInputs.modifyUnsafe(queued, ctx.metrics)
          entry.record = record
        }
      })),
      Effect.andThen(Effect.forEach(numbered, (event) => ctx.bus.publish(entry.workerId, event), { discard: true })),
      Effect.map(() => ({ from, to: entry.record.status }))
    )
  }).pipe(Effect.uninterruptible)

/** A store commit, its duration recorded in `storeCommitSeconds`. */
const timed = <A, E>(ctx: RuntimeContext, commit: Effect.Effect<A, E>) =>
  Clock.clockWith((clock) => {
    const start = clock.monotonicTimeNanosUnsafe()
    return Effect.map(commit, (a) => {
      RuntimeMetrics.storeCommitSeconds.modifyUnsafe(
        Number(clock.monotonicTimeNanosUnsafe() - start) / 1e9,
        ctx.metrics
      )
      return a
    })
  })

/** Publishes a Runtime-wide event with the next Runtime seq. */
export const publishRuntime = (ctx: RuntimeContext, event: RuntimeEvent.RuntimeEventInput) =>
  ctx.bus.publishRuntime({ ...event, seq: ++ctx.runtimeSeq } as RuntimeEvent.RuntimeEvent)

/** The Runtime-wide `worker_status` event, when a status moved. */
export const announceStatus = (
  ctx: RuntimeContext,
  entry: WorkerEntry,
  moved: { readonly from: Worker.WorkerStatus; readonly to: Worker.WorkerStatus },
  at: number
) =>
  moved.from === moved.to
    ? Effect.void
    : publishRuntime(ctx, { _tag: "worker_status", at, workerId: entry.workerId, from: moved.from, to: moved.to })
