/**
 * One run on a legacy pod: writes `run` with one text segment (the Worker's `history` is not sent: the pod keeps its
 * own session), accepts it only by a `user_message` whose segments equal ours (within 3 s; `error already_running` /
 * `invalid_request` before it reject it; a timeout sends `cancel`), then maps the pod's events to `EngineEvent`s
 * until the run's end. Interruption is cancel: `{"method":"cancel"}`, then up to the grace for `run_end` or `status
 * idle`, else the process group is killed (the binding is then lost).
 *
 * Mapping: `text_delta` → `text_delta`; `text_done` → only the part the deltas did not cover; `thinking_delta` →
 * `reasoning_delta`; `tool_call_done` → `tool_call`; `tool_result` → `tool_result`; `usage` (per LLM call, missing
 * fields 0) → `usage`; `llm_retry` → `retry` (fixed reason); `run_end finished` → `finish stop`; `rolled_back` →
 * the end; `limit_reached` / `paused` (after a `cancel`) → failures; `error provider_error|tool_error|internal` → a
 * failure with that code; `status idle` with no `run_end` → the end. Every other event is ignored.
 *
 * Deliberately not here: a foreign run (another client's) is not recognised; no reconnect mid-run.
 */
import type { Errors, LlmEngine } from "@yoi/domain"
import { Worker } from "@yoi/domain"
import { type Duration, Effect, PubSub, Stream } from "effect"
import type { PodConnection, PodEvent } from "./podConnection.ts"
import { failure } from "./podFailure.ts"

type Step = { readonly out: ReadonlyArray<LlmEngine.EngineEvent>; readonly end?: "done" | Errors.EngineFailure }

const count = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0
const text = (value: unknown) => typeof value === "string" ? value : ""

const sameSegments = (got: unknown, want: ReadonlyArray<{ kind: string; content: string }>) =>
  Array.isArray(got) && got.length === want.length &&
  got.every((segment: unknown, i) =>
    typeof segment === "object" && segment !== null && "kind" in segment && "content" in segment &&
    segment.kind === want[i]!.kind && segment.content === want[i]!.content
  )

const isEnd = (event: PodEvent) =>
  event.event === "run_end" || (event.event === "status" && event.data["status"] === "idle")

/** @category constructors */
export const run = (
  connection: PodConnection,
  request: LlmEngine.EngineRequest,
  options: { readonly cancelGrace: Duration.Input; readonly kill: Effect.Effect<void> }
): Stream.Stream<LlmEngine.EngineEvent, Errors.EngineFailure> =>
  Stream.unwrap(Effect.gen(function*() {
    const subscription = yield* connection.subscribe
    const segments = [{ kind: "text", content: request.input }]
    let settled = false
    yield* Effect.addFinalizer(() =>
      settled ? Effect.void : connection.send({ method: "cancel" }).pipe(
        Effect.andThen(
          PubSub.take(subscription).pipe(Effect.repeat({ until: isEnd }))
        ),
        Effect.timeoutOrElse({ duration: options.cancelGrace, orElse: () => Effect.fail(undefined) }),
        Effect.catch(() => options.kill)
      )
    )
    yield* connection.send({ method: "run", params: { input: segments } })
    const accepted = Effect.gen(function*() {
      while (true) {
        const event = yield* PubSub.take(subscription)
        if (event.event === "user_message" && sameSegments(event.data["segments"], segments)) return
        if (event.event === "error" && event.data["code"] === "already_running") {
          return yield* Effect.fail(failure("legacy_pod_busy"))
        }
        if (event.event === "error" && event.data["code"] === "invalid_request") {
          return yield* Effect.fail(failure("legacy_pod_rejected"))
        }
      }
    })
    yield* accepted.pipe(
      Effect.timeoutOrElse({
        duration: "3 seconds",
        orElse: () => Effect.fail(failure("legacy_pod_acceptance_timeout"))
      }),
      Effect.tapError((error) =>
        Effect.sync(() => {
          // rejected: nothing of ours runs; timed out: the finalizer's cancel covers a late acceptance
          if (error.code !== "legacy_pod_acceptance_timeout") settled = true
        })
      )
    )

    let block = ""
    const step = (event: PodEvent): Step => {
      const data = event.data
      switch (event.event) {
        case "text_delta": {
          block += text(data["text"])
          return { out: [{ _tag: "text_delta", delta: text(data["text"]) }] }
        }
        case "text_done": {
          const done = text(data["text"])
          const rest = done.startsWith(block) ? done.slice(block.length) : ""
          block = ""
          return { out: rest === "" ? [] : [{ _tag: "text_delta", delta: rest }] }
        }
        case "thinking_delta":
          return { out: [{ _tag: "reasoning_delta", delta: text(data["text"]) }] }
        case "tool_call_done": {
          const args = data["arguments"]
          return {
            out: [{
              _tag: "tool_call",
              callId: text(data["id"]),
              name: text(data["name"]),
              input: typeof args === "string" ? args : JSON.stringify(args ?? null)
            }]
          }
        }
        case "tool_result": {
          const output = data["output"]
          return {
            out: [{
              _tag: "tool_result",
              callId: text(data["id"]),
              output: typeof output === "string" ? output : text(data["summary"]),
              isError: data["is_error"] === true
            }]
          }
        }
        case "usage":
          return {
            out: [{
              _tag: "usage",
              usage: new Worker.UsageFigures({
                inputTokens: count(data["input_tokens"]),
                outputTokens: count(data["output_tokens"]),
                cacheReadTokens: count(data["cache_read_input_tokens"]),
                reasoningTokens: 0
              })
            }]
          }
        case "llm_retry":
          return {
            out: [{
              _tag: "retry",
              attempt: count(data["failed_attempt"]),
              delayMs: count(data["wait_ms"]),
              reason: "the pod's provider call is retried"
            }]
          }
        case "run_end":
          switch (data["result"]) {
            case "finished":
              return { out: [{ _tag: "finish", reason: "stop" }], end: "done" }
            case "limit_reached":
              return { out: [], end: failure("limit_reached") }
            case "paused":
              return { out: [], end: failure("paused_unsupported") }
            default:
              return { out: [], end: "done" }
          }
        case "error": {
          const code = data["code"]
          return code === "provider_error" || code === "tool_error" || code === "internal"
            ? { out: [], end: failure(code) }
            : { out: [] }
        }
        case "status":
          return data["status"] === "idle" ? { out: [], end: "done" } : { out: [] }
        default:
          return { out: [] }
      }
    }

    return Stream.fromSubscription(subscription).pipe(
      Stream.map(step),
      Stream.takeUntil((s) => s.end !== undefined),
      Stream.flatMap((s) => {
        if (s.end === undefined) return Stream.fromIterable(s.out)
        const end = s.end
        return Stream.concat(
          Stream.fromIterable(s.out),
          Stream.fromEffect(
            Effect.gen(function*() {
              if (end === "done") {
                settled = true
                return
              }
              // a paused pod keeps the turn: abandon it so the pod is idle again
              if (end.code === "paused_unsupported") yield* Effect.ignore(connection.send({ method: "cancel" }))
              settled = true
              return yield* Effect.fail(end)
            })
          ).pipe(Stream.drain)
        )
      })
    )
  }))
