/**
 * The `LlmEngine` contract: what every engine (scripted, OpenAI-compatible, Anthropic; on a fake or a real server)
 * must do, as one suite.
 *
 * Each test builds its own subject with `setup` (a fresh fake server, a fresh engine), so tests share no state and
 * may run concurrently. The suite runs on the live clock: engines talk to real sockets, and "promptly" is measured
 * in real time. A subject says what its engine replies to an input, which input streams long enough to be
 * interrupted, which makes it reason (if it can), and how to see that an interrupted request was released.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Errors, LlmEngine } from "@yoi/domain"
import { engineRequest, historyEntry } from "@yoi/domain/test/support/fixtures"
import { Cause, Deferred, Effect, Exit, Fiber, Schema, type Scope, Stream } from "effect"

type Engine = LlmEngine.LlmEngine["Service"]
type Event = LlmEngine.EngineEvent

/** @category models */
export interface LlmEngineContractSubject {
  readonly engine: Engine
  /** An input, and the whole reply text the engine streams for it (with or without history). */
  readonly reply: { readonly input: string; readonly text: string }
  /** An input whose reply streams for longer than interrupting it takes. */
  readonly longInput: string
  /** An input that makes the engine reason, and the reasoning it streams; absent for engines that do not. */
  readonly reasoning?: { readonly input: string; readonly text: string } | undefined
  /** Waits until the last request's resources were released (e.g. the server saw its connection close): true. */
  readonly released?: Effect.Effect<boolean, unknown> | undefined
}

const history = [
  historyEntry(1, "user", "What is the capital of France?"),
  historyEntry(2, "reasoning", "Easy one."),
  historyEntry(3, "assistant", "Paris."),
  historyEntry(4, "user", "And of Italy?"),
  historyEntry(5, "assistant", "Ro", true)
]

const decodeEvent = Schema.decodeUnknownEffect(LlmEngine.EngineEvent)

/** Runs a stream to its end: every event (each checked against the port's schema) and how it ended. */
const run = Effect.fnUntraced(function*(stream: Stream.Stream<Event, Errors.EngineFailure>) {
  const events: Array<Event> = []
  const exit = yield* stream.pipe(
    Stream.runForEach((event) =>
      decodeEvent(event).pipe(
        Effect.mapError((error) => new Error(`an event the port's schema refuses: ${error.message}`)),
        Effect.orDie,
        Effect.map(() => void events.push(event))
      )
    ),
    Effect.exit
  )
  return { events, exit }
})

const textOf = (events: ReadonlyArray<Event>) =>
  events.flatMap((e) => e._tag === "text_delta" ? [e.delta] : []).join("")
const reasoningOf = (events: ReadonlyArray<Event>) =>
  events.flatMap((e) => e._tag === "reasoning_delta" ? [e.delta] : []).join("")

/** Asserts a complete reply: no failure, the expected text in deltas, and usage last with sane figures. */
const assertComplete = (
  result: { readonly events: ReadonlyArray<Event>; readonly exit: Exit.Exit<void, Errors.EngineFailure> },
  text: string
) => {
  assert.isTrue(Exit.isSuccess(result.exit), Exit.isFailure(result.exit) ? Cause.pretty(result.exit.cause) : "")
  assert.isAbove(result.events.filter((e) => e._tag === "text_delta").length, 0, "the text comes as deltas")
  assert.strictEqual(textOf(result.events), text)
  const last = result.events.at(-1)
  assert.strictEqual(last?._tag, "usage", "the stream ends with usage")
  if (last?._tag !== "usage") return
  const { cacheReadTokens, inputTokens, outputTokens, reasoningTokens } = last.usage
  for (const [field, value] of Object.entries({ inputTokens, outputTokens, cacheReadTokens, reasoningTokens })) {
    assert.isTrue(Number.isInteger(value) && value >= 0, `usage.${field} is a non-negative integer: ${value}`)
  }
}

/**
 * Registers the `LlmEngine` contract suite for one engine.
 *
 * `setup` may need a `Scope` (a server, a fake) and is run for every test.
 * @category testing
 */
export const llmEngineContract = (
  name: string,
  setup: Effect.Effect<LlmEngineContractSubject, unknown, Scope.Scope>
): void => {
  const test = (
    title: string,
    body: (subject: LlmEngineContractSubject) => Effect.Effect<void, unknown, Scope.Scope>
  ) => it.live(title, () => Effect.flatMap(setup, body))

  describe(`LlmEngine contract: ${name}`, () => {
    test("a request streams text deltas that join into the reply, then usage, and no failure", (subject) =>
      Effect.gen(function*() {
        assertComplete(yield* run(subject.engine.stream(engineRequest(subject.reply.input))), subject.reply.text)
      }))

    test("a history and a system prompt are accepted", (subject) =>
      Effect.gen(function*() {
        const result = yield* run(subject.engine.stream(engineRequest(subject.reply.input, {
          systemPrompt: "You answer in one short sentence.",
          history
        })))
        assertComplete(result, subject.reply.text)
      }))

    test("info names the provider, its kind and its model", (subject) =>
      Effect.sync(() => {
        const { info } = subject.engine
        assert.isAbove(info.provider.length, 0)
        assert.include(["scripted", "openai-compatible", "anthropic"], info.kind)
        assert.isAbove(info.model.length, 0)
        assert.strictEqual(info.scripted, info.kind === "scripted")
      }))

    test("reasoning, when the engine reasons, comes as reasoning deltas before the reply", (subject) =>
      Effect.gen(function*() {
        if (subject.reasoning === undefined) {
          // An engine without reasoning emits none for a plain request.
          const result = yield* run(subject.engine.stream(engineRequest(subject.reply.input)))
          assert.strictEqual(reasoningOf(result.events), "")
          return
        }
        const result = yield* run(subject.engine.stream(engineRequest(subject.reasoning.input)))
        assert.isTrue(Exit.isSuccess(result.exit))
        assert.strictEqual(reasoningOf(result.events), subject.reasoning.text)
        const lastReasoning = result.events.findLastIndex((e) => e._tag === "reasoning_delta")
        const firstText = result.events.findIndex((e) => e._tag === "text_delta")
        assert.isTrue(firstText === -1 || lastReasoning < firstText, "reasoning first")
        assert.strictEqual(result.events.at(-1)?._tag, "usage")
      }))

    test("interrupting the stream after the first delta ends it promptly and releases the request", (subject) =>
      Effect.gen(function*() {
        const firstDelta = yield* Deferred.make<void>()
        const fiber = yield* subject.engine.stream(engineRequest(subject.longInput)).pipe(
          Stream.runForEach((event) =>
            event._tag === "text_delta" ? Deferred.succeed(firstDelta, undefined) : Effect.void
          ),
          Effect.forkChild({ startImmediately: true })
        )
        yield* Deferred.await(firstDelta).pipe(Effect.timeout("20 seconds"))
        yield* Fiber.interrupt(fiber).pipe(Effect.timeout("2 seconds"))
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause), "ended by the interrupt alone")
        if (subject.released !== undefined) {
          assert.isTrue(yield* subject.released.pipe(Effect.timeout("10 seconds")), "the request was released")
        }
      }))

    test("two concurrent streams both complete", (subject) =>
      Effect.gen(function*() {
        const [a, b] = yield* Effect.all([
          run(subject.engine.stream(engineRequest(subject.reply.input))),
          run(subject.engine.stream(engineRequest(subject.reply.input, { history })))
        ], { concurrency: 2 })
        assertComplete(a, subject.reply.text)
        assertComplete(b, subject.reply.text)
      }))
  })
}
