/**
 * The Runtime: the environment that runs many Workers, with one implementation of Worker semantics whether it is
 * embedded in a backend or served over HTTP.
 *
 * It owns Worker lifecycle, single-flight input (`whenBusy`: reject | enqueue | interrupt), runs, cancellation,
 * per-Worker event sequences, watch streams (snapshot → replay → live), the transcript projection and usage.
 * It validates every request itself, so bad input is a typed `InvalidRequest` on every transport.
 *
 * **Details**
 * - One run per Worker at most. A run is a fiber; cancel is fiber interruption. Every Worker transition happens
 *   under that Worker's lock; the canceller interrupts the run fiber while holding the lock and then writes
 *   `run_cancelled` itself, so no event of a cancelled run can follow it.
 * - One command is one commit: every change a command makes to a Worker (the record, its events, its transcript
 *   entries and its idempotency key) is built as one `Draft` and written by one `WorkerStore.commit`, so after a
 *   crash it happened whole or not at all — ending a run and starting the next queued one, accepting an input
 *   and remembering its key, creating a Worker with its initial input, stopping a Worker mid-run.
 * - Durable events are committed to the `WorkerStore` before they are published; transient deltas are only
 *   published. `seqReserved` is persisted ahead of the seqs handed out, so seqs are never reused after a crash;
 *   after a restart numbering resumes past it, while `lastSeq` stays the last seq an event carries.
 * - A queued input enters the transcript when its run starts, so the transcript reads in conversation order.
 *
 * Deliberately not here: transports, authentication, adapters (picked by `RuntimePresets`), process signals,
 * configuration defaults (`RuntimeConfig`).
 */
import {
  Errors,
  EventBus,
  Ids,
  LiveAllocation,
  type LlmEngine,
  LlmProviders,
  Requests,
  RuntimeEvent,
  RuntimeInfo,
  Transcript,
  Worker,
  WorkerStore
} from "@yoi/domain"
import { Clock, Context, type Duration, Effect, Fiber, FiberMap, Layer, Option, Semaphore, Stream } from "effect"
import { makeIdGenerator } from "./internal/ids.ts"
import * as Validate from "./internal/validate.ts"
import * as Profiles from "./Profiles.ts"
import * as RuntimeConfig from "./RuntimeConfig.ts"

type CommandError = Errors.InvalidRequest | Errors.WorkerNotFound | Errors.RuntimeStopping | Errors.StoreFailure

/** @category services */
export class Runtime extends Context.Service<Runtime, {
  readonly runtimeId: Ids.RuntimeId
  readonly getRuntime: Effect.Effect<RuntimeInfo.RuntimeSummary, Errors.StoreFailure>
  watchRuntime(
    request: Requests.WatchRuntimeRequest
  ): Stream.Stream<
    RuntimeEvent.RuntimeWatchItem,
    Errors.InvalidRequest | Errors.CursorOutOfRange | Errors.SubscriberLagged
  >
  listWorkers(
    request: Requests.ListWorkersRequest
  ): Effect.Effect<Worker.WorkerPage, Errors.InvalidRequest | Errors.StoreFailure>
  getWorker(request: { readonly workerId: string }): Effect.Effect<
    Worker.WorkerDetail,
    Errors.InvalidRequest | Errors.WorkerNotFound
  >
  createWorker(
    request: Requests.CreateWorkerRequest
  ): Effect.Effect<
    Requests.CreatedWorker,
    | Errors.InvalidRequest
    | Errors.InvalidProfile
    | Errors.ScopeConflict
    | Errors.RuntimeStopping
    | Errors.StoreFailure
  >
  stopWorker(request: Requests.ReasonPayload): Effect.Effect<Requests.StopWorkerResult, CommandError>
  sendInput(
    request: Requests.SendInputRequest
  ): Effect.Effect<
    Requests.InputAccepted,
    CommandError | Errors.WorkerBusy | Errors.WorkerStopped | Errors.QueueFull
  >
  cancelRun(request: Requests.ReasonPayload): Effect.Effect<Requests.CancelRunResult, CommandError>
  cancelQueued(request: Requests.CancelQueuedRequest): Effect.Effect<Requests.CancelQueuedResult, CommandError>
  getTranscript(
    request: Requests.GetTranscriptRequest
  ): Effect.Effect<Transcript.TranscriptPage, Errors.InvalidRequest | Errors.WorkerNotFound | Errors.StoreFailure>
  watchWorker(
    request: Requests.WatchWorkerRequest
  ): Stream.Stream<
    RuntimeEvent.WorkerWatchItem,
    | Errors.InvalidRequest
    | Errors.WorkerNotFound
    | Errors.CursorOutOfRange
    | Errors.SubscriberLagged
    | Errors.StoreFailure
  >
  getUsage(
    request: Requests.GetUsageRequest
  ): Effect.Effect<RuntimeInfo.UsageReport, Errors.InvalidRequest | Errors.WorkerNotFound>
  /**
   * Graceful shutdown: from now on refuse new input and Workers (`RuntimeStopping`), let runs in flight finish for
   * up to `grace`, then cancel the rest (`run_cancelled { reason: "runtime_stopping" }`). Queued inputs stay queued
   * in the store and start after the next start. Idempotent.
   */
  shutdown(grace: Duration.Input): Effect.Effect<void>
}>()("@yoi/runtime/Runtime") {}

// ---------------------------------------------------------------------------------------------------------------

interface RunState {
  readonly runId: string
  readonly inputId: string
  readonly startedAt: number
  text: string
  reasoning: string
  usage: Worker.UsageFigures
  /** Why the provider stopped, when it said. */
  finishReason: LlmEngine.FinishReason | undefined
  fiber: Fiber.Fiber<void, never> | undefined
}

interface Entry {
  readonly workerId: Ids.WorkerId
  readonly lock: Semaphore.Semaphore
  record: WorkerStore.WorkerRecord
  /** The last seq an event of this Worker carries (0 when none). */
  lastSeq: number
  /**
   * The seq the next event gets: `lastSeq + 1` while the process lives; after a restart, past every seq the last
   * process may have handed out to transient events (`seqReserved`). Cursors below it are valid.
   */
  nextSeq: number
  /** The last durable seq the previous process left: watchers from before it may have missed its deltas. */
  restoredSeq: number
  transcriptCount: number
  run: RunState | undefined
  /** The summary last built from this entry, reused while its record is unchanged (views are immutable). */
  summaryView?: { readonly record: WorkerStore.WorkerRecord; readonly view: Worker.WorkerSummary } | undefined
}

type Outcome =
  | { readonly _tag: "finished" }
  | { readonly _tag: "cancelled"; readonly reason: string }
  | { readonly _tag: "failed"; readonly reason: string; readonly code: string; readonly message: string }

type EventInput = RuntimeEvent.WorkerEventInput
const withSeq = (event: EventInput, seq: number) => ({ ...event, seq }) as RuntimeEvent.WorkerEvent

/**
 * One command's whole change to a Worker, built under its lock and written by one commit (`apply`). `record` is
 * the Worker's record as the change leaves it; `closes` / `starts` say which run fiber the commit ends and which
 * it launches.
 */
interface Draft {
  readonly at: number
  readonly events: Array<EventInput>
  readonly transcript: Array<Transcript.TranscriptEntry>
  record: WorkerStore.WorkerRecord
  closes: RunState | undefined
  starts:
    | { readonly inputId: string; readonly runId: string; readonly text: string; readonly userSeq: number }
    | undefined
}

const seqBlock = 1024
const recentInputsKept = 64
const initialInputKey = "\u0000initial"

const sanitizeReason = (reason: string | undefined, fallback: string): string => {
  if (reason === undefined) return fallback
  const cleaned = reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").trim().slice(0, 200)
  return cleaned.length === 0 ? fallback : cleaned
}

const workerCapabilities = (record: WorkerStore.WorkerRecord, profile: LlmEngine.Profile | undefined) =>
  new Worker.WorkerCapabilities({
    canAcceptInput: record.status === "idle" || record.status === "running",
    canCancel: record.status === "running",
    canStop: record.status !== "stopped",
    tools: profile?.tools ?? []
  })

/**
 * The keys a retry is answered from: the last `recentInputsKept` `SendInput` keys, and the initial input's for as
 * long as the Worker lives (a `CreateWorker` retry answers with it).
 */
const rememberInput = (record: WorkerStore.WorkerRecord, key: string | undefined, accepted: Requests.InputAccepted) => {
  if (key === undefined) return record.recentInputs
  const initial = record.recentInputs.filter((r) => r.key === initialInputKey)
  const others = record.recentInputs.filter((r) => r.key !== initialInputKey)
  const remembered = new WorkerStore.RecentInput({ key, accepted })
  return key === initialInputKey
    ? [remembered, ...others]
    : [...initial, ...[...others, remembered].slice(-recentInputsKept)]
}

// ---------------------------------------------------------------------------------------------------------------
// Drafts: pure steps of a transition, applied by one commit

const draft = (entry: Entry, at: number): Draft => ({
  at,
  events: [],
  transcript: [],
  record: entry.record,
  closes: undefined,
  starts: undefined
})

const patch = (d: Draft, fields: Partial<WorkerStore.WorkerRecord>) => {
  d.record = new WorkerStore.WorkerRecord({ ...d.record, ...fields, lastActivityAt: d.at })
}

/** The seq the draft's `index`-th event will get when applied (the caller holds the lock). */
const seqOf = (entry: Entry, index: number) => entry.nextSeq + index

/** The seq the draft's next transcript entry gets. */
const nextEntrySeq = (entry: Entry, d: Draft) => entry.transcriptCount + d.transcript.length + 1

/**
 * Adds starting `input` to a draft whose Worker is free (no run, or its run closed in this draft): the user's
 * transcript entry, `input_accepted` (for an input that was not queued), `run_started` and the status change.
 * Returns the index of its first event in the draft.
 */
const startInput = (
  entry: Entry,
  d: Draft,
  input: { readonly inputId: string; readonly runId: string; readonly text: string },
  queued: boolean
): number => {
  const at = d.at
  const index = d.events.length
  const userSeq = nextEntrySeq(entry, d)
  if (!queued) {
    d.events.push({ _tag: "input_accepted", at, runId: input.runId, inputId: input.inputId, text: input.text })
  }
  d.events.push({ _tag: "run_started", at, runId: input.runId, inputId: input.inputId })
  if (d.record.status !== "running") {
    d.events.push({ _tag: "status_changed", at, from: d.record.status, to: "running" })
  }
  d.transcript.push(
    new Transcript.TranscriptEntry({ seq: userSeq, runId: input.runId, kind: "user", text: input.text, at })
  )
  patch(d, {
    status: "running",
    currentRun: new Worker.CurrentRun({
      runId: input.runId as Ids.RunId,
      inputId: input.inputId as Ids.InputId,
      startedAt: at
    }),
    queue: d.record.queue.filter((q) => q.inputId !== input.inputId)
  })
  d.starts = { ...input, userSeq }
  return index
}

/**
 * Starts a new input in `d` (see `startInput`) and remembers its answer under `key` in the same record, so a retry
 * is answered from the very commit that accepted it.
 */
const acceptStart = (
  entry: Entry,
  d: Draft,
  input: { readonly inputId: string; readonly runId: string; readonly text: string },
  key: string | undefined
): Requests.InputAccepted => {
  const index = startInput(entry, d, input, false)
  const accepted = new Requests.InputAccepted({
    inputId: input.inputId,
    runId: input.runId,
    status: "started",
    transcriptSeq: d.starts!.userSeq,
    eventSeq: seqOf(entry, index)
  })
  patch(d, { recentInputs: rememberInput(d.record, key, accepted) })
  return accepted
}

/** Sets the draft's status, with its `status_changed` event when it moves. */
const settle = (d: Draft, to: Worker.WorkerStatus) => {
  if (d.record.status === to) return
  d.events.push({ _tag: "status_changed", at: d.at, from: d.record.status, to })
  patch(d, { status: to })
}

/**
 * Adds the end of `run` to a draft (the run fiber is finished or interrupted): its transcript entries (reasoning,
 * the assistant's text — kept and marked interrupted unless it finished —, the error of a failed run), `usage`
 * and the outcome's event, and the record's usage and last error. The status is the caller's next step.
 */
const closeRun = (entry: Entry, d: Draft, run: RunState, outcome: Outcome) => {
  const at = d.at
  const interrupted = outcome._tag !== "finished"
  if (run.reasoning.length > 0) {
    d.transcript.push(
      new Transcript.TranscriptEntry({
        seq: nextEntrySeq(entry, d),
        runId: run.runId,
        kind: "reasoning",
        text: run.reasoning,
        at,
        ...(interrupted ? { interrupted } : {})
      })
    )
  }
  if (run.text.length > 0 || outcome._tag === "finished") {
    d.transcript.push(
      new Transcript.TranscriptEntry({
        seq: nextEntrySeq(entry, d),
        runId: run.runId,
        kind: "assistant",
        text: run.text,
        at,
        ...(interrupted ? { interrupted } : {})
      })
    )
  }
  if (outcome._tag === "failed") {
    d.transcript.push(
      new Transcript.TranscriptEntry({
        seq: nextEntrySeq(entry, d),
        runId: run.runId,
        kind: "error",
        text: `${outcome.code}: ${outcome.message}`,
        at
      })
    )
  }
  const totals = Worker.addUsage(d.record.usage, run.usage, outcome._tag)
  if (outcome._tag === "finished") {
    if (run.reasoning.length > 0) d.events.push({ _tag: "reasoning_done", at, runId: run.runId, text: run.reasoning })
    d.events.push({ _tag: "text_done", at, runId: run.runId, text: run.text })
  }
  d.events.push({ _tag: "usage", at, runId: run.runId, run: run.usage, total: totals })
  if (outcome._tag === "finished") {
    d.events.push({
      _tag: "run_finished",
      at,
      runId: run.runId,
      ...(run.finishReason !== undefined ? { finishReason: run.finishReason } : {})
    })
  } else if (outcome._tag === "cancelled") {
    d.events.push({ _tag: "run_cancelled", at, runId: run.runId, reason: outcome.reason })
  } else {
    d.events.push({
      _tag: "run_failed",
      at,
      runId: run.runId,
      reason: outcome.reason,
      code: outcome.code,
      message: outcome.message
    })
  }
  patch(d, {
    currentRun: undefined,
    usage: totals,
    lastError: outcome._tag === "failed"
      ? new Worker.LastError({ code: outcome.code, message: outcome.message, at })
      : d.record.lastError
  })
  d.closes = run
}

/**
 * Builds a Runtime over the four ports.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: RuntimeConfig.Options) {
  const store = yield* WorkerStore.WorkerStore
  const allocation = yield* LiveAllocation.LiveAllocation
  const providers = yield* LlmProviders.LlmProviders
  const bus = yield* EventBus.EventBus

  const config = yield* RuntimeConfig.resolve(options)
  const { capabilities, catalog, limits, runtimeId } = config
  const nextId = yield* makeIdGenerator
  const runs = yield* FiberMap.make<string, void, never>()
  const createLock = yield* Semaphore.make(1)
  const workers = new Map<string, Entry>()
  /** Worker ids in creation (= id) order, for paging. */
  const order: Array<Ids.WorkerId> = []
  const createKeys = new Map<string, Ids.WorkerId>()
  let stopping = false
  let runtimeSeq = 0
  const startedAt = yield* Clock.currentTimeMillis

  // ---- events -------------------------------------------------------------------------------------------------

  const publishRuntime = (event: RuntimeEvent.RuntimeEventInput) =>
    bus.publishRuntime({ ...event, seq: ++runtimeSeq } as RuntimeEvent.RuntimeEvent)

  /**
   * Assigns seqs, persists (transcript, durable events, record) in one commit and publishes, uninterruptibly.
   * Callers hold the Worker's lock.
   */
  const emit = (
    entry: Entry,
    events: ReadonlyArray<EventInput>,
    change: {
      readonly transcript?: ReadonlyArray<Transcript.TranscriptEntry>
      readonly record?: WorkerStore.WorkerRecord
    } = {}
  ): Effect.Effect<ReadonlyArray<RuntimeEvent.WorkerEvent>, Errors.StoreFailure> =>
    Effect.suspend(() => {
      const first = entry.nextSeq
      const numbered = events.map((event, i) => withSeq(event, first + i))
      const last = first + numbered.length - 1
      let record = change.record
      if (numbered.length > 0 && last > (record ?? entry.record).seqReserved) {
        record = new WorkerStore.WorkerRecord({ ...(record ?? entry.record), seqReserved: last + seqBlock })
      }
      const durable = numbered.filter((event) => !RuntimeEvent.isTransient(event))
      const transcript = change.transcript ?? []
      const persist = durable.length === 0 && transcript.length === 0 && record === undefined
        ? Effect.void
        : store.commit(entry.workerId, { transcript, events: durable, record })
      return persist.pipe(
        Effect.andThen(Effect.sync(() => {
          if (numbered.length > 0) {
            entry.lastSeq = last
            entry.nextSeq = last + 1
          }
          entry.transcriptCount += transcript.length
          if (record !== undefined) entry.record = record
        })),
        Effect.andThen(Effect.forEach(numbered, (event) => bus.publish(entry.workerId, event), { discard: true })),
        Effect.as(numbered)
      )
    }).pipe(Effect.uninterruptible)

  /**
   * Writes a draft as one commit, then moves the live state with it: the run it closes leaves, the run it starts
   * is launched, and the Runtime's watchers hear of a status change. Callers hold the Worker's lock.
   */
  const apply = (entry: Entry, d: Draft) =>
    Effect.gen(function*() {
      const from = entry.record.status
      const emitted = yield* emit(entry, d.events, { transcript: d.transcript, record: d.record })
      if (d.closes !== undefined && entry.run === d.closes) entry.run = undefined
      if (d.starts !== undefined) yield* launch(entry, d.starts, d.at)
      return { emitted, from, to: entry.record.status }
    })

  /** `apply`, then the Runtime-wide `worker_status` event when the status moved. */
  const commit = (entry: Entry, d: Draft) =>
    Effect.tap(apply(entry, d), ({ from, to }) => announceStatus(entry, from, to, d.at))

  const announceStatus = (entry: Entry, from: Worker.WorkerStatus, to: Worker.WorkerStatus, at: number) =>
    from === to ? Effect.void : publishRuntime({ _tag: "worker_status", at, workerId: entry.workerId, from, to })

  // ---- views ----------------------------------------------------------------------------------------------------

  const summaryFields = (entry: Entry) => {
    const record = entry.record
    return {
      ref: new Ids.WorkerRef({ runtimeId, workerId: record.workerId }),
      displayName: record.displayName,
      displayRef: Ids.displayRef(record.displayName, runtimeId),
      status: record.status,
      profile: record.profile,
      profileName: record.profileName,
      createdAt: record.createdAt,
      lastActivityAt: record.lastActivityAt,
      currentRun: record.currentRun,
      queueLength: record.queue.length,
      usage: record.usage,
      lastError: record.lastError,
      provider: providerOf(record),
      model: record.model ?? providers.get(providerOf(record))?.info.model ?? "unknown",
      binding: "connected" as const,
      capabilities: workerCapabilities(record, Profiles.find(catalog, record.profileName))
    }
  }

  // Building a summary runs its Schema constructors (structure checks on every nested field), which made a
  // ListWorkers page cost ~12× more than the lookups themselves; a Worker listed again before it changes gets the
  // same immutable object. Details are not kept: one per Worker after CreateWorker cost more memory than it saved.
  const toSummary = (entry: Entry) => {
    const cached = entry.summaryView
    if (cached !== undefined && cached.record === entry.record) return cached.view
    const view = new Worker.WorkerSummary(summaryFields(entry))
    entry.summaryView = { record: entry.record, view }
    return view
  }
  const toDetail = (entry: Entry) =>
    new Worker.WorkerDetail({
      ...summaryFields(entry),
      queue: entry.record.queue,
      scope: entry.record.scope,
      configBundle: entry.record.configBundle,
      lastSeq: entry.lastSeq,
      transcriptCount: entry.transcriptCount
    })

  const counts = () => {
    const c = { idle: 0, running: 0, stopped: 0, failed: 0 }
    for (const entry of workers.values()) c[entry.record.status]++
    return new RuntimeInfo.WorkerCounts({ ...c, total: workers.size })
  }

  // ---- lookups and validation -----------------------------------------------------------------------------------

  /** The provider a Worker runs on: the one recorded with it (older records: the default). */
  const providerOf = (record: WorkerStore.WorkerRecord) => record.provider ?? providers.defaultProvider

  const lookup = (raw: unknown) =>
    Effect.flatMap(Ids.parse(Ids.WorkerId, "workerId", raw), (workerId) => {
      const entry = workers.get(workerId)
      return entry === undefined ? Effect.fail(new Errors.WorkerNotFound({ workerId })) : Effect.succeed(entry)
    })

  const ensureRunning = Effect.suspend(() => stopping ? Effect.fail(new Errors.RuntimeStopping()) : Effect.void)

  // ---- runs -----------------------------------------------------------------------------------------------------

  /** After a run closed in `d`: start the next queued input, or go idle. While shutting down, queues wait. */
  const continueOrIdle = (entry: Entry, d: Draft) => {
    const next = stopping ? undefined : d.record.queue[0]
    if (next !== undefined) startInput(entry, d, next, true)
    else settle(d, "idle")
  }

  /** The run fiber of a committed start (caller holds the lock). */
  const launch = (
    entry: Entry,
    start: NonNullable<Draft["starts"]>,
    at: number
  ) =>
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
      run.fiber = yield* FiberMap.run(
        runs,
        start.runId,
        Effect.interruptible(execute(entry, run, start.text, start.userSeq))
      )
    })

  /** The run fiber: stream the engine, emit under the lock, and end the run under the lock. */
  const execute = (entry: Entry, run: RunState, text: string, userSeq: number): Effect.Effect<void> =>
    Effect.gen(function*() {
      const profile = Profiles.find(catalog, entry.record.profileName)
      // A named profile the configuration no longer has: the run fails, typed, rather than run on another prompt.
      if (profile === undefined) {
        return yield* new Errors.EngineFailure({
          provider: providerOf(entry.record),
          code: "profile_unavailable",
          message: `the profile "${entry.record.profileName.slice(0, 64)}" is not configured in this runtime`
        })
      }
      const provider = providerOf(entry.record)
      const engine = providers.get(provider)
      // A Worker stays on its provider: one the configuration no longer has fails its runs, typed.
      if (engine === undefined) {
        return yield* new Errors.EngineFailure({
          provider,
          code: "provider_unavailable",
          message: `the provider "${provider.slice(0, 64)}" is not configured in this runtime`
        })
      }
      const history = yield* store.readTranscript(entry.workerId, { before: userSeq, limit: limits.historyEntries })
      yield* engine.stream({
        workerId: entry.workerId,
        runId: run.runId,
        profile,
        model: entry.record.model ?? engine.info.model,
        history: history.entries,
        input: text
      })
        .pipe(Stream.runForEachArray((chunk) => entry.lock.withPermit(emitEngineEvents(entry, run, chunk))))
    }).pipe(
      Effect.as<Outcome>({ _tag: "finished" }),
      Effect.catchTag("EngineFailure", (failure) =>
        Effect.succeed<Outcome>({
          _tag: "failed",
          reason: "engine_failure",
          code: failure.code,
          message: failure.message
        })),
      Effect.catchTag("StoreFailure", (failure) =>
        Effect.succeed<Outcome>({
          _tag: "failed",
          reason: "store_failure",
          code: "store_failure",
          message: failure.message
        })),
      // A bug must not leave the Worker running forever: the run fails and the defect is logged.
      Effect.catchDefect((defect) =>
        Effect.map(Effect.logError("run failed with a defect", defect), (): Outcome => ({
          _tag: "failed",
          reason: "internal_error",
          code: "internal_error",
          message: "the run failed unexpectedly"
        }))
      ),
      // Ending takes the lock; once it holds it, nothing may interrupt the write.
      Effect.flatMap((outcome) =>
        entry.lock.withPermit(Effect.uninterruptible(
          Effect.suspend(() => entry.run === run ? finishRun(entry, run, outcome) : Effect.void)
        ))
      ),
      Effect.catchTag(
        "StoreFailure",
        (failure) => Effect.logError("a run's end could not be recorded", failure.operation, failure.message)
      ),
      Effect.catchDefect((defect) => Effect.logError("a run's end failed with a defect", defect))
    )

  const emitEngineEvents = (entry: Entry, run: RunState, chunk: ReadonlyArray<LlmEngine.EngineEvent>) =>
    Effect.gen(function*() {
      if (entry.run !== run) return
      const at = yield* Clock.currentTimeMillis
      const events: Array<EventInput> = []
      const transcript: Array<Transcript.TranscriptEntry> = []
      for (const event of chunk) {
        switch (event._tag) {
          case "text_delta":
            run.text += event.delta
            events.push({ _tag: "text_delta", at, runId: run.runId, delta: event.delta })
            break
          case "reasoning_delta":
            run.reasoning += event.delta
            events.push({ _tag: "reasoning_delta", at, runId: run.runId, delta: event.delta })
            break
          case "tool_call":
            events.push({ ...event, at, runId: run.runId })
            transcript.push(
              new Transcript.TranscriptEntry({
                seq: entry.transcriptCount + transcript.length + 1,
                runId: run.runId,
                kind: "tool_call",
                text: `${event.name} ${event.input}`,
                at
              })
            )
            break
          case "tool_result":
            events.push({ ...event, at, runId: run.runId })
            transcript.push(
              new Transcript.TranscriptEntry({
                seq: entry.transcriptCount + transcript.length + 1,
                runId: run.runId,
                kind: "tool_result",
                text: event.output,
                at
              })
            )
            break
          case "usage":
            run.usage = new Worker.UsageFigures({
              inputTokens: run.usage.inputTokens + event.usage.inputTokens,
              outputTokens: run.usage.outputTokens + event.usage.outputTokens,
              cacheReadTokens: run.usage.cacheReadTokens + event.usage.cacheReadTokens,
              reasoningTokens: run.usage.reasoningTokens + event.usage.reasoningTokens
            })
            break
          case "retry":
            events.push({ ...event, at, runId: run.runId })
            break
          case "finish":
            run.finishReason = event.reason
            break
        }
      }
      if (events.length > 0 || transcript.length > 0) yield* emit(entry, events, { transcript })
    }).pipe(Effect.uninterruptible)

  /** Ends the current run and starts the next queued input, in one commit (caller holds the lock). */
  const finishRun = (entry: Entry, run: RunState, outcome: Outcome) =>
    Effect.gen(function*() {
      const d = draft(entry, yield* Clock.currentTimeMillis)
      closeRun(entry, d, run, outcome)
      continueOrIdle(entry, d)
      yield* commit(entry, d)
    })

  /** Interrupts the current run's fiber, then closes the run in `d` as cancelled (caller holds the lock). */
  const cancelInto = (entry: Entry, d: Draft, reason: string) =>
    Effect.gen(function*() {
      const run = entry.run
      if (run === undefined) return undefined
      if (run.fiber !== undefined) yield* Fiber.interrupt(run.fiber)
      closeRun(entry, d, run, { _tag: "cancelled", reason })
      return run.runId
    })

  // ---- commands -------------------------------------------------------------------------------------------------

  const acceptInput = (
    entry: Entry,
    text: string,
    whenBusy: Worker.WhenBusy,
    key: string | undefined
  ): Effect.Effect<
    Requests.InputAccepted,
    Errors.RuntimeStopping | Errors.StoreFailure | Errors.WorkerBusy | Errors.WorkerStopped | Errors.QueueFull
  > =>
    Effect.gen(function*() {
      yield* ensureRunning
      const status = entry.record.status
      if (status === "stopped" || status === "failed") {
        return yield* new Errors.WorkerStopped({ workerId: entry.workerId, status })
      }
      if (key !== undefined) {
        const seen = entry.record.recentInputs.find((r) => r.key === key)
        if (seen !== undefined) return seen.accepted
      }
      const run = entry.run
      if (run !== undefined && whenBusy === "reject") {
        return yield* new Errors.WorkerBusy({ workerId: entry.workerId, runId: run.runId, startedAt: run.startedAt })
      }
      const inputId = yield* nextId("i_")
      const runId = yield* nextId("r_")
      const d = draft(entry, yield* Clock.currentTimeMillis)
      if (run !== undefined && whenBusy === "enqueue") {
        if (entry.record.queue.length >= limits.maxQueuedInputs) {
          return yield* new Errors.QueueFull({ workerId: entry.workerId, capacity: limits.maxQueuedInputs })
        }
        const queued = new Worker.QueuedInput({
          inputId: inputId as Ids.InputId,
          runId: runId as Ids.RunId,
          text,
          queuedAt: d.at
        })
        const accepted = new Requests.InputAccepted({ inputId, runId, status: "queued", eventSeq: seqOf(entry, 0) })
        d.events.push({
          _tag: "input_queued",
          at: d.at,
          runId,
          inputId,
          text,
          position: entry.record.queue.length + 1
        })
        patch(d, { queue: [...entry.record.queue, queued], recentInputs: rememberInput(d.record, key, accepted) })
        yield* commit(entry, d)
        return accepted
      }
      // interrupt: the cancelled run's end and this input's start are one commit
      if (run !== undefined) yield* cancelInto(entry, d, "interrupted by new input")
      const accepted = acceptStart(entry, d, { inputId, runId, text }, key)
      yield* commit(entry, d)
      return accepted
    })

  const sendInput = (request: Requests.SendInputRequest) =>
    Effect.gen(function*() {
      const entry = yield* lookup(request.workerId)
      const text = yield* Validate.text(request.input, "input", limits.maxInputChars)
      const whenBusy = request.whenBusy === undefined
        ? "reject" as const
        : yield* Ids.parse(Worker.WhenBusy, "whenBusy", request.whenBusy)
      const key = yield* Validate.optionalKey(request.idempotencyKey, "idempotencyKey")
      return yield* entry.lock.withPermit(acceptInput(entry, text, whenBusy, key))
    })

  const createWorker = (request: Requests.CreateWorkerRequest) =>
    Effect.gen(function*() {
      yield* ensureRunning
      const selector = yield* Validate.profile(request.profile)
      const displayName = request.displayName === undefined
        ? undefined
        : yield* Ids.parse(Ids.DisplayName, "displayName", request.displayName)
      const configBundle = request.configBundle === undefined ? undefined : {
        id: yield* Ids.parse(Validate.BundleField, "configBundle.id", request.configBundle.id),
        digest: yield* Ids.parse(Validate.BundleField, "configBundle.digest", request.configBundle.digest)
      }
      const requested = request.requestedCapabilities ?? []
      for (let i = 0; i < requested.length; i++) {
        if (!capabilities.tools.includes(requested[i]!)) {
          return yield* new Errors.InvalidRequest({
            field: `requestedCapabilities[${i}]`,
            message: "is not offered by this runtime"
          })
        }
      }
      const scope = yield* Validate.scope(request.scope, limits.maxScopeRules)
      const initialText = request.initialInput === undefined
        ? undefined
        : yield* Validate.text(request.initialInput, "initialInput", limits.maxInputChars)
      const key = yield* Validate.optionalKey(request.idempotencyKey, "idempotencyKey")
      const profile = yield* Profiles.resolve(selector, catalog)
      const provider = profile.provider ?? providers.defaultProvider
      const engine = providers.get(provider)
      if (engine === undefined) {
        return yield* new Errors.InvalidProfile({
          message: `the profile "${profile.name.slice(0, 64)}" runs on the provider "${
            provider.slice(0, 64)
          }", which this runtime does not have`
        })
      }
      const model = profile.model ?? engine.info.model

      return yield* createLock.withPermit(Effect.gen(function*() {
        if (key !== undefined) {
          const existing = createKeys.get(key)
          const entry = existing === undefined ? undefined : workers.get(existing)
          if (entry !== undefined) {
            const initial = entry.record.recentInputs.find((r) => r.key === initialInputKey)
            return new Requests.CreatedWorker({
              worker: toDetail(entry),
              ...(initial !== undefined ? { input: initial.accepted } : {})
            })
          }
        }
        const workerId = (yield* nextId("w_")) as Ids.WorkerId
        const ref = new Ids.WorkerRef({ runtimeId, workerId })
        if (scope.length > 0) yield* allocation.claim(ref, scope)
        const at = yield* Clock.currentTimeMillis
        const record = new WorkerStore.WorkerRecord({
          workerId,
          displayName: displayName ?? profile.name,
          profile: selector,
          profileName: profile.name,
          provider,
          model,
          configBundle,
          requestedCapabilities: requested,
          scope,
          createdAt: at,
          lastActivityAt: at,
          status: "idle",
          currentRun: undefined,
          queue: [],
          usage: Worker.UsageTotals.zero,
          lastError: undefined,
          seqReserved: 0,
          createIdempotencyKey: key,
          recentInputs: []
        })
        const entry: Entry = {
          workerId,
          lock: yield* Semaphore.make(1),
          record,
          lastSeq: 0,
          nextSeq: 1,
          restoredSeq: 0,
          transcriptCount: 0,
          run: undefined
        }
        // The Worker and its initial input (with the key that makes a retry answer both) are one commit.
        const d = draft(entry, at)
        let input: Requests.InputAccepted | undefined
        if (initialText !== undefined) {
          const inputId = yield* nextId("i_")
          const runId = yield* nextId("r_")
          input = acceptStart(entry, d, { inputId, runId, text: initialText }, initialInputKey)
        }
        const { from, to } = yield* entry.lock.withPermit(apply(entry, d)).pipe(
          Effect.tapError(() => scope.length > 0 ? Effect.ignore(allocation.release(ref)) : Effect.void)
        )
        workers.set(workerId, entry)
        order.push(workerId)
        if (key !== undefined) createKeys.set(key, workerId)
        yield* publishRuntime({ _tag: "worker_created", at, workerId, displayName: record.displayName })
        yield* announceStatus(entry, from, to, at)
        return new Requests.CreatedWorker({ worker: toDetail(entry), ...(input !== undefined ? { input } : {}) })
      }))
    })

  const stopWorker = (request: Requests.ReasonPayload) =>
    Effect.gen(function*() {
      const entry = yield* lookup(request.workerId)
      const reason = sanitizeReason(request.reason, "stopped")
      return yield* entry.lock.withPermit(Effect.gen(function*() {
        if (entry.record.status === "stopped") {
          return new Requests.StopWorkerResult({ outcome: "already_stopped", droppedQueued: 0 })
        }
        // The cancelled run, the dropped queue and the stop are one commit.
        const d = draft(entry, yield* Clock.currentTimeMillis)
        const cancelledRunId = yield* cancelInto(entry, d, "worker_stopped")
        const dropped = d.record.queue
        for (const q of dropped) {
          d.events.push({
            _tag: "input_cancelled",
            at: d.at,
            runId: q.runId,
            inputId: q.inputId,
            reason: "worker_stopped"
          })
        }
        d.events.push({ _tag: "worker_stopped", at: d.at, reason })
        patch(d, { queue: [] })
        settle(d, "stopped")
        yield* commit(entry, d)
        if (entry.record.scope.length > 0) {
          yield* allocation.release(new Ids.WorkerRef({ runtimeId, workerId: entry.workerId }))
        }
        return new Requests.StopWorkerResult({
          outcome: "stopped",
          droppedQueued: dropped.length,
          ...(cancelledRunId !== undefined ? { cancelledRunId } : {})
        })
      }))
    })

  const cancelRun = (request: Requests.ReasonPayload) =>
    Effect.gen(function*() {
      const entry = yield* lookup(request.workerId)
      const reason = sanitizeReason(request.reason, "cancelled")
      return yield* entry.lock.withPermit(Effect.gen(function*() {
        if (entry.run === undefined) return new Requests.CancelRunResult({ outcome: "not_running" })
        const d = draft(entry, yield* Clock.currentTimeMillis)
        const runId = (yield* cancelInto(entry, d, reason))!
        continueOrIdle(entry, d)
        yield* commit(entry, d)
        return new Requests.CancelRunResult({ outcome: "cancelled", runId })
      }))
    })

  const cancelQueued = (request: Requests.CancelQueuedRequest) =>
    Effect.gen(function*() {
      const entry = yield* lookup(request.workerId)
      const inputId = yield* Ids.parse(Ids.InputId, "inputId", request.inputId)
      return yield* entry.lock.withPermit(Effect.gen(function*() {
        const queued = entry.record.queue.find((q) => q.inputId === inputId)
        if (queued === undefined) return new Requests.CancelQueuedResult({ outcome: "not_queued" })
        const d = draft(entry, yield* Clock.currentTimeMillis)
        d.events.push({ _tag: "input_cancelled", at: d.at, runId: queued.runId, inputId, reason: "cancelled" })
        patch(d, { queue: d.record.queue.filter((q) => q !== queued) })
        yield* commit(entry, d)
        return new Requests.CancelQueuedResult({ outcome: "cancelled" })
      }))
    })

  // ---- reads ----------------------------------------------------------------------------------------------------

  const listWorkers = (request: Requests.ListWorkersRequest) =>
    Effect.gen(function*() {
      const status = request.status === undefined
        ? undefined
        : yield* Ids.parse(Worker.WorkerStatus, "status", request.status)
      const limit = yield* Validate.limit(
        request.limit,
        "limit",
        RuntimeConfig.defaultPageSize,
        limits.maxTranscriptPage
      )
      const cursor = request.cursor === undefined ? undefined : yield* Ids.parse(Ids.WorkerId, "cursor", request.cursor)
      let i = cursor === undefined ? 0 : upperBound(order, cursor)
      const page: Array<Worker.WorkerSummary> = []
      for (; i < order.length && page.length < limit; i++) {
        const entry = workers.get(order[i]!)!
        if (status === undefined || entry.record.status === status) page.push(toSummary(entry))
      }
      const nextCursor = i < order.length && page.length === limit ? order[i - 1] : undefined
      return new Worker.WorkerPage({ workers: page, ...(nextCursor !== undefined ? { nextCursor } : {}) })
    })

  const getTranscript = (request: Requests.GetTranscriptRequest) =>
    Effect.gen(function*() {
      const entry = yield* lookup(request.workerId)
      const limit = yield* Validate.limit(
        request.limit,
        "limit",
        RuntimeConfig.defaultPageSize,
        limits.maxTranscriptPage
      )
      const before = yield* Validate.int(request.before, "before")
      const after = yield* Validate.int(request.after, "after")
      return yield* store.readTranscript(entry.workerId, { before, after, limit })
    })

  const watchWorker = (request: Requests.WatchWorkerRequest) =>
    Effect.gen(function*() {
      const entry = yield* lookup(request.workerId)
      const after = (yield* Validate.int(request.after, "after")) ?? 0
      const { snapshot, subscription, storeUpTo } = yield* entry.lock.withPermit(Effect.gen(function*() {
        // Every seq handed out is a valid cursor, including a delta's the last process handed out before a crash.
        if (after >= entry.nextSeq) {
          return yield* new Errors.CursorOutOfRange({ after, lastSeq: entry.lastSeq })
        }
        const subscription = yield* bus.subscribe(entry.workerId, { after, capacity: limits.watchBuffer })
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
      const fromStore: Stream.Stream<RuntimeEvent.WorkerEvent, Errors.StoreFailure> = storeUpTo <= after
        ? Stream.empty
        : Stream.paginate(after, (cursor) =>
          store.readEvents(entry.workerId, { after: cursor, limit: 256 }).pipe(
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
          return chunk
        })
      const events = track(
        Stream.concat(Stream.concat(fromStore, Stream.fromArray(subscription.replay)), subscription.live)
      ).pipe(
        Stream.catchTag("SubscriberLagged", () =>
          Stream.fail(new Errors.SubscriberLagged({ lastDeliveredSeq: delivered })))
      )
      return Stream.concat(Stream.succeed<RuntimeEvent.WorkerWatchItem>(snapshot), events)
    }).pipe(Stream.unwrap)

  const watchRuntime = (request: Requests.WatchRuntimeRequest) =>
    Effect.gen(function*() {
      const after = (yield* Validate.int(request.after, "after")) ?? 0
      if (after > runtimeSeq) return yield* new Errors.CursorOutOfRange({ after, lastSeq: runtimeSeq })
      const subscription = yield* bus.subscribeRuntime({ after, capacity: limits.watchBuffer })
      const c = counts()
      const snapshot: RuntimeEvent.RuntimeSnapshot = {
        _tag: "runtime_snapshot",
        lastSeq: runtimeSeq,
        workers: { idle: c.idle, running: c.running, stopped: c.stopped, failed: c.failed },
        gap: !subscription.complete
      }
      return Stream.concat(
        Stream.fromArray<RuntimeEvent.RuntimeWatchItem>([snapshot, ...subscription.replay]),
        subscription.live
      )
    }).pipe(Stream.unwrap)

  const getUsage = (request: Requests.GetUsageRequest) =>
    Effect.gen(function*() {
      if (request.workerId !== undefined) {
        const entry = yield* lookup(request.workerId)
        return new RuntimeInfo.UsageReport({ workerId: entry.workerId, usage: entry.record.usage })
      }
      let total = Worker.UsageTotals.zero
      for (const entry of workers.values()) total = Worker.sumUsage(total, entry.record.usage)
      return new RuntimeInfo.UsageReport({ usage: total, counts: counts() })
    })

  const defaultEngine = providers.get(providers.defaultProvider)!
  const engineLabel = defaultEngine.info.scripted
    ? "scripted (no model)"
    : `${defaultEngine.info.provider}/${defaultEngine.info.model}`
  const getRuntime = Effect.gen(function*() {
    const diagnostics = yield* store.diagnostics
    return new RuntimeInfo.RuntimeSummary({
      runtimeId,
      displayName: config.displayName,
      implementation: config.implementation,
      status: stopping ? "stopping" : "ready",
      startedAt,
      engine: engineLabel,
      providers: providers.summaries,
      capabilities,
      limits: RuntimeConfig.runtimeLimits(config),
      counts: counts(),
      diagnostics
    })
  })

  // ---- startup: load and reconcile --------------------------------------------------------------------------------

  const existing = yield* store.loadRuntime
  if (Option.isNone(existing) || existing.value.runtimeId !== runtimeId) {
    yield* store.saveRuntime(new WorkerStore.RuntimeRecord({ runtimeId, createdAt: startedAt }))
  }
  const records = [...(yield* store.listWorkers)].sort((a, b) => (a.workerId < b.workerId ? -1 : 1))
  for (const record of records) {
    const lastDurable = yield* store.lastEventSeq(record.workerId)
    const entry: Entry = {
      workerId: record.workerId,
      lock: yield* Semaphore.make(1),
      record,
      lastSeq: lastDurable,
      nextSeq: Math.max(record.seqReserved, lastDurable) + 1,
      restoredSeq: lastDurable,
      transcriptCount: yield* store.transcriptCount(record.workerId),
      run: undefined
    }
    workers.set(record.workerId, entry)
    order.push(record.workerId)
    if (record.createIdempotencyKey !== undefined) createKeys.set(record.createIdempotencyKey, record.workerId)
    yield* reconcile(entry)
  }

  /**
   * A run the last process left in flight ends `run_failed { runtime_restarted }` like any failed run (an `error`
   * transcript entry, a failure in usage; its deltas were never stored), and the next queued input starts — one
   * commit. A record that says `running` without a run (written by an older version) just becomes idle.
   */
  function reconcile(entry: Entry) {
    return Effect.gen(function*() {
      const record = entry.record
      if (record.status === "stopped") return
      if (record.scope.length > 0) {
        yield* allocation.claim(new Ids.WorkerRef({ runtimeId, workerId: record.workerId }), record.scope).pipe(
          Effect.catchTag(
            "ScopeConflict",
            () => Effect.logWarning("a restored worker's scope is now claimed by another worker")
          )
        )
      }
      const d = draft(entry, yield* Clock.currentTimeMillis)
      const current = record.currentRun
      if (current !== undefined) {
        closeRun(entry, d, {
          runId: current.runId,
          inputId: current.inputId,
          startedAt: current.startedAt,
          text: "",
          reasoning: "",
          usage: Worker.UsageFigures.zero,
          finishReason: undefined,
          fiber: undefined
        }, {
          _tag: "failed",
          reason: "runtime_restarted",
          code: "runtime_restarted",
          message: "the runtime stopped while this run was in flight"
        })
      }
      if (current !== undefined || record.status === "running" || record.queue.length > 0) continueOrIdle(entry, d)
      if (d.events.length > 0 || d.record !== record) yield* entry.lock.withPermit(commit(entry, d))
    })
  }

  return Runtime.of({
    runtimeId,
    getRuntime,
    watchRuntime,
    listWorkers,
    getWorker: (request) => Effect.map(lookup(request.workerId), toDetail),
    createWorker,
    stopWorker,
    sendInput,
    cancelRun,
    cancelQueued,
    getTranscript,
    watchWorker,
    getUsage,
    shutdown: (grace) =>
      Effect.gen(function*() {
        stopping = true
        yield* Effect.timeoutOption(FiberMap.awaitEmpty(runs), grace)
        yield* Effect.forEach([...workers.values()], (entry) =>
          entry.run === undefined
            ? Effect.void
            : entry.lock.withPermit(Effect.gen(function*() {
              const d = draft(entry, yield* Clock.currentTimeMillis)
              if ((yield* cancelInto(entry, d, "runtime_stopping")) === undefined) return
              settle(d, "idle")
              yield* commit(entry, d)
            })).pipe(
              Effect.catchTag(
                "StoreFailure",
                (failure) =>
                  Effect.logError("a cancelled run could not be recorded", failure.operation, failure.message)
              )
            ), { discard: true })
      })
  })
})

/** Index of the first id greater than `id` in a sorted array. */
const upperBound = (sorted: ReadonlyArray<string>, id: string): number => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! <= id) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The Runtime over whatever port adapters are provided.
 * @category layers
 */
export const layerNoDeps = (
  options: RuntimeConfig.Options
): Layer.Layer<
  Runtime,
  Errors.StoreFailure,
  WorkerStore.WorkerStore | LiveAllocation.LiveAllocation | LlmProviders.LlmProviders | EventBus.EventBus
> => Layer.effect(Runtime, make(options))
