/**
 * The Runtime's transitions as plain decisions: a Worker's state and the time in, its events (without seqs),
 * transcript entries and record out. No clock, store or fiber.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Ids, type LlmEngine, Transcript, Worker, WorkerExecution, WorkerStore } from "@yoi/domain"
import * as T from "../src/internal/transitions.ts"

const at = 1_000

const record = (fields: Partial<WorkerStore.WorkerRecord> = {}) =>
  new WorkerStore.WorkerRecord({
    workerId: "w_1" as Ids.WorkerId,
    displayName: "companion",
    profile: { kind: "runtime_default" },
    profileName: "companion",
    provider: "scripted",
    model: "scripted",
    requestedCapabilities: [],
    scope: [],
    createdAt: 10,
    lastActivityAt: 10,
    status: "idle",
    queue: [],
    usage: Worker.UsageTotals.zero,
    seqReserved: 0,
    recentInputs: [],
    ...fields
  })

const running = (fields: Partial<WorkerStore.WorkerRecord> = {}) =>
  record({
    status: "running",
    currentRun: new Worker.CurrentRun({ runId: "r_1" as Ids.RunId, inputId: "i_1" as Ids.InputId, startedAt: 20 }),
    ...fields
  })

const queued = (n: number) =>
  new Worker.QueuedInput({
    inputId: `i_q${n}` as Ids.InputId,
    runId: `r_q${n}` as Ids.RunId,
    text: `queued ${n}`,
    queuedAt: 30
  })

const usage = (inputTokens: number, outputTokens: number) =>
  new Worker.UsageFigures({ inputTokens, outputTokens, cacheReadTokens: 0, reasoningTokens: 0 })

const progress = (fields: Partial<T.RunProgress> = {}): T.RunProgress => ({
  runId: "r_1",
  inputId: "i_1",
  text: "",
  reasoning: "",
  usage: Worker.UsageFigures.zero,
  finishReason: undefined,
  ...fields
})

const tags = (t: T.Transition) =>
  t.events.map((e) =>
    e._tag === "status_changed"
      ? `${e.from}>${e.to}`
      : e._tag === "run_cancelled" || e._tag === "run_failed" || e._tag === "input_cancelled"
      ? `${e._tag}:${e.reason}`
      : e._tag
  )

const entries = (t: T.Transition) =>
  t.transcript.map((e) => `${e.seq} ${e.kind}${e.interrupted === true ? " (interrupted)" : ""}: ${e.text}`)

describe("transitions", () => {
  it("createWorker: a Worker without input is its record alone", () => {
    const r = record()
    const { accepted, transition } = T.createWorker(r, undefined)
    assert.strictEqual(accepted, undefined)
    assert.strictEqual(transition.record, r)
    assert.deepStrictEqual(transition.events, [])
    assert.strictEqual(transition.starts, undefined)
  })

  it("createWorker: the initial input starts in the same transition and is remembered under the initial key", () => {
    const { accepted, transition } = T.createWorker(record(), { inputId: "i_1", runId: "r_1", text: "hi" })
    assert.deepStrictEqual(tags(transition), ["input_accepted", "run_started", "idle>running"])
    assert.deepStrictEqual(entries(transition), ["1 user: hi"])
    assert.strictEqual(accepted?.status, "started")
    assert.strictEqual(accepted?.eventSeq, 1)
    assert.strictEqual(accepted?.transcriptSeq, 1)
    assert.strictEqual(transition.record.status, "running")
    assert.strictEqual(transition.record.currentRun?.runId, "r_1")
    assert.deepStrictEqual(transition.record.recentInputs.map((r) => r.key), [T.initialInputKey])
    assert.deepStrictEqual(transition.starts, { inputId: "i_1", runId: "r_1", text: "hi", userSeq: 1 })
    assert.strictEqual(transition.record.lastActivityAt, 10)
  })

  it("queueInput: the input waits at the end of the queue; its answer names the event's seq", () => {
    const state = { record: running({ queue: [queued(1)] }), nextSeq: 7, transcriptCount: 3 }
    const { accepted, transition } = T.queueInput(state, at, { inputId: "i_2", runId: "r_2", text: "later" }, "k")
    assert.deepStrictEqual(transition.events, [
      { _tag: "input_queued", at, runId: "r_2", inputId: "i_2", text: "later", position: 2 }
    ])
    assert.deepStrictEqual(transition.transcript, [])
    assert.strictEqual(accepted.status, "queued")
    assert.strictEqual(accepted.eventSeq, 7)
    assert.deepStrictEqual(transition.record.queue.map((q) => q.inputId), ["i_q1", "i_2"])
    assert.deepStrictEqual(transition.record.recentInputs.map((r) => r.key), ["k"])
    assert.strictEqual(transition.record.status, "running")
    assert.strictEqual(transition.record.lastActivityAt, at)
    assert.strictEqual(transition.starts, undefined)
    assert.strictEqual(transition.ends, undefined)
  })

  it("startInput: on an idle Worker the input starts a run", () => {
    const state = { record: record(), nextSeq: 4, transcriptCount: 2 }
    const { accepted, transition } = T.startInput(
      state,
      at,
      { inputId: "i_2", runId: "r_2", text: "go" },
      undefined,
      undefined
    )
    assert.deepStrictEqual(tags(transition), ["input_accepted", "run_started", "idle>running"])
    assert.deepStrictEqual(entries(transition), ["3 user: go"])
    assert.strictEqual(accepted.eventSeq, 4)
    assert.strictEqual(accepted.transcriptSeq, 3)
    assert.deepStrictEqual(transition.record.recentInputs, [])
    assert.strictEqual(transition.ends, undefined)
  })

  it("startInput: interrupting cancels the run in flight, keeps its partial text and starts the input, in one", () => {
    const state = { record: running(), nextSeq: 10, transcriptCount: 1 }
    const { accepted, transition } = T.startInput(
      state,
      at,
      { inputId: "i_2", runId: "r_2", text: "instead" },
      "k2",
      progress({ text: "Once upon", usage: usage(3, 2) })
    )
    assert.deepStrictEqual(tags(transition), [
      "usage",
      "run_cancelled:interrupted by new input",
      "input_accepted",
      "run_started"
    ])
    assert.deepStrictEqual(entries(transition), ["2 assistant (interrupted): Once upon", "3 user: instead"])
    assert.strictEqual(accepted.eventSeq, 12)
    assert.strictEqual(accepted.transcriptSeq, 3)
    assert.deepStrictEqual(transition.ends, { runId: "r_1", outcome: "cancelled" })
    assert.strictEqual(transition.starts?.runId, "r_2")
    assert.strictEqual(transition.record.currentRun?.runId, "r_2")
    assert.strictEqual(transition.record.usage.cancellations, 1)
    assert.strictEqual(transition.record.usage.inputTokens, 3)
  })

  it("applyEngineEvents: deltas add to the run's text, tools enter the transcript, usage and finish are kept", () => {
    const state = { record: running(), nextSeq: 5, transcriptCount: 1 }
    const chunk: ReadonlyArray<LlmEngine.EngineEvent> = [
      { _tag: "reasoning_delta", delta: "hm" },
      { _tag: "text_delta", delta: "a" },
      { _tag: "tool_call", callId: "c1", name: "search", input: "{}" },
      { _tag: "tool_result", callId: "c1", output: "found", isError: false },
      { _tag: "text_delta", delta: "b" },
      { _tag: "usage", usage: usage(1, 1) },
      { _tag: "usage", usage: usage(2, 0) },
      { _tag: "finish", reason: "length" }
    ]
    const { progress: next, transition } = T.applyEngineEvents(state, at, progress({ text: "x" }), chunk)
    assert.deepStrictEqual(tags(transition), [
      "reasoning_delta",
      "text_delta",
      "tool_call",
      "tool_result",
      "text_delta"
    ])
    assert.deepStrictEqual(entries(transition), ["2 tool_call: search {}", "3 tool_result: found"])
    assert.strictEqual(transition.record, state.record)
    assert.strictEqual(next.text, "xab")
    assert.strictEqual(next.reasoning, "hm")
    assert.strictEqual(next.usage.inputTokens, 3)
    assert.strictEqual(next.usage.outputTokens, 1)
    assert.strictEqual(next.finishReason, "length")
    assert.strictEqual(transition.ends, undefined)
  })

  it("endRun finished: reasoning and text are done, usage is added, and the Worker goes idle", () => {
    const state = { record: running(), nextSeq: 9, transcriptCount: 1 }
    const transition = T.endRun(
      state,
      at,
      progress({ text: "hello", reasoning: "think", usage: usage(4, 5), finishReason: "stop" }),
      { _tag: "finished" },
      false
    )
    assert.deepStrictEqual(tags(transition), ["reasoning_done", "text_done", "usage", "run_finished", "running>idle"])
    assert.deepStrictEqual(entries(transition), ["2 reasoning: think", "3 assistant: hello"])
    const finished = transition.events.find((e) => e._tag === "run_finished")
    assert.deepStrictEqual(finished, { _tag: "run_finished", at, runId: "r_1", finishReason: "stop" })
    assert.strictEqual(transition.record.status, "idle")
    assert.strictEqual(transition.record.currentRun, undefined)
    assert.strictEqual(transition.record.usage.runs, 1)
    assert.strictEqual(transition.record.usage.outputTokens, 5)
    assert.deepStrictEqual(transition.ends, { runId: "r_1", outcome: "finished" })
    assert.strictEqual(transition.starts, undefined)
  })

  it("endRun finished with an empty reply still records the assistant's entry", () => {
    const transition = T.endRun({ record: running(), nextSeq: 2, transcriptCount: 1 }, at, progress(), {
      _tag: "finished"
    }, false)
    assert.deepStrictEqual(entries(transition), ["2 assistant: "])
  })

  it("endRun failed: partial text interrupted, an error entry, the last error and a failure in usage", () => {
    const transition = T.endRun({ record: running(), nextSeq: 2, transcriptCount: 1 }, at, progress({ text: "par" }), {
      _tag: "failed",
      reason: "engine_failure",
      code: "stream_broken",
      message: "the connection broke"
    }, false)
    assert.deepStrictEqual(tags(transition), ["usage", "run_failed:engine_failure", "running>idle"])
    assert.deepStrictEqual(entries(transition), [
      "2 assistant (interrupted): par",
      "3 error: stream_broken: the connection broke"
    ])
    assert.strictEqual(transition.record.lastError?.code, "stream_broken")
    assert.strictEqual(transition.record.lastError?.at, at)
    assert.strictEqual(transition.record.usage.failures, 1)
    assert.deepStrictEqual(transition.ends, { runId: "r_1", outcome: "failed" })
  })

  it("endRun: the next queued input starts in the same transition (no input_accepted, it was accepted before)", () => {
    const state = { record: running({ queue: [queued(1), queued(2)] }), nextSeq: 2, transcriptCount: 1 }
    const transition = T.endRun(state, at, progress({ text: "ok" }), { _tag: "finished" }, false)
    assert.deepStrictEqual(tags(transition), ["text_done", "usage", "run_finished", "run_started"])
    assert.deepStrictEqual(entries(transition), ["2 assistant: ok", "3 user: queued 1"])
    assert.strictEqual(transition.record.status, "running")
    assert.strictEqual(transition.record.currentRun?.runId, "r_q1")
    assert.deepStrictEqual(transition.record.queue.map((q) => q.inputId), ["i_q2"])
    assert.deepStrictEqual(transition.starts, { inputId: "i_q1", runId: "r_q1", text: "queued 1", userSeq: 3 })
  })

  it("endRun while stopping: queued inputs wait and the Worker goes idle", () => {
    const state = { record: running({ queue: [queued(1)] }), nextSeq: 2, transcriptCount: 1 }
    const transition = T.endRun(state, at, progress(), { _tag: "cancelled", reason: "cancelled" }, true)
    assert.deepStrictEqual(tags(transition), ["usage", "run_cancelled:cancelled", "running>idle"])
    assert.deepStrictEqual(entries(transition), [])
    assert.strictEqual(transition.record.queue.length, 1)
    assert.strictEqual(transition.starts, undefined)
    assert.strictEqual(transition.record.usage.cancellations, 1)
  })

  it("cancelQueued: the input leaves the queue", () => {
    const state = { record: running({ queue: [queued(1), queued(2)] }), nextSeq: 2, transcriptCount: 1 }
    const transition = T.cancelQueued(state, at, state.record.queue[0]!)
    assert.deepStrictEqual(transition.events, [
      { _tag: "input_cancelled", at, runId: "r_q1", inputId: "i_q1", reason: "cancelled" }
    ])
    assert.deepStrictEqual(transition.record.queue.map((q) => q.inputId), ["i_q2"])
    assert.strictEqual(transition.record.status, "running")
  })

  it("stop: the run cancelled, the queue dropped and the Worker stopped, in one transition", () => {
    const state = { record: running({ queue: [queued(1), queued(2)] }), nextSeq: 2, transcriptCount: 1 }
    const transition = T.stop(state, at, progress({ reasoning: "r" }), "done for today")
    assert.deepStrictEqual(tags(transition), [
      "usage",
      "run_cancelled:worker_stopped",
      "input_cancelled:worker_stopped",
      "input_cancelled:worker_stopped",
      "worker_stopped",
      "running>stopped"
    ])
    assert.deepStrictEqual(transition.events.find((e) => e._tag === "worker_stopped"), {
      _tag: "worker_stopped",
      at,
      reason: "done for today"
    })
    assert.deepStrictEqual(entries(transition), ["2 reasoning (interrupted): r"])
    assert.deepStrictEqual(transition.record.queue, [])
    assert.strictEqual(transition.record.status, "stopped")
    assert.strictEqual(transition.record.currentRun, undefined)
  })

  it("stop: an idle Worker just stops", () => {
    const transition = T.stop({ record: record(), nextSeq: 1, transcriptCount: 0 }, at, undefined, "stopped")
    assert.deepStrictEqual(tags(transition), ["worker_stopped", "idle>stopped"])
    assert.strictEqual(transition.ends, undefined)
  })

  it("cancelForShutdown: the run is cancelled as runtime_stopping and the queue waits", () => {
    const state = { record: running({ queue: [queued(1)] }), nextSeq: 2, transcriptCount: 1 }
    const transition = T.cancelForShutdown(state, at, progress({ text: "half" }))
    assert.deepStrictEqual(tags(transition), ["usage", "run_cancelled:runtime_stopping", "running>idle"])
    assert.deepStrictEqual(entries(transition), ["2 assistant (interrupted): half"])
    assert.strictEqual(transition.record.queue.length, 1)
  })

  it("closeInterrupted: a run the last process left fails as runtime_restarted and the queue goes on", () => {
    const state = { record: running({ queue: [queued(1)] }), nextSeq: 1030, transcriptCount: 4 }
    const transition = T.closeInterrupted(state, at)!
    assert.deepStrictEqual(tags(transition), ["usage", "run_failed:runtime_restarted", "run_started"])
    assert.deepStrictEqual(entries(transition), [
      "5 error: runtime_restarted: the runtime stopped while this run was in flight",
      "6 user: queued 1"
    ])
    assert.strictEqual(transition.record.usage.failures, 1)
    assert.strictEqual(transition.record.lastError?.code, "runtime_restarted")
    assert.strictEqual(transition.starts?.runId, "r_q1")
  })

  it("closeInterrupted: a stopped or idle Worker needs nothing; running without a run becomes idle", () => {
    assert.strictEqual(T.closeInterrupted({ record: record(), nextSeq: 1, transcriptCount: 0 }, at), undefined)
    assert.strictEqual(
      T.closeInterrupted({ record: record({ status: "stopped" }), nextSeq: 1, transcriptCount: 0 }, at),
      undefined
    )
    const stale = T.closeInterrupted({ record: record({ status: "running" }), nextSeq: 1, transcriptCount: 0 }, at)!
    assert.deepStrictEqual(tags(stale), ["running>idle"])
    assert.strictEqual(stale.ends, undefined)
  })

  it("closeInterrupted: a failed Worker needs nothing, even with a queue (nothing runs on a lost host)", () => {
    const failed = record({ status: "failed", queue: [queued(1)] })
    assert.strictEqual(T.closeInterrupted({ record: failed, nextSeq: 1, transcriptCount: 0 }, at), undefined)
  })

  const lost = new WorkerExecution.ExecutionLost({ code: "host_exited", message: "the execution host exited" })

  it("lose mid-run: the run fails execution_lost with its partial text, the queue is cancelled, the Worker failed", () => {
    const state = { record: running({ queue: [queued(1), queued(2)] }), nextSeq: 5, transcriptCount: 1 }
    const transition = T.lose(state, at, progress({ text: "half a rep", reasoning: "hm", usage: usage(3, 4) }), lost)
    assert.deepStrictEqual(tags(transition), [
      "usage",
      "run_failed:execution_lost",
      "input_cancelled:execution_lost",
      "input_cancelled:execution_lost",
      "running>failed"
    ])
    assert.deepStrictEqual(transition.events.find((e) => e._tag === "run_failed"), {
      _tag: "run_failed",
      at,
      runId: "r_1",
      reason: "execution_lost",
      code: "host_exited",
      message: "the execution host exited"
    })
    assert.deepStrictEqual(entries(transition), [
      "2 reasoning (interrupted): hm",
      "3 assistant (interrupted): half a rep",
      "4 error: host_exited: the execution host exited"
    ])
    const after = transition.record
    assert.strictEqual(after.status, "failed")
    assert.strictEqual(after.currentRun, undefined)
    assert.deepStrictEqual(after.queue, [])
    assert.deepStrictEqual(after.lastError, new Worker.LastError({ code: "host_exited", message: lost.message, at }))
    assert.strictEqual(after.usage.failures, 1)
    assert.strictEqual(after.usage.inputTokens, 3)
    assert.deepStrictEqual(transition.ends, { runId: "r_1", outcome: "failed" })
    assert.strictEqual(transition.starts, undefined)
  })

  it("lose while idle: the Worker fails with the loss as its last error, and no run event", () => {
    const transition = T.lose({ record: record(), nextSeq: 1, transcriptCount: 0 }, at, undefined, lost)
    assert.deepStrictEqual(tags(transition), ["idle>failed"])
    assert.deepStrictEqual(transition.transcript, [])
    assert.strictEqual(transition.record.lastError?.code, "host_exited")
    assert.strictEqual(transition.record.usage.failures, 0)
    assert.strictEqual(transition.ends, undefined)
  })

  it("recordBinding: a new binding's record replaces the old one and nothing else; the same one is no change", () => {
    const old = new WorkerExecution.BindingRecord({ kind: "test", state: { n: 1 } })
    const fresh = new WorkerExecution.BindingRecord({ kind: "test", state: { n: 2 } })
    const state = { record: record({ binding: old }), nextSeq: 3, transcriptCount: 2 }
    const transition = T.recordBinding(state, at, fresh)!
    assert.deepStrictEqual(transition.events, [])
    assert.deepStrictEqual(transition.transcript, [])
    assert.deepStrictEqual(transition.record, new WorkerStore.WorkerRecord({ ...state.record, binding: fresh }))
    assert.strictEqual(T.recordBinding(state, at, old), undefined)
    assert.strictEqual(T.recordBinding({ ...state, record: record() }, at, undefined), undefined)
  })

  it("remembered keys: the initial input's stays, SendInput keys keep the last recentInputsKept", () => {
    const initial = T.createWorker(record(), { inputId: "i_0", runId: "r_0", text: "hi" }).transition.record
    let state = { record: initial, nextSeq: 1, transcriptCount: 0 }
    for (let i = 0; i < T.recentInputsKept + 3; i++) {
      const { transition } = T.queueInput(state, at, { inputId: `i_${i}`, runId: `r_${i}`, text: "x" }, `k${i}`)
      state = { ...state, record: transition.record }
    }
    const keys = state.record.recentInputs.map((r) => r.key)
    assert.strictEqual(keys.length, T.recentInputsKept + 1)
    assert.strictEqual(keys[0], T.initialInputKey)
    assert.strictEqual(keys[1], "k3")
    assert.strictEqual(keys[keys.length - 1], `k${T.recentInputsKept + 2}`)
  })

  it("transcript entries are TranscriptEntry values with the transition's time", () => {
    const { transition } = T.createWorker(record(), { inputId: "i_1", runId: "r_1", text: "hi" })
    const entry = transition.transcript[0]!
    assert.isTrue(entry instanceof Transcript.TranscriptEntry)
    assert.strictEqual(entry.at, 10)
    assert.strictEqual(entry.runId, "r_1")
  })
})
