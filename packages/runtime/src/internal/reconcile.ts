/**
 * Startup: load what the store holds and reconcile what the last process left. Every Worker gets its live entry
 * (numbering resumes past the seqs the last process reserved), its scope is claimed again, and a run left in
 * flight ends `run_failed { runtime_restarted }` with the next queued input started — one commit per Worker
 * (`transitions.closeInterrupted`).
 *
 * A scope another Worker claimed meanwhile is logged, not fatal: the restored Worker keeps running without it.
 *
 * Deliberately not here: what ending a run means (`transitions`) and the run fibers (`runs`).
 */
import { Ids, WorkerStore } from "@yoi/domain"
import { Clock, Effect, Option } from "effect"
import * as RuntimeMetrics from "../RuntimeMetrics.ts"
import { makeEntry, register, type RuntimeContext, type WorkerEntry } from "./live.ts"
import * as Runs from "./runs.ts"
import * as Transitions from "./transitions.ts"

/** Loads the Runtime's record and Workers from the store and reconciles each. */
export const loadAndReconcile = (ctx: RuntimeContext) =>
  Effect.gen(function*() {
    const runtimeId = ctx.config.runtimeId
    const existing = yield* ctx.store.loadRuntime
    if (Option.isNone(existing) || existing.value.runtimeId !== runtimeId) {
      yield* ctx.store.saveRuntime(new WorkerStore.RuntimeRecord({ runtimeId, createdAt: ctx.startedAt }))
    }
    const records = [...(yield* ctx.store.listWorkers)].sort((a, b) => (a.workerId < b.workerId ? -1 : 1))
    for (const record of records) {
      const entry = yield* makeEntry(
        record,
        yield* ctx.store.lastEventSeq(record.workerId),
        yield* ctx.store.transcriptCount(record.workerId)
      )
      register(ctx, entry)
      if (record.queue.length > 0) RuntimeMetrics.queuedInputs.modifyUnsafe(record.queue.length, ctx.metrics)
      yield* reconcile(ctx, entry)
    }
  })

const reconcile = (ctx: RuntimeContext, entry: WorkerEntry) =>
  Effect.gen(function*() {
    const record = entry.record
    if (record.status === "stopped") return
    if (record.scope.length > 0) {
      yield* ctx.allocation.claim(
        new Ids.WorkerRef({ runtimeId: ctx.config.runtimeId, workerId: record.workerId }),
        record.scope
      )
        .pipe(
          Effect.catchTag(
            "ScopeConflict",
            () => Effect.logWarning("a restored worker's scope is now claimed by another worker")
          )
        )
    }
    const transition = Transitions.closeInterrupted(entry, yield* Clock.currentTimeMillis)
    if (transition !== undefined) yield* entry.lock.withPermit(Runs.commit(ctx, entry, transition))
  })
