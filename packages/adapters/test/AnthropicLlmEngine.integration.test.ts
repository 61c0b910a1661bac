/**
 * `AnthropicLlmEngine` over real HTTP against the fake provider: the shared `LlmEngine` contract, then the Messages
 * protocol (request shape and headers, content blocks, thinking, tool use, running usage totals, stop reasons), the
 * request policy as Anthropic exercises it (429, 529 overloaded, timeouts) and every fault the fake can produce.
 * Waits on backoff use the `TestClock`; tests of timeouts on sockets use small real timeouts.
 */
import { assert, describe, it } from "@effect/vitest"
import { engineRequest, historyEntry } from "@yoi/domain/test/support/fixtures"
import { Effect, Fiber, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import * as AnthropicLlmEngine from "../src/AnthropicLlmEngine.ts"
import { llmEngineContract } from "./contract/LlmEngineContract.ts"
import * as Fake from "./support/fakeProvider.ts"

const { anthropic } = Fake

/** A fake and an engine on it. */
const setup = (options: Partial<AnthropicLlmEngine.Options> = {}) =>
  Effect.gen(function*() {
    const fake = yield* Fake.start
    const engine = yield* AnthropicLlmEngine.make({ baseUrl: fake.origin, model: "default-model", ...options }).pipe(
      Effect.provide(FetchHttpClient.layer)
    )
    return { fake, engine }
  })

const ok = (text: ReadonlyArray<string> = ["Hello", " world"]) =>
  Fake.stream([...anthropic.reply({ text }).map(Fake.write), Fake.end])

const overloaded = Fake.status(529, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } })

llmEngineContract(
  "Anthropic on the fake",
  Effect.gen(function*() {
    const { engine, fake } = yield* setup()
    return {
      engine,
      reply: { input: "Say hello.", text: Fake.defaultReplyText },
      longInput: Fake.loopInput,
      reasoning: { input: "/think then say hello", text: Fake.defaultReasoningText },
      released: Effect.flatMap(fake.requests, (requests) => requests.at(-1)?.closed ?? Effect.succeed(false))
    }
  })
)

describe("AnthropicLlmEngine", () => {
  describe("request", () => {
    it.effect("POSTs /v1/messages with the key, the API version, system, messages and the profile's settings", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({
          apiKey: Redacted.make("sk-ant-test-key"),
          maxOutputTokens: 1000,
          temperature: 1
        })
        const request = engineRequest("the input", {
          systemPrompt: "Be brief.",
          history: [
            historyEntry(1, "user", "first question"),
            historyEntry(2, "reasoning", "private thoughts"),
            historyEntry(3, "assistant", "first answer"),
            historyEntry(4, "error", "engine failed"),
            historyEntry(5, "user", "second question"),
            historyEntry(6, "assistant", "cut sho", true)
          ],
          model: "claude-request-model",
          generation: { maxOutputTokens: 64, temperature: 0.5 }
        })
        Fake.assertSuccess(yield* Fake.run(engine.stream(request)))
        const [sent] = yield* fake.requests
        assert.strictEqual(sent?.path, "/v1/messages")
        assert.strictEqual(sent?.headers["x-api-key"], "sk-ant-test-key")
        assert.strictEqual(sent?.headers["anthropic-version"], "2023-06-01")
        assert.isUndefined(sent?.headers.authorization)
        assert.isUndefined(sent?.headers.traceparent, "no trace headers to a third party")
        assert.include(sent?.headers.accept ?? "", "text/event-stream")
        assert.deepStrictEqual(sent?.body, {
          model: "claude-request-model",
          max_tokens: 64,
          stream: true,
          system: "Be brief.",
          messages: [
            { role: "user", content: "first question" },
            { role: "assistant", content: "first answer" },
            { role: "user", content: "second question" },
            { role: "assistant", content: "cut sho\n\n[interrupted]" },
            { role: "user", content: "the input" }
          ],
          temperature: 0.5
        })
      }))

    it.effect("max_tokens: the options', else 4096; no system for an empty prompt; no key header without a key", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start
        const make = (options: Partial<AnthropicLlmEngine.Options>) =>
          AnthropicLlmEngine.make({ baseUrl: `${fake.origin}/`, model: "m", ...options }).pipe(
            Effect.provide(FetchHttpClient.layer)
          )
        Fake.assertSuccess(yield* Fake.run((yield* make({ maxOutputTokens: 300 })).stream(engineRequest("x"))))
        Fake.assertSuccess(yield* Fake.run((yield* make({})).stream(engineRequest("x"))))
        const [first, second] = yield* fake.requests
        assert.deepInclude(first?.body, { max_tokens: 300 })
        assert.deepStrictEqual(second?.body, {
          model: "request-model",
          max_tokens: 4096,
          stream: true,
          messages: [{ role: "user", content: "x" }]
        })
        assert.strictEqual(second?.path, "/v1/messages")
        assert.isUndefined(second?.headers["x-api-key"])
      }))

    it.effect("info: the configured name (default anthropic), kind and default model; the default base URL", () =>
      Effect.gen(function*() {
        const engine = yield* AnthropicLlmEngine.make({ model: "claude-x" }).pipe(Effect.provide(FetchHttpClient.layer))
        assert.deepStrictEqual(engine.info, {
          provider: "anthropic",
          kind: "anthropic",
          model: "claude-x",
          scripted: false
        })
        assert.strictEqual(AnthropicLlmEngine.defaultBaseUrl, "https://api.anthropic.com")
        const { engine: named } = yield* setup({ name: "claude" })
        assert.strictEqual(named.info.provider, "claude")
      }))
  })

  describe("reply", () => {
    it.effect("text deltas, ping ignored, then finish and usage (input = uncached + cache reads + cache writes)", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...anthropic.reply({
            text: ["Hel", "lo"],
            usage: {
              input_tokens: 10,
              cache_read_input_tokens: 300,
              cache_creation_input_tokens: 20,
              output_tokens: 42
            }
          }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.tagsOf(result.events), ["text_delta", "text_delta", "finish", "usage"])
        assert.strictEqual(Fake.textOf(result.events), "Hello")
        assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason: "stop" }])
        const [usage] = Fake.ofTag(result.events, "usage")
        assert.deepStrictEqual({ ...usage?.usage }, {
          inputTokens: 330,
          outputTokens: 42,
          cacheReadTokens: 300,
          reasoningTokens: 0
        })
      }))

    it.effect("message_delta usage is a running total: the last one counts, not their sum", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...anthropic.reply({ text: ["a"], usage: { input_tokens: 5, output_tokens: 0 }, outputTotals: [3, 9, 17] })
            .map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const [usage] = Fake.ofTag(result.events, "usage")
        assert.strictEqual(usage?.usage.outputTokens, 17)
        assert.strictEqual(usage?.usage.inputTokens, 5)
      }))

    it.effect("thinking blocks come as reasoning deltas (signatures dropped), before the text", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...anthropic.reply({ thinking: ["Hmm, ", "let me see."], text: ["Yes."] }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.tagsOf(result.events).slice(0, 3), [
          "reasoning_delta",
          "reasoning_delta",
          "text_delta"
        ])
        assert.strictEqual(Fake.reasoningOf(result.events), "Hmm, let me see.")
        assert.strictEqual(Fake.textOf(result.events), "Yes.")
      }))

    it.effect("tool_use blocks: input_json_delta pieces are assembled into tool_call events, then finish tool_use", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...anthropic.reply({
            text: ["Let me check."],
            toolUses: [
              { id: "toolu_a", name: "get_weather", partialJson: ["{\"ci", "ty\": \"Par", "is\"}"] },
              { id: "toolu_b", name: "get_time", partialJson: [] }
            ]
          }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "tool_call"), [
          { _tag: "tool_call", callId: "toolu_a", name: "get_weather", input: "{\"city\": \"Paris\"}" },
          { _tag: "tool_call", callId: "toolu_b", name: "get_time", input: "{}" }
        ])
        assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason: "tool_use" }])
      }))

    it.effect.each(
      [
        ["end_turn", "stop"],
        ["stop_sequence", "stop"],
        ["max_tokens", "length"],
        ["tool_use", "tool_use"],
        ["pause_turn", "other"]
      ] as const
    )("stop_reason %s is the finish %s", ([stopReason, reason]) =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([...anthropic.reply({ text: ["a"], stopReason }).map(Fake.write), Fake.end]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason }])
      }))

    it.effect("a refusal fails content_filter after the partial text (and its usage)", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...anthropic.reply({ text: ["I can", " start"], stopReason: "refusal" }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "content_filter")
        assert.strictEqual(failure.provider, "anthropic")
        assert.strictEqual(Fake.textOf(result.events), "I can start")
        assert.deepStrictEqual(Fake.tagsOf(result.events), ["text_delta", "text_delta", "usage"])
      }))

    it.effect("a `retry:` field in the stream is ignored", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const [first, ...rest] = anthropic.reply({ text: ["a", "b"] })
        yield* fake.plan(
          Fake.stream([Fake.write(first!), Fake.write("retry: 10000\n\n"), ...rest.map(Fake.write), Fake.end])
        )
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "ab")
      }))

    it.effect("UTF-8 characters split across two network writes arrive intact", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const [start, blockStart, ping, , ...rest] = anthropic.reply({ text: ["placeholder"] })
        yield* fake.plan(Fake.stream([
          Fake.write(start!),
          Fake.write(blockStart!),
          Fake.write(ping!),
          ...Fake.splitInsideCharacter(anthropic.textDelta(0, "Grüße — 你好 👋🏽")),
          ...rest.map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "Grüße — 你好 👋🏽")
      }))
  })

  describe("faults", () => {
    it.effect("a stream without message_stop is stream_truncated, after the partial text", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const events = anthropic.reply({ text: ["trun", "cated"] })
        yield* fake.plan(Fake.stream([...events.slice(0, -1).map(Fake.write), Fake.end]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "stream_truncated")
        assert.strictEqual(Fake.textOf(result.events), "truncated")
      }))

    it.effect("a reset mid-stream after a delta is stream_broken, the delta already emitted, and not retried", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const gate = Fake.makeGate()
        const [start, blockStart] = anthropic.reply({ text: [] })
        yield* fake.plan(Fake.stream([
          Fake.write(start!),
          Fake.write(blockStart!),
          Fake.write(anthropic.textDelta(0, "partial")),
          Fake.gate(gate),
          Fake.reset
        ]))
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        assert.strictEqual((yield* watched.next("text_delta")).delta, "partial")
        yield* gate.open
        const result = yield* watched.done
        assert.strictEqual(Fake.failureOf(result).code, "stream_broken")
        assert.deepStrictEqual(Fake.tagsOf(result.events), ["text_delta"])
        assert.strictEqual((yield* fake.requests).length, 1)
      }))

    it.effect("malformed event data is invalid_stream", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const [start, blockStart] = anthropic.reply({ text: [] })
        yield* fake.plan(Fake.stream([
          Fake.write(start!),
          Fake.write(blockStart!),
          Fake.write(anthropic.textDelta(0, "fine")),
          Fake.write("event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": \n\n"),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "invalid_stream")
        assert.strictEqual(Fake.textOf(result.events), "fine")
      }))

    it.effect("an error event mid-stream fails with its type as the code, after the text before it", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const [start, blockStart] = anthropic.reply({ text: [] })
        yield* fake.plan(Fake.stream([
          Fake.write(start!),
          Fake.write(blockStart!),
          Fake.write(anthropic.textDelta(0, "Half")),
          Fake.write(anthropic.error("overloaded_error", "Overloaded")),
          Fake.stall
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "overloaded_error")
        assert.include(failure.message, "Overloaded")
        assert.strictEqual(Fake.textOf(result.events), "Half")
        assert.isTrue(yield* (yield* fake.request(0)).closed)
      }))

    it.effect.each(
      [
        [401, "authentication_error", "invalid x-api-key"],
        [400, "invalid_request_error", "max_tokens: must be at most 8192"],
        [403, "permission_error", "Your API key does not have permission"],
        [404, "not_found_error", "model: claude-nope"]
      ] as const
    )(
      "HTTP %i fails at once with the error's type (%s), not retried",
      ([code, type, message]) =>
        Effect.gen(function*() {
          const { engine, fake } = yield* setup()
          yield* fake.plan(Fake.status(code, { type: "error", error: { type, message } }))
          const result = yield* Fake.run(engine.stream(engineRequest("x")))
          const failure = Fake.failureOf(result)
          assert.strictEqual(failure.code, type)
          assert.include(failure.message, `HTTP ${code}`)
          assert.deepStrictEqual(result.events, [])
          assert.strictEqual((yield* fake.requests).length, 1)
        })
    )
  })

  describe("retries", () => {
    it.effect("529 overloaded is retried with backoff, the retry event before the wait", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: "2 seconds" } })
        yield* fake.plan(overloaded, ok())
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const retry = yield* watched.next("retry")
        assert.strictEqual(retry.reason, "HTTP 529 overloaded_error")
        assert.isAtLeast(retry.delayMs, 1600)
        assert.isAtMost(retry.delayMs, 2400)
        assert.strictEqual((yield* fake.requests).length, 1)
        yield* TestClock.adjust(retry.delayMs)
        const result = yield* watched.done
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "Hello world")
      }))

    it.effect("429 with Retry-After waits exactly that long", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(
          Fake.status(429, { type: "error", error: { type: "rate_limit_error", message: "Number of requests" } }, {
            "retry-after": "3"
          }),
          ok()
        )
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const retry = yield* watched.next("retry")
        assert.deepStrictEqual(retry, { _tag: "retry", attempt: 1, reason: "HTTP 429 rate_limit_error", delayMs: 3000 })
        yield* TestClock.adjust("3 seconds")
        Fake.assertSuccess(yield* watched.done)
      }))

    it.effect("429 asking for longer than maxDelay fails at once with rate_limited", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { maxDelay: "10 seconds" } })
        yield* fake.plan(Fake.status(429, { type: "error", error: { type: "rate_limit_error", message: "slow" } }, {
          "retry-after": "60"
        }))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "rate_limited")
        assert.deepStrictEqual(result.events, [])
      }))

    it.effect("overloaded on every attempt fails overloaded_error after maxRetries", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { maxRetries: 3, baseDelay: 0 } })
        yield* fake.plan(overloaded, overloaded, Fake.status(500), overloaded)
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "overloaded_error")
        assert.include(failure.message, "4 attempts")
        assert.strictEqual(Fake.ofTag(result.events, "retry").length, 3)
        assert.strictEqual((yield* fake.requests).length, 4)
      }))
  })

  describe("timeouts (real time, small)", () => {
    const timeouts = { firstEventTimeout: "400 millis", idleTimeout: "400 millis", baseDelay: 0 } as const

    it.live("no answer at all: retried after firstEventTimeout, then failing first_event_timeout", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { ...timeouts, maxRetries: 1 } })
        yield* fake.plan(Fake.silent, Fake.silent)
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "first_event_timeout")
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), ["first-event timeout"])
        assert.isTrue(yield* (yield* fake.request(0)).closed)
        assert.isTrue(yield* (yield* fake.request(1)).closed)
      }))

    it.live("headers, then nothing: retried after firstEventTimeout", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: timeouts })
        yield* fake.plan(Fake.stream([Fake.stall]), ok(["second"]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "second")
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), ["first-event timeout"])
      }))

    it.live("silence after message_start fails idle_timeout (the reply had started: no retry)", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: timeouts })
        const [start, blockStart] = anthropic.reply({ text: [] })
        yield* fake.plan(Fake.stream([
          Fake.write(start!),
          Fake.write(blockStart!),
          Fake.write(anthropic.textDelta(0, "waiting")),
          Fake.stall
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "idle_timeout")
        assert.strictEqual(Fake.textOf(result.events), "waiting")
        assert.strictEqual((yield* fake.requests).length, 1)
        assert.isTrue(yield* (yield* fake.request(0)).closed)
      }))
  })

  describe("cancel", () => {
    it.live("interrupting mid-stream aborts the request: the fake sees the client close", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.endless)
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        yield* watched.next("text_delta")
        yield* Fiber.interrupt(watched.fiber)
        assert.isTrue(yield* (yield* fake.request(0)).closed)
      }))

    it.live("interrupting during a retry wait leaves no request open and sends no other", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: "10 seconds" } })
        yield* fake.plan(overloaded, ok())
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        yield* watched.next("retry")
        yield* Fiber.interrupt(watched.fiber)
        const [only, ...others] = yield* fake.requests
        assert.deepStrictEqual(others, [])
        assert.isFalse(yield* only!.closed, "the 529 reply had ended normally")
      }))
  })
  describe("sanitization", () => {
    it.effect("no key, base URL or prompt text in any event or failure, across the fault scenarios", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start
        const baseUrl = `${fake.origin}${Fake.secrets.basePath}`
        const engine = yield* AnthropicLlmEngine.make({
          baseUrl,
          model: "m",
          apiKey: Redacted.make(Fake.secrets.apiKey),
          policy: { maxRetries: 1, baseDelay: 0 }
        }).pipe(Effect.provide(FetchHttpClient.layer))
        for (const scenario of Fake.leakyScenarios("anthropic", baseUrl)) {
          yield* fake.plan(...scenario.replies)
          const result = yield* Fake.run(engine.stream(Fake.secretRequest()))
          Fake.assertNothingLeaks(result, Fake.needles(fake, baseUrl), scenario.name)
        }
        const sent = yield* fake.requests
        assert.isAtLeast(sent.length, 9)
        assert.include(JSON.stringify(sent[0]?.body), Fake.secrets.input, "the prompt did go to the provider")
      }))
  })
})
