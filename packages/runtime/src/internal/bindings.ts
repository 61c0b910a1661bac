/**
 * Execution bindings: each Worker's `WorkerExecution` binding in a scope of its own — a child of the Runtime's
 * bindings scope, so closing the Runtime closes every one, after its runs and watchers — the watcher that turns a
 * lost binding into the Worker's failure, and release. Closing a binding's scope runs `stop(grace)` first, then
 * whatever the execution acquired; a bind that fails or is interrupted, or whose use (the create's commit, a
 * restored Worker's record) fails, closes its scope at once, so nothing is left behind.
 *
 * A Worker is bound at `CreateWorker` (before its commit) and, when it has no live binding (restored by a restart,
 * or after a shutdown), by its next run before the run streams (`ensure`, with the record's `BindingRecord` as
 * `restore`); a stop, a loss and a shutdown release it. The watcher marks the binding lost before it takes the lock,
 * so a run whose stream fails because its host died leaves its end to the watcher: it ends `execution_lost`.
 *
 * Deliberately not here: what a loss does to the Worker (`transitions.lose`, committed by `runs`, passed in as
 * `OnLost`) and when the Runtime binds or releases (its commands).
 */
import { type Errors, type LlmEngine, WorkerExecution } from "@yoi/domain"
import { Clock, Data, Effect, Exit, FiberMap, Scope } from "effect"
import { type Bound, providerOf, type RuntimeContext, type WorkerEntry } from "./live.ts"
import * as Transitions from "./transitions.ts"
import * as Validate from "./validate.ts"
import * as WorkerLog from "./workerLog.ts"

/** A run's binding could not be made: the run fails `execution_unavailable` with the execution's code. */
export class BindFailed extends Data.TaggedError("BindFailed")<{ readonly failure: Errors.EngineFailure }> {}

/** Ends the Worker's run in flight and fails the Worker, under its lock, for a lost binding (`runs.lose`). */
export type OnLost = (
  entry: WorkerEntry,
  lost: WorkerExecution.ExecutionLost
) => Effect.Effect<void, Errors.StoreFailure>

/**
 * Binds `target` in a new binding scope and runs `use` with it; when `use` fails or is interrupted the binding's
 * scope is closed. On success the caller owns the binding (it installs it).
 */
export const withBinding = <A, E, R>(
  ctx: RuntimeContext,
  target: WorkerExecution.BindTarget,
  use: (bound: Bound) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | Errors.EngineFailure, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const scope = yield* Scope.fork(ctx.bindings, "sequential")
      const discard = Scope.close(scope, Exit.void)
      const binding = yield* restore(Scope.provide(scope)(ctx.execution.bind(target))).pipe(
        Effect.onError(() => discard)
      )
      // added last, so it runs first when the scope closes: the graceful stop, then what the bind acquired
      yield* Scope.addFinalizer(scope, binding.stop(ctx.config.stopGrace))
      const bound: Bound = { binding, scope, lost: undefined }
      return yield* restore(use(bound)).pipe(Effect.onError(() => discard))
    })
  )

/** A lost binding's report, sanitized again: it becomes the Worker's `lastError`. */
const sanitized = (lost: WorkerExecution.ExecutionLost) =>
  new WorkerExecution.ExecutionLost({
    code: Validate.sanitize(lost.code, "execution_lost").slice(0, 64),
    message: Validate.sanitize(lost.message, "the worker's execution host is gone")
  })

/**
 * Waits for `bound` to be lost; then, under the lock, unless the binding was released meanwhile or the Worker is
 * stopped or failed, `onLost` fails the Worker; then the binding's scope closes (whoever takes the binding out of
 * the entry closes it, even when interrupted).
 */
const watch = (
  entry: WorkerEntry,
  bound: Bound,
  lostSignal: Effect.Effect<WorkerExecution.ExecutionLost>,
  onLost: OnLost
) =>
  Effect.gen(function*() {
    const lost = sanitized(yield* lostSignal)
    bound.lost = lost
    let owned = false
    yield* entry.lock.withPermit(Effect.gen(function*() {
      if (entry.bound !== bound) return
      entry.bound = undefined
      owned = true
      const status = entry.record.status
      if (status === "stopped" || status === "failed") return
      yield* onLost(entry, lost)
    })).pipe(
      Effect.catchTag(
        "StoreFailure",
        (failure) => Effect.logError("a lost binding could not be recorded", failure.operation, failure.message)
      ),
      Effect.ensuring(Effect.suspend(() => owned ? Scope.close(bound.scope, Exit.void) : Effect.void))
    )
  })

/** Makes `bound` the Worker's live binding and starts watching it (the caller holds the lock or owns the entry). */
export const install = (ctx: RuntimeContext, entry: WorkerEntry, bound: Bound, onLost: OnLost) =>
  Effect.suspend(() => {
    entry.bound = bound
    const lost = bound.binding.lost
    // a host that cannot be lost (the default execution) needs no watcher: no fiber per Worker
    if (lost === undefined) return Effect.void
    // interruptible even when installed from an uninterruptible commit: a release interrupts it
    return Effect.asVoid(
      FiberMap.run(ctx.watchers, entry.workerId, Effect.interruptible(watch(entry, bound, lost, onLost)))
    )
  })

/**
 * The binding a run streams on: the live one, or — for a Worker without one — a new binding (restoring the record's
 * `BindingRecord`), whose record is committed with the Worker's before it is installed.
 */
export const ensure = (
  ctx: RuntimeContext,
  entry: WorkerEntry,
  profile: LlmEngine.Profile,
  onLost: OnLost
): Effect.Effect<Bound, BindFailed | Errors.StoreFailure> =>
  Effect.suspend(() => {
    if (entry.bound !== undefined) return Effect.succeed(entry.bound)
    const record = entry.record
    const target = { workerId: entry.workerId, profile, provider: providerOf(ctx, record), restore: record.binding }
    return withBinding(ctx, target, (bound) =>
      entry.lock.withPermit(Effect.gen(function*() {
        const transition = Transitions.recordBinding(entry, yield* Clock.currentTimeMillis, bound.binding.record)
        if (transition !== undefined) yield* WorkerLog.append(ctx, entry, transition)
        yield* install(ctx, entry, bound, onLost)
        return bound
      }))).pipe(
        Effect.catchTag("EngineFailure", (failure) => Effect.fail(new BindFailed({ failure })))
      )
  })

/**
 * Releases the Worker's live binding, if it has one: its watcher stops, then its scope closes (`stop(grace)`, then
 * the execution's own release). Idempotent; callers do not hold the lock (the watcher may be waiting for it).
 */
export const release = (ctx: RuntimeContext, entry: WorkerEntry): Effect.Effect<void> =>
  Effect.suspend(() => {
    const bound = entry.bound
    if (bound === undefined) return Effect.void
    entry.bound = undefined
    return Effect.andThen(FiberMap.remove(ctx.watchers, entry.workerId), Scope.close(bound.scope, Exit.void))
  }).pipe(Effect.uninterruptible)
