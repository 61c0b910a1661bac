/**
 * Watch streams: a snapshot, then replay, then live events. `watchWorker` takes the snapshot and subscribes under
 * the Worker's lock, so no event falls between them; durable events older than the bus's buffer (or, after a
 * restart, older than anything it saw) come from the store. `gap` tells a watcher that deltas after its cursor
 * could not be replayed; one that falls behind its buffer is closed with `SubscriberLagged { lastDeliveredSeq }`.
 *
 * The watchers gauge counts open streams; delivered text/reasoning deltas are counted once per delivered chunk.
 *
 * Deliberately not here: numbering and publishing (`workerLog`), validation beyond the cursor (the Runtime).
 */
import { Errors, type RuntimeEvent } from "@yoi/domain"
import { Effect, Option, Stream } from "effect"
import * as RuntimeMetrics from "../RuntimeMetrics.ts"
import type { RuntimeContext, WorkerEntry } from "./live.ts"
import { counts } from "./views.ts"

/** Events read from the store per page while replaying. */
const storePage = 256

/** Counts the stream as a watcher for as long as it is open (its scope). */
const watching = (ctx: RuntimeContext) =>
  Effect.acquireRelease(
    Effect.sync(() => RuntimeMetrics.watchers.modifyUnsafe(1, ctx.metrics)),
    () => Effect.sync(() => RuntimeMetrics.watchers.modifyUnsafe(-1, ctx.metrics))
  )

/** Opens a Worker's stream after `after` (in the caller's scope): snapshot, then store, bus replay and live events. */
export const watchWorker = (ctx: RuntimeContext, entry: WorkerEntry, after: number) =>
  Effect.gen(function*() {
    const { snapshot, storeUpTo, subscription } = yield* entry.lock.withPermit(Effect.gen(function*() {
      // Every seq handed out is a valid cursor, including a delta's the last process handed out before a crash.
      if (after >= entry.nextSeq) {
        return yield* new Errors.CursorOutOfRange({ after, lastSeq: entry.lastSeq })
      }
      const subscription = yield* ctx.bus.subscribe(entry.workerId, { after, capacity: ctx.config.limits.watchBuffer })
      // What the bus no longer (or, after a restart, never) buffered comes from the store: durable events only.
      // A watcher missed transient deltas (`gap`) when the bus evicted events past its cursor, or when durable
      // events of the last process follow it (their deltas were never stored).
      const firstBuffered = subscription.replay[0]?.seq ?? entry.nextSeq
      const storeUpTo = firstBuffered - 1
      const run = entry.run
      const snapshot: RuntimeEvent.WorkerSnapshot = {
        _tag: "snapshot",
        workerId: entry.workerId,
        status: entry.record.status,
        lastSeq: entry.lastSeq,
        queueLength: entry.record.queue.length,
        gap: !subscription.complete || after < entry.restoredSeq,
        ...(run !== undefined
          ? {
            run: {
              runId: run.runId,
              inputId: run.inputId,
              startedAt: run.startedAt,
              text: run.text,
              reasoning: run.reasoning
            }
          }
          : {})
      }
      return { snapshot, subscription, storeUpTo }
    }))
    yield* watching(ctx)
    const fromStore: Stream.Stream<RuntimeEvent.WorkerEvent, Errors.StoreFailure> = storeUpTo <= after
      ? Stream.empty
      : Stream.paginate(after, (cursor) =>
        ctx.store.readEvents(entry.workerId, { after: cursor, limit: storePage }).pipe(
          Effect.map((events) => {
            const page = events.filter((event) => event.seq <= storeUpTo)
            const last = page[page.length - 1]
            return [page, page.length === events.length && last !== undefined ? Option.some(last.seq) : Option.none()]
          })
        ))
    let delivered = after
    const track = <E>(stream: Stream.Stream<RuntimeEvent.WorkerEvent, E>) =>
      Stream.mapArray(stream, (chunk) => {
        delivered = chunk[chunk.length - 1]!.seq
        let deltas = 0
        for (let i = 0; i < chunk.length; i++) {
          const tag = chunk[i]!._tag
          if (tag === "text_delta" || tag === "reasoning_delta") deltas++
        }
        if (deltas > 0) RuntimeMetrics.deltasDelivered.modifyUnsafe(deltas, ctx.metrics)
        return chunk
      })
    const events = track(
      Stream.concat(Stream.concat(fromStore, Stream.fromArray(subscription.replay)), subscription.live)
    ).pipe(
      Stream.catchTag(
        "SubscriberLagged",
        () => Stream.fail(new Errors.SubscriberLagged({ lastDeliveredSeq: delivered }))
      )
    )
    return Stream.concat(Stream.succeed<RuntimeEvent.WorkerWatchItem>(snapshot), events)
  })

/** The Runtime-wide stream after `after`: a snapshot of the counts, then lifecycle events. */
export const watchRuntime = (ctx: RuntimeContext, after: number) =>
  Effect.gen(function*() {
    if (after > ctx.runtimeSeq) return yield* new Errors.CursorOutOfRange({ after, lastSeq: ctx.runtimeSeq })
    const subscription = yield* ctx.bus.subscribeRuntime({ after, capacity: ctx.config.limits.watchBuffer })
    yield* watching(ctx)
    const c = counts(ctx)
    const snapshot: RuntimeEvent.RuntimeSnapshot = {
      _tag: "runtime_snapshot",
      lastSeq: ctx.runtimeSeq,
      workers: { idle: c.idle, running: c.running, stopped: c.stopped, failed: c.failed },
      gap: !subscription.complete
    }
    return Stream.concat(
      Stream.fromArray<RuntimeEvent.RuntimeWatchItem>([snapshot, ...subscription.replay]),
      subscription.live
    )
  })
