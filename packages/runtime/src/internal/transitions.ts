/**
 * Worker transitions as pure decisions: given where a Worker stands (its record, the seq its next event gets, its
 * transcript length) and the time, each returns the `Transition` a command makes — its events without seqs, its
 * transcript entries, the record it leaves, and which run it ends or starts — for `workerLog.append` to write as
 * one commit. No clock, no store, no fiber: `test/transitions.test.ts` checks every decision with plain values.
 *
 * Each projection is built once here: a transcript entry (`entry`), a status change (`settle`), the start of an
 * input (`start`) and the end of a run (`close`).
 *
 * Deliberately not here: validation and preconditions a command checks first (the Worker is not stopped, the queue
 * has room, the idempotency key is new), ids, and the run fiber itself (`runs`).
 */
import {
  type Ids,
  type LlmEngine,
  Requests,
  type RuntimeEvent,
  Transcript,
  Worker,
  type WorkerExecution,
  WorkerStore
} from "@yoi/domain"

/** Where a Worker stands before a transition (a live entry satisfies it). */
export interface WorkerState {
  readonly record: WorkerStore.WorkerRecord
  /** The seq the transition's first event gets. */
  readonly nextSeq: number
  readonly transcriptCount: number
}

/** What a run streamed so far (a live run satisfies it). */
export interface RunProgress {
  readonly runId: string
  readonly inputId: string
  readonly text: string
  readonly reasoning: string
  readonly usage: Worker.UsageFigures
  readonly finishReason: LlmEngine.FinishReason | undefined
}

/** How a run ended. */
export type Outcome =
  | { readonly _tag: "finished" }
  | { readonly _tag: "cancelled"; readonly reason: string }
  | { readonly _tag: "failed"; readonly reason: string; readonly code: string; readonly message: string }

/** An input whose run a committed transition starts. */
export interface Start {
  readonly inputId: string
  readonly runId: string
  readonly text: string
  /** The transcript seq of the user's entry: the engine's history ends before it. */
  readonly userSeq: number
}

/** A new input: its ids and text. */
export interface NewInput {
  readonly inputId: string
  readonly runId: string
  readonly text: string
}

/** One command's whole change to a Worker. `record` is the input's record when nothing in it changed. */
export interface Transition {
  readonly at: number
  readonly events: ReadonlyArray<RuntimeEvent.WorkerEventInput>
  readonly transcript: ReadonlyArray<Transcript.TranscriptEntry>
  readonly record: WorkerStore.WorkerRecord
  readonly ends: { readonly runId: string; readonly outcome: Outcome["_tag"] } | undefined
  readonly starts: Start | undefined
}

/** The key under which a Worker's initial input is remembered, so a `CreateWorker` retry answers with it. */
export const initialInputKey = "\u0000initial"

/** `SendInput` keys remembered per Worker (the initial input's is kept for as long as the Worker lives). */
export const recentInputsKept = 64

// ---------------------------------------------------------------------------------------------------------------
// The builder a decision fills; it never escapes a decision.

interface Draft {
  readonly state: WorkerState
  readonly at: number
  readonly events: Array<RuntimeEvent.WorkerEventInput>
  readonly transcript: Array<Transcript.TranscriptEntry>
  record: WorkerStore.WorkerRecord
  ends: Transition["ends"]
  starts: Start | undefined
}

const draft = (state: WorkerState, at: number): Draft => ({
  state,
  at,
  events: [],
  transcript: [],
  record: state.record,
  ends: undefined,
  starts: undefined
})

const done = (d: Draft): Transition => ({
  at: d.at,
  events: d.events,
  transcript: d.transcript,
  record: d.record,
  ends: d.ends,
  starts: d.starts
})

const patch = (d: Draft, fields: Partial<WorkerStore.WorkerRecord>) => {
  d.record = new WorkerStore.WorkerRecord({ ...d.record, ...fields, lastActivityAt: d.at })
}

/** Appends a transcript entry with the next transcript seq. */
const entry = (
  d: Draft,
  runId: string,
  kind: Transcript.TranscriptKind,
  text: string,
  interrupted = false
): number => {
  const seq = d.state.transcriptCount + d.transcript.length + 1
  d.transcript.push(
    new Transcript.TranscriptEntry({ seq, runId, kind, text, at: d.at, ...(interrupted ? { interrupted } : {}) })
  )
  return seq
}

/** Sets the status, with its `status_changed` event when it moves. */
const settle = (d: Draft, to: Worker.WorkerStatus) => {
  if (d.record.status === to) return
  d.events.push({ _tag: "status_changed", at: d.at, from: d.record.status, to })
  patch(d, { status: to })
}

/** The seq the draft's next event will get when appended. */
const nextEventSeq = (d: Draft) => d.state.nextSeq + d.events.length

/**
 * The keys a retry is answered from: the last `recentInputsKept` `SendInput` keys, and the initial input's for as
 * long as the Worker lives.
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

/**
 * Starts `input` on a Worker that is free in `d` (no run, or its run closed in `d`): the user's transcript entry,
 * `input_accepted` (for an input that was not queued), `run_started` and the status. Returns the seq of its first
 * event.
 */
const start = (d: Draft, input: NewInput, queued: boolean): number => {
  const first = nextEventSeq(d)
  const userSeq = entry(d, input.runId, "user", input.text)
  if (!queued) {
    d.events.push({ _tag: "input_accepted", at: d.at, runId: input.runId, inputId: input.inputId, text: input.text })
  }
  d.events.push({ _tag: "run_started", at: d.at, runId: input.runId, inputId: input.inputId })
  settle(d, "running")
  patch(d, {
    currentRun: new Worker.CurrentRun({
      runId: input.runId as Ids.RunId,
      inputId: input.inputId as Ids.InputId,
      startedAt: d.at
    }),
    queue: d.record.queue.filter((q) => q.inputId !== input.inputId)
  })
  d.starts = { inputId: input.inputId, runId: input.runId, text: input.text, userSeq }
  return first
}

/** Starts a new input and remembers its answer under `key` in the same record. */
const acceptStart = (d: Draft, input: NewInput, key: string | undefined): Requests.InputAccepted => {
  const eventSeq = start(d, input, false)
  const accepted = new Requests.InputAccepted({
    inputId: input.inputId,
    runId: input.runId,
    status: "started",
    transcriptSeq: d.starts!.userSeq,
    eventSeq
  })
  patch(d, { recentInputs: rememberInput(d.record, key, accepted) })
  return accepted
}

/**
 * Ends `run` in `d`: its transcript entries (reasoning, the assistant's text — kept and marked interrupted unless
 * it finished —, the error of a failed run), `usage` and the outcome's event, and the record's usage and last
 * error. The status is the caller's next step.
 */
const close = (d: Draft, run: RunProgress, outcome: Outcome) => {
  const at = d.at
  const interrupted = outcome._tag !== "finished"
  if (run.reasoning.length > 0) entry(d, run.runId, "reasoning", run.reasoning, interrupted)
  if (run.text.length > 0 || outcome._tag === "finished") entry(d, run.runId, "assistant", run.text, interrupted)
  if (outcome._tag === "failed") entry(d, run.runId, "error", `${outcome.code}: ${outcome.message}`)
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
  d.ends = { runId: run.runId, outcome: outcome._tag }
}

/** After a run closed in `d`: the next queued input starts, or the Worker goes idle. While stopping, queues wait. */
const continueOrIdle = (d: Draft, stopping: boolean) => {
  const next = stopping ? undefined : d.record.queue[0]
  if (next !== undefined) start(d, next, true)
  else settle(d, "idle")
}

// ---------------------------------------------------------------------------------------------------------------
// Decisions

/** `CreateWorker`: a new Worker's record, with its initial input started when there is one. */
export const createWorker = (
  record: WorkerStore.WorkerRecord,
  initial: NewInput | undefined
): { readonly transition: Transition; readonly accepted: Requests.InputAccepted | undefined } => {
  const d = draft({ record, nextSeq: 1, transcriptCount: 0 }, record.createdAt)
  const accepted = initial === undefined ? undefined : acceptStart(d, initial, initialInputKey)
  return { transition: done(d), accepted }
}

/** `SendInput` on a busy Worker with `whenBusy: "enqueue"` (the queue has room). */
export const queueInput = (
  state: WorkerState,
  at: number,
  input: NewInput,
  key: string | undefined
): { readonly transition: Transition; readonly accepted: Requests.InputAccepted } => {
  const d = draft(state, at)
  const accepted = new Requests.InputAccepted({
    inputId: input.inputId,
    runId: input.runId,
    status: "queued",
    eventSeq: nextEventSeq(d)
  })
  d.events.push({
    _tag: "input_queued",
    at,
    runId: input.runId,
    inputId: input.inputId,
    text: input.text,
    position: state.record.queue.length + 1
  })
  const queued = new Worker.QueuedInput({
    inputId: input.inputId as Ids.InputId,
    runId: input.runId as Ids.RunId,
    text: input.text,
    queuedAt: at
  })
  patch(d, { queue: [...state.record.queue, queued], recentInputs: rememberInput(d.record, key, accepted) })
  return { transition: done(d), accepted }
}

/**
 * `SendInput` that starts a run: on an idle Worker, or (`whenBusy: "interrupt"`) after cancelling `interrupted` —
 * the cancelled run's end and this input's start are one transition.
 */
export const startInput = (
  state: WorkerState,
  at: number,
  input: NewInput,
  key: string | undefined,
  interrupted: RunProgress | undefined
): { readonly transition: Transition; readonly accepted: Requests.InputAccepted } => {
  const d = draft(state, at)
  if (interrupted !== undefined) close(d, interrupted, { _tag: "cancelled", reason: "interrupted by new input" })
  const accepted = acceptStart(d, input, key)
  return { transition: done(d), accepted }
}

/** An engine's chunk of events applied to `run`: the Worker events, transcript entries and the run's progress. */
export const applyEngineEvents = (
  state: WorkerState,
  at: number,
  run: RunProgress,
  chunk: ReadonlyArray<LlmEngine.EngineEvent>
): { readonly transition: Transition; readonly progress: RunProgress } => {
  const d = draft(state, at)
  let { finishReason, reasoning, text, usage } = run
  for (const event of chunk) {
    switch (event._tag) {
      case "text_delta":
        text += event.delta
        d.events.push({ _tag: "text_delta", at, runId: run.runId, delta: event.delta })
        break
      case "reasoning_delta":
        reasoning += event.delta
        d.events.push({ _tag: "reasoning_delta", at, runId: run.runId, delta: event.delta })
        break
      case "tool_call":
        d.events.push({ ...event, at, runId: run.runId })
        entry(d, run.runId, "tool_call", `${event.name} ${event.input}`)
        break
      case "tool_result":
        d.events.push({ ...event, at, runId: run.runId })
        entry(d, run.runId, "tool_result", event.output)
        break
      case "usage":
        usage = new Worker.UsageFigures({
          inputTokens: usage.inputTokens + event.usage.inputTokens,
          outputTokens: usage.outputTokens + event.usage.outputTokens,
          cacheReadTokens: usage.cacheReadTokens + event.usage.cacheReadTokens,
          reasoningTokens: usage.reasoningTokens + event.usage.reasoningTokens
        })
        break
      case "retry":
        d.events.push({ ...event, at, runId: run.runId })
        break
      case "finish":
        finishReason = event.reason
        break
    }
  }
  return {
    transition: done(d),
    progress: { runId: run.runId, inputId: run.inputId, text, reasoning, usage, finishReason }
  }
}

/** The end of `run` (finished, failed or cancelled), then the next queued input or idle. */
export const endRun = (
  state: WorkerState,
  at: number,
  run: RunProgress,
  outcome: Outcome,
  stopping: boolean
): Transition => {
  const d = draft(state, at)
  close(d, run, outcome)
  continueOrIdle(d, stopping)
  return done(d)
}

/** `CancelQueued` of a queued input. */
export const cancelQueued = (state: WorkerState, at: number, queued: Worker.QueuedInput): Transition => {
  const d = draft(state, at)
  d.events.push({ _tag: "input_cancelled", at, runId: queued.runId, inputId: queued.inputId, reason: "cancelled" })
  patch(d, { queue: d.record.queue.filter((q) => q !== queued) })
  return done(d)
}

/** `StopWorker`: the run in flight cancelled, the queue dropped and the Worker stopped, as one transition. */
export const stop = (
  state: WorkerState,
  at: number,
  run: RunProgress | undefined,
  reason: string
): Transition => {
  const d = draft(state, at)
  if (run !== undefined) close(d, run, { _tag: "cancelled", reason: "worker_stopped" })
  for (const q of d.record.queue) {
    d.events.push({ _tag: "input_cancelled", at, runId: q.runId, inputId: q.inputId, reason: "worker_stopped" })
  }
  d.events.push({ _tag: "worker_stopped", at, reason })
  patch(d, { queue: [] })
  settle(d, "stopped")
  return done(d)
}

/**
 * The Worker's execution host is gone: the run in flight ends `run_failed { execution_lost }` with its partial text
 * (as any failed run), queued inputs are cancelled (`execution_lost`: nothing will run them), and the Worker becomes
 * `failed` with the loss as its last error — one transition.
 */
export const lose = (
  state: WorkerState,
  at: number,
  run: RunProgress | undefined,
  lost: WorkerExecution.ExecutionLost
): Transition => {
  const d = draft(state, at)
  if (run !== undefined) {
    close(d, run, { _tag: "failed", reason: "execution_lost", code: lost.code, message: lost.message })
  }
  for (const q of d.record.queue) {
    d.events.push({ _tag: "input_cancelled", at, runId: q.runId, inputId: q.inputId, reason: "execution_lost" })
  }
  patch(d, { queue: [], lastError: new Worker.LastError({ code: lost.code, message: lost.message, at }) })
  settle(d, "failed")
  return done(d)
}

/**
 * A binding made for a Worker that had none live (a restored one, before its run): the record carries the new
 * binding's record, and nothing else changes. `undefined` when the record already says so.
 */
export const recordBinding = (
  state: WorkerState,
  at: number,
  binding: WorkerExecution.BindingRecord | undefined
): Transition | undefined =>
  binding === state.record.binding ? undefined : {
    at,
    events: [],
    transcript: [],
    record: new WorkerStore.WorkerRecord({ ...state.record, binding }),
    ends: undefined,
    starts: undefined
  }

/** Shutdown: a run still in flight after the grace period is cancelled; queued inputs wait for the next start. */
export const cancelForShutdown = (state: WorkerState, at: number, run: RunProgress): Transition => {
  const d = draft(state, at)
  close(d, run, { _tag: "cancelled", reason: "runtime_stopping" })
  settle(d, "idle")
  return done(d)
}

/**
 * Startup: a run the last process left in flight ends `run_failed { runtime_restarted }` like any failed run (its
 * deltas were never stored), and the next queued input starts. A record that says `running` without a run (an
 * older version's) becomes idle. A stopped or failed Worker needs nothing (it runs nothing), nor does one with
 * nothing in flight: `undefined`.
 */
export const closeInterrupted = (state: WorkerState, at: number): Transition | undefined => {
  const record = state.record
  if (record.status === "stopped" || record.status === "failed") return undefined
  const d = draft(state, at)
  const current = record.currentRun
  if (current !== undefined) {
    close(d, {
      runId: current.runId,
      inputId: current.inputId,
      text: "",
      reasoning: "",
      usage: Worker.UsageFigures.zero,
      finishReason: undefined
    }, {
      _tag: "failed",
      reason: "runtime_restarted",
      code: "runtime_restarted",
      message: "the runtime stopped while this run was in flight"
    })
  }
  if (current !== undefined || record.status === "running" || record.queue.length > 0) continueOrIdle(d, false)
  return d.events.length > 0 || d.record !== record ? done(d) : undefined
}
