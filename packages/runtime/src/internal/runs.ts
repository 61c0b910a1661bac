/**
 * Runs: the fiber of a run in flight, and how a committed transition moves run fibers. `commit` appends a
 * transition (`workerLog`), then the run it ends leaves its entry and the run it starts is launched; the run fiber
 * streams the Worker's execution binding (binding it first when it has none live, `bindings.ensure`), applies each
 * chunk of engine events under the Worker's lock, classifies how the run ended (finished, or failed: engine, binding,
 * store, defect) and ends it with the next queued input in one commit. A lost binding ends its run here too (`lose`,
 * called by the binding's watcher).
 *
 * Cancel is fiber interruption: the canceller holds the lock while it interrupts (`interrupt`) and then commits the
 * run's end itself, so no event of a cancelled run can follow it. The run counters and the active-runs gauge are
 * updated here, where runs start and end (a run is active from its start's commit to its end's commit, as the
 * Worker's status says).
 *
 * Deliberately not here: what a transition holds (`transitions`) and how it is written (`workerLog`).
 */
import { Errors, type LlmEngine, Worker } from "@yoi/domain"
import { Clock, Effect, Fiber, FiberMap, Stream } from "effect"
import * as Profiles from "../Profiles.ts"
import * as RuntimeMetrics from "../RuntimeMetrics.ts"
import * as Bindings from "./bindings.ts"
import { type Bound, modelOf, providerOf, type RunState, type RuntimeContext, type WorkerEntry } from "./live.ts"
import * as Transitions from "./transitions.ts"
import * as WorkerLog from "./workerLog.ts"

/**
 * Writes `transition` as one commit, then moves the live runs with it: the run it ends leaves its entry, the run it
 * starts is launched. Callers hold the Worker's lock; `created` for a new Worker's first commit.
 */
export const apply = (ctx: RuntimeContext, entry: WorkerEntry, transition: Transitions.Transition, created = false) =>
  Effect.gen(function*() {
    const moved = yield* WorkerLog.append(ctx, entry, transition, created)
    const ends = transition.ends
    if (ends !== undefined) {
      countEnd(ctx, ends.outcome)
      if (entry.run?.runId === ends.runId) {
        entry.run = undefined
        RuntimeMetrics.activeRuns.modifyUnsafe(-1, ctx.metrics)
      }
    }
    if (transition.starts !== undefined) yield* launch(ctx, entry, transition.starts, transition.at)
    return moved
  })

/** `apply`, then the Runtime-wide `worker_status` event when the status moved. */
export const commit = (ctx: RuntimeContext, entry: WorkerEntry, transition: Transitions.Transition) =>
  Effect.tap(apply(ctx, entry, transition), (moved) => WorkerLog.announceStatus(ctx, entry, moved, transition.at))

const countEnd = (ctx: RuntimeContext, outcome: Transitions.Outcome["_tag"]) => {
  const counter = outcome === "finished"
    ? RuntimeMetrics.runsFinished
    : outcome === "cancelled"
    ? RuntimeMetrics.runsCancelled
    : RuntimeMetrics.runsFailed
  counter.modifyUnsafe(1, ctx.metrics)
}

/**
 * When the Runtime's scope closes: what it still counts in the gauges (inputs left queued for the next start, runs
 * in flight that its scope interrupted) leaves them, so a Runtime built again in the process counts from zero.
 */
export const releaseGauges = (ctx: RuntimeContext) => {
  for (const entry of ctx.workers.values()) {
    const queued = entry.record.queue.length
    if (queued > 0) RuntimeMetrics.queuedInputs.modifyUnsafe(-queued, ctx.metrics)
    if (entry.run !== undefined) {
      entry.run = undefined
      RuntimeMetrics.activeRuns.modifyUnsafe(-1, ctx.metrics)
    }
  }
}

/** Interrupts the fiber of the Worker's run in flight, if any; returns the run (the caller holds the lock). */
export const interrupt = (entry: WorkerEntry): Effect.Effect<RunState | undefined> =>
  Effect.suspend(() => {
    const run = entry.run
    if (run === undefined) return Effect.succeed(undefined)
    return run.fiber === undefined ? Effect.succeed(run) : Effect.as(Fiber.interrupt(run.fiber), run)
  })

/** The run fiber of a committed start (caller holds the lock). */
const launch = (ctx: RuntimeContext, entry: WorkerEntry, start: Transitions.Start, at: number) =>
  Effect.gen(function*() {
    const run: RunState = {
      runId: start.runId,
      inputId: start.inputId,
      startedAt: at,
      text: "",
      reasoning: "",
      usage: Worker.UsageFigures.zero,
      finishReason: undefined,
      fiber: undefined
    }
    entry.run = run
    RuntimeMetrics.runsStarted.modifyUnsafe(1, ctx.metrics)
    RuntimeMetrics.activeRuns.modifyUnsafe(1, ctx.metrics)
    run.fiber = yield* FiberMap.run(
      ctx.runs,
      start.runId,
      Effect.interruptible(execute(ctx, entry, run, start.text, start.userSeq))
    )
  })

/** How a run's stream ended, as the outcome its end records. */
const classify = <R>(
  stream: Effect.Effect<void, Errors.EngineFailure | Errors.StoreFailure | Bindings.BindFailed, R>
) =>
  stream.pipe(
    Effect.as<Transitions.Outcome>({ _tag: "finished" }),
    Effect.catchTag("EngineFailure", (failure) =>
      Effect.succeed<Transitions.Outcome>({
        _tag: "failed",
        reason: "engine_failure",
        code: failure.code,
        message: failure.message
      })),
    Effect.catchTag("BindFailed", ({ failure }) =>
      Effect.succeed<Transitions.Outcome>({
        _tag: "failed",
        reason: "execution_unavailable",
        code: failure.code,
        message: failure.message
      })),
    Effect.catchTag("StoreFailure", (failure) =>
      Effect.succeed<Transitions.Outcome>({
        _tag: "failed",
        reason: "store_failure",
        code: "store_failure",
        message: failure.message
      })),
    // A bug must not leave the Worker running forever: the run fails and the defect is logged.
    Effect.catchDefect((defect) =>
      Effect.map(Effect.logError("run failed with a defect", defect), (): Transitions.Outcome => ({
        _tag: "failed",
        reason: "internal_error",
        code: "internal_error",
        message: "the run failed unexpectedly"
      }))
    )
  )

/**
 * The run fiber: bind if the Worker has no live binding, stream the binding, apply its events under the lock, and
 * end the run under the lock — unless its binding was lost meanwhile: then the watcher ends it (`lose`).
 */
const execute = (
  ctx: RuntimeContext,
  entry: WorkerEntry,
  run: RunState,
  text: string,
  userSeq: number
): Effect.Effect<void> => {
  let bound: Bound | undefined
  return classify(Effect.gen(function*() {
    const profile = Profiles.find(ctx.config.catalog, entry.record.profileName)
    // A named profile the configuration no longer has: the run fails, typed, rather than run on another prompt.
    if (profile === undefined) {
      return yield* new Errors.EngineFailure({
        provider: providerOf(ctx, entry.record),
        code: "profile_unavailable",
        message: `the profile "${entry.record.profileName.slice(0, 64)}" is not configured in this runtime`
      })
    }
    bound = yield* Bindings.ensure(ctx, entry, profile, lose(ctx))
    const history = yield* ctx.store.readTranscript(entry.workerId, {
      before: userSeq,
      limit: ctx.config.limits.historyEntries
    })
    yield* bound.binding.run({
      workerId: entry.workerId,
      runId: run.runId,
      profile,
      model: modelOf(ctx, entry.record),
      history: history.entries,
      input: text
    }).pipe(Stream.runForEachArray((chunk) => entry.lock.withPermit(applyEngineEvents(ctx, entry, run, chunk))))
  })).pipe(
    // Ending takes the lock; once it holds it, nothing may interrupt the write.
    Effect.flatMap((outcome) =>
      entry.lock.withPermit(Effect.uninterruptible(
        Effect.suspend(() =>
          entry.run === run && bound?.lost === undefined ? Effect.asVoid(endRun(ctx, entry, run, outcome)) : Effect.void
        )
      ))
    ),
    Effect.catchTag(
      "StoreFailure",
      (failure) => Effect.logError("a run's end could not be recorded", failure.operation, failure.message)
    ),
    Effect.catchDefect((defect) => Effect.logError("a run's end failed with a defect", defect))
  )
}

/**
 * A lost binding (`bindings.OnLost`, under the Worker's lock): its run in flight is interrupted and ends
 * `execution_lost` as the Worker fails, in one commit.
 */
export const lose = (ctx: RuntimeContext): Bindings.OnLost => (entry, lost) =>
  Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    const run = yield* interrupt(entry)
    yield* commit(ctx, entry, Transitions.lose(entry, at, run, lost))
  })

/** One chunk of engine events, appended (caller holds the lock); nothing once the run was cancelled. */
const applyEngineEvents = (
  ctx: RuntimeContext,
  entry: WorkerEntry,
  run: RunState,
  chunk: ReadonlyArray<LlmEngine.EngineEvent>
) =>
  Effect.suspend(() => {
    if (entry.run !== run) return Effect.void
    return Effect.flatMap(Clock.currentTimeMillis, (at) => {
      const { progress, transition } = Transitions.applyEngineEvents(entry, at, run, chunk)
      // the run's text moves before the append: a run failing on this append ends with the text it received
      run.text = progress.text
      run.reasoning = progress.reasoning
      run.usage = progress.usage
      run.finishReason = progress.finishReason
      return Effect.asVoid(WorkerLog.append(ctx, entry, transition))
    })
  }).pipe(Effect.uninterruptible)

/** Ends the current run and starts the next queued input, in one commit (caller holds the lock). */
const endRun = (ctx: RuntimeContext, entry: WorkerEntry, run: RunState, outcome: Transitions.Outcome) =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (at) => commit(ctx, entry, Transitions.endRun(entry, at, run, outcome, ctx.stopping))
  )
