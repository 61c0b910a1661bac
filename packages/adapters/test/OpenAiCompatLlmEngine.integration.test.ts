/**
 * `OpenAiCompatLlmEngine` over real HTTP against the fake provider: the shared `LlmEngine` contract, then the
 * protocol (request shape, deltas, tool calls, usage, finish reasons), the request policy (retries and their
 * delays, the cap, timeouts) and every fault the fake can produce. Waits on backoff use the `TestClock`; tests of
 * timeouts on sockets use small real timeouts.
 */
import { assert, describe, it } from "@effect/vitest"
import { engineRequest, historyEntry } from "@yoi/domain/test/support/fixtures"
import { DateTime, Effect, Fiber, Redacted } from "effect"
import { FetchHttpClient, Headers } from "effect/http"
import { TestClock } from "effect/testing"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as OpenAiCompatLlmEngine from "../src/OpenAiCompatLlmEngine.ts"
import { llmEngineContract } from "./contract/LlmEngineContract.ts"
import * as Fake from "./support/fakeProvider.ts"

const { openAi } = Fake

/** An engine on `baseUrl`, with fetch. */
const engineOn = (baseUrl: string, options: Partial<OpenAiCompatLlmEngine.Options> = {}) =>
  OpenAiCompatLlmEngine.make({ baseUrl, model: "default-model", ...options }).pipe(
    Effect.provide(FetchHttpClient.layer)
  )

/** A fake and an engine on it. */
const setup = (options: Partial<OpenAiCompatLlmEngine.Options> = {}) =>
  Effect.gen(function*() {
    const fake = yield* Fake.start
    const engine = yield* engineOn(fake.openAiBaseUrl, options)
    return { fake, engine }
  })

const ok = (text: ReadonlyArray<string> = ["Hello", " world"]) =>
  Fake.stream([...openAi.reply({ text }).map(Fake.write), Fake.end])

const lastRequestClosed = (fake: Fake.FakeProvider) =>
  Effect.flatMap(fake.requests, (requests) => requests.at(-1)?.closed ?? Effect.succeed(false))

llmEngineContract(
  "OpenAI-compatible on the fake",
  Effect.gen(function*() {
    const { engine, fake } = yield* setup()
    return {
      engine,
      reply: { input: "Say hello.", text: Fake.defaultReplyText },
      longInput: Fake.loopInput,
      reasoning: { input: "/think then say hello", text: Fake.defaultReasoningText },
      released: lastRequestClosed(fake)
    }
  })
)

/** A tool-call piece that repeats the tool's name, as some servers send them. */
const namedPiece = (args: string) =>
  `data: ${
    JSON.stringify({
      choices: [{
        index: 0,
        delta: { tool_calls: [{ index: 0, id: "c1", function: { name: "get_weather", arguments: args } }] }
      }]
    })
  }\n\n`

describe("OpenAiCompatLlmEngine", () => {
  describe("request", () => {
    it.effect("POSTs the conversation to {baseUrl}/chat/completions, streamed, with usage asked for", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ apiKey: Redacted.make("sk-test-key"), maxOutputTokens: 100 })
        const history = [
          historyEntry(1, "user", "first question"),
          historyEntry(2, "reasoning", "private thoughts"),
          historyEntry(3, "assistant", "first answer"),
          historyEntry(4, "tool_call", "{}"),
          historyEntry(5, "user", "second question"),
          historyEntry(6, "assistant", "cut sho", true)
        ]
        const request = engineRequest("the input", {
          systemPrompt: "Be brief.",
          history,
          model: "the-request-model",
          generation: { maxOutputTokens: 64, temperature: 0.25 }
        })
        Fake.assertSuccess(yield* Fake.run(engine.stream(request)))
        const [sent] = yield* fake.requests
        assert.strictEqual(sent?.path, "/v1/chat/completions")
        assert.strictEqual(sent?.headers.authorization, "Bearer sk-test-key")
        assert.isUndefined(sent?.headers.traceparent, "no trace headers to a third party")
        assert.isUndefined(sent?.headers.b3)
        assert.include(sent?.headers.accept ?? "", "text/event-stream")
        assert.include(sent?.headers["content-type"] ?? "", "application/json")
        assert.deepStrictEqual(sent?.body, {
          model: "the-request-model",
          stream: true,
          stream_options: { include_usage: true },
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: "first question" },
            { role: "assistant", content: "first answer" },
            { role: "user", content: "second question" },
            { role: "assistant", content: "cut sho\n\n[interrupted]" },
            { role: "user", content: "the input" }
          ],
          max_tokens: 64,
          temperature: 0.25
        })
      }))

    it.effect("max_tokens and temperature fall back to the options, and are left out when neither sets them", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start
        const withOptions = yield* engineOn(fake.openAiBaseUrl, { maxOutputTokens: 200, temperature: 0.7 })
        Fake.assertSuccess(yield* Fake.run(withOptions.stream(engineRequest("x"))))
        const bare = yield* engineOn(`${fake.openAiBaseUrl}/`)
        Fake.assertSuccess(yield* Fake.run(bare.stream(engineRequest("x", { systemPrompt: "" }))))
        const [first, second] = yield* fake.requests
        assert.deepInclude(first?.body, { max_tokens: 200, temperature: 0.7 })
        assert.strictEqual(second?.path, "/v1/chat/completions", "a trailing slash on the base URL is dropped")
        const body = second?.body as Record<string, unknown>
        assert.notProperty(body, "max_tokens")
        assert.notProperty(body, "temperature")
        assert.isUndefined(second?.headers.authorization, "no key, no authorization header")
        assert.deepStrictEqual(body.messages, [{ role: "user", content: "x" }], "an empty system prompt is left out")
      }))

    it.effect("info: the configured name (default openai-compatible), kind and default model", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start
        const named = yield* engineOn(fake.openAiBaseUrl, { name: "local-llama", model: "tiny" })
        assert.deepStrictEqual(named.info, {
          provider: "local-llama",
          kind: "openai-compatible",
          model: "tiny",
          scripted: false
        })
        assert.strictEqual((yield* engineOn(fake.openAiBaseUrl)).info.provider, "openai-compatible")
      }))
  })

  describe("reply", () => {
    it.effect("text deltas, then finish and usage normalised (prompt tokens include cached ones)", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...openAi.reply({
            text: ["Hel", "lo"],
            usage: { prompt_tokens: 1200, completion_tokens: 40, cached_tokens: 1000, reasoning_tokens: 15 }
          }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.tagsOf(result.events), ["text_delta", "text_delta", "finish", "usage"])
        assert.strictEqual(Fake.textOf(result.events), "Hello")
        assert.deepStrictEqual(result.events.at(-2), { _tag: "finish", reason: "stop" })
        const [usage] = Fake.ofTag(result.events, "usage")
        assert.deepStrictEqual({ ...usage?.usage }, {
          inputTokens: 1200,
          outputTokens: 40,
          cacheReadTokens: 1000,
          reasoningTokens: 15
        })
      }))

    it.effect("a server that reports no usage still ends with usage, all zero", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ content: "hi" })),
          Fake.write(openAi.chunk({}, "stop")),
          Fake.write(openAi.done),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        const usage = result.events.at(-1)
        assert.strictEqual(usage?._tag, "usage")
        if (usage?._tag === "usage") assert.strictEqual(usage.usage.inputTokens + usage.usage.outputTokens, 0)
      }))

    it.effect.each(["reasoning_content", "reasoning"] as const)(
      "reasoning in %s comes as reasoning deltas",
      (field) =>
        Effect.gen(function*() {
          const { engine, fake } = yield* setup()
          yield* fake.plan(Fake.stream([
            ...openAi.reply({ reasoning: ["Think", "ing."], reasoningField: field, text: ["Done."] }).map(Fake.write),
            Fake.end
          ]))
          const result = yield* Fake.run(engine.stream(engineRequest("x")))
          Fake.assertSuccess(result)
          assert.deepStrictEqual(Fake.tagsOf(result.events).slice(0, 3), [
            "reasoning_delta",
            "reasoning_delta",
            "text_delta"
          ])
          assert.strictEqual(Fake.reasoningOf(result.events), "Thinking.")
          assert.strictEqual(Fake.textOf(result.events), "Done.")
        })
    )

    it.effect("a server that repeats the tool's name in every piece gets it once", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          Fake.write(namedPiece("{\"city\":")),
          Fake.write(namedPiece("\"Oslo\"}")),
          Fake.write(
            `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] })}\n\n`
          ),
          Fake.write("data: [DONE]\n\n"),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "tool_call"), [
          { _tag: "tool_call", callId: "c1", name: "get_weather", input: "{\"city\":\"Oslo\"}" }
        ])
      }))

    it.effect("tool-call pieces are assembled into tool_call events, in order, then finish tool_use", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...openAi.reply({
            text: ["Checking."],
            toolCalls: [
              { id: "call_a", name: "get_weather", arguments: ["{\"ci", "ty\":", "\"Paris\"}"] },
              { id: "call_b", name: "get_time", arguments: [] }
            ]
          }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "tool_call"), [
          { _tag: "tool_call", callId: "call_a", name: "get_weather", input: "{\"city\":\"Paris\"}" },
          { _tag: "tool_call", callId: "call_b", name: "get_time", input: "{}" }
        ])
        assert.deepStrictEqual(Fake.tagsOf(result.events).slice(-4), ["tool_call", "tool_call", "finish", "usage"])
        assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason: "tool_use" }])
      }))

    it.effect.each(
      [
        ["stop", "stop"],
        ["length", "length"],
        ["tool_calls", "tool_use"],
        ["function_call", "tool_use"],
        ["eos_token", "other"]
      ] as const
    )("finish_reason %s is the finish %s", ([finishReason, reason]) =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([...openAi.reply({ text: ["a"], finishReason }).map(Fake.write), Fake.end]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason }])
      }))

    it.effect("content_filter fails content_filter after the partial text (and its usage)", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          ...openAi.reply({ text: ["Once upon", " a"], finishReason: "content_filter" }).map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "content_filter")
        assert.strictEqual(failure.provider, "openai-compatible")
        assert.strictEqual(Fake.textOf(result.events), "Once upon a")
        assert.deepStrictEqual(Fake.tagsOf(result.events), ["text_delta", "text_delta", "usage"])
      }))

    it.effect("a finish_reason without [DONE] is still a complete reply", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ content: "All" })),
          Fake.write(openAi.chunk({}, "stop")),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "All")
      }))

    it.effect("a `retry:` field in the stream is ignored", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const [first, ...rest] = openAi.reply({ text: ["a", "b"] })
        yield* fake.plan(Fake.stream([
          Fake.write(first!),
          Fake.write("retry: 3000\n\n"),
          Fake.write(": keep-alive comment\n\n"),
          ...rest.map(Fake.write),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "ab")
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry"), [])
      }))

    it.effect("UTF-8 characters split across two network writes arrive intact", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const text = "naïve café — 日本語 🎉"
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ role: "assistant", content: "" })),
          ...Fake.splitInsideCharacter(openAi.chunk({ content: text })),
          ...Fake.splitInsideCharacter(openAi.chunk({ content: "🎉" })),
          Fake.write(openAi.chunk({}, "stop")),
          Fake.write(openAi.done),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), `${text}🎉`)
        assert.isAtLeast((yield* fake.request(0)).writes(), 7, "the fake wrote the halves separately")
      }))
  })

  describe("faults", () => {
    it.effect("a stream that ends without [DONE] or a finish reason is stream_truncated, after the partial text", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ role: "assistant", content: "" })),
          Fake.write(openAi.chunk({ content: "trun" })),
          Fake.write(openAi.chunk({ content: "cated" })),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "stream_truncated")
        assert.strictEqual(Fake.textOf(result.events), "truncated")
      }))

    it.effect("an empty event stream is stream_truncated", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([Fake.end]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "stream_truncated")
        assert.deepStrictEqual(result.events, [])
      }))

    it.effect("a reset mid-stream after a delta is stream_broken, the delta already emitted, and not retried", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const gate = Fake.makeGate()
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ role: "assistant", content: "" })),
          Fake.write(openAi.chunk({ content: "par" })),
          Fake.write(openAi.chunk({ content: "tial" })),
          Fake.gate(gate),
          Fake.reset
        ]))
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        assert.strictEqual((yield* watched.next("text_delta")).delta, "par")
        assert.strictEqual((yield* watched.next("text_delta")).delta, "tial")
        yield* gate.open
        const result = yield* watched.done
        assert.strictEqual(Fake.failureOf(result).code, "stream_broken")
        assert.deepStrictEqual(Fake.tagsOf(result.events), ["text_delta", "text_delta"])
        assert.strictEqual((yield* fake.requests).length, 1)
      }))

    it.effect("malformed JSON in an event is invalid_stream, after the text before it", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ content: "ok so far" })),
          Fake.write("data: {\"choices\": [ {\"delta\": \n\n"),
          Fake.write(openAi.done),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "invalid_stream")
        assert.strictEqual(Fake.textOf(result.events), "ok so far")
      }))

    it.effect("a chunk of the wrong shape is invalid_stream", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([Fake.write("data: {\"choices\": \"nope\"}\n\n"), Fake.end]))
        assert.strictEqual(Fake.failureOf(yield* Fake.run(engine.stream(engineRequest("x")))).code, "invalid_stream")
      }))

    it.effect("a 200 that is not an event stream is invalid_stream", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.status(200, { choices: [{ message: { content: "not streamed" } }] }))
        const failure = Fake.failureOf(yield* Fake.run(engine.stream(engineRequest("x"))))
        assert.strictEqual(failure.code, "invalid_stream")
        assert.include(failure.message, "application/json")
      }))

    it.effect("an error chunk mid-stream fails with its code, after the text before it", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ content: "Half" })),
          Fake.write(openAi.error({ message: "The server had an error", type: "server_error", code: "overloaded" })),
          Fake.stall
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "overloaded")
        assert.include(failure.message, "The server had an error")
        assert.strictEqual(Fake.textOf(result.events), "Half")
        assert.isTrue(yield* (yield* fake.request(0)).closed, "the engine closed the stalled stream")
      }))

    it.effect("an error chunk with only a type fails with the type", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([Fake.write(openAi.error({ message: "nope", type: "server_error" })), Fake.end]))
        assert.strictEqual(Fake.failureOf(yield* Fake.run(engine.stream(engineRequest("x")))).code, "server_error")
      }))
  })

  describe("retries", () => {
    it.effect("429 with Retry-After (seconds): a retry event with that delay BEFORE the wait, then the reply", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(
          Fake.status(
            429,
            { error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" } },
            {
              "retry-after": "7"
            }
          ),
          ok()
        )
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const retry = yield* watched.next("retry")
        assert.deepStrictEqual(retry, {
          _tag: "retry",
          attempt: 1,
          reason: "HTTP 429 rate_limit_exceeded",
          delayMs: 7000
        })
        yield* TestClock.adjust("6999 millis")
        assert.strictEqual((yield* fake.requests).length, 1, "no second request before the delay")
        yield* TestClock.adjust("1 millis")
        const result = yield* watched.done
        Fake.assertSuccess(result)
        assert.strictEqual(result.events[0]?._tag, "retry", "the retry event comes first")
        assert.strictEqual(Fake.textOf(result.events), "Hello world")
        assert.strictEqual((yield* fake.requests).length, 2)
      }))

    it.effect("429 with retry-after-ms: the delay is what it asks, when that is longer than the backoff", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: "10 millis" } })
        yield* fake.plan(Fake.status(429, {}, { "retry-after-ms": "150", "retry-after": "1" }), ok())
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const retry = yield* watched.next("retry")
        assert.strictEqual(retry.delayMs, 150)
        assert.strictEqual(retry.reason, "HTTP 429")
        yield* TestClock.adjust("150 millis")
        Fake.assertSuccess(yield* watched.done)
      }))

    it.effect("a Retry-After shorter than the backoff (0 included) still waits the backoff", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: "400 millis" } })
        yield* fake.plan(Fake.status(429, {}, { "retry-after-ms": "0" }), ok())
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const retry = yield* watched.next("retry")
        assert.isAtLeast(retry.delayMs, 320, "backoff 400 ms ± 20%")
        yield* TestClock.adjust("1 second")
        Fake.assertSuccess(yield* watched.done)
      }))

    it.effect("503 with Retry-After as an HTTP date: the delay until that date", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const now = yield* DateTime.now
        const date = Headers.formatHttpDate(DateTime.add(now, { seconds: 12 }))
        yield* fake.plan(
          Fake.status(503, "<html>busy</html>", { "retry-after": date, "content-type": "text/html" }),
          ok()
        )
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const retry = yield* watched.next("retry")
        assert.strictEqual(retry.delayMs, 12_000)
        assert.strictEqual(retry.reason, "HTTP 503")
        yield* TestClock.adjust("12 seconds")
        Fake.assertSuccess(yield* watched.done)
      }))

    it.effect("5xx without Retry-After: jittered exponential backoff from baseDelay", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: "1 second", maxDelay: "30 seconds" } })
        yield* fake.plan(Fake.status(500), Fake.status(502), Fake.status(504), ok())
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        for (const [attempt, base] of [[1, 1000], [2, 2000], [3, 4000]] as const) {
          const retry = yield* watched.next("retry")
          assert.strictEqual(retry.attempt, attempt)
          assert.isAtLeast(retry.delayMs, base * 0.8)
          assert.isAtMost(retry.delayMs, base * 1.2)
          yield* TestClock.adjust(retry.delayMs)
        }
        const result = yield* watched.done
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), [
          "HTTP 500",
          "HTTP 502",
          "HTTP 504"
        ])
      }))

    it.effect("a computed backoff is capped at maxDelay", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: "10 seconds", maxDelay: "15 seconds" } })
        yield* fake.plan(Fake.status(500), Fake.status(500), ok())
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        const first = yield* watched.next("retry")
        assert.isAtMost(first.delayMs, 12_000)
        yield* TestClock.adjust(first.delayMs)
        assert.strictEqual((yield* watched.next("retry")).delayMs, 15_000, "20 s ± 20% capped at 15 s")
        yield* TestClock.adjust("15 seconds")
        Fake.assertSuccess(yield* watched.done)
      }))

    it.effect("a Retry-After longer than maxDelay fails at once with rate_limited, saying so", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { maxDelay: "30 seconds" } })
        yield* fake.plan(
          Fake.status(429, { error: { message: "slow down", code: "rate_limit_exceeded" } }, { "retry-after": "120" })
        )
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "rate_limited")
        assert.include(failure.message, "120 s")
        assert.include(failure.message, "30 s")
        assert.deepStrictEqual(result.events, [])
        assert.strictEqual((yield* fake.requests).length, 1)
      }))

    it.effect("408 and 425 are retried too", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: 0 } })
        yield* fake.plan(Fake.status(408), Fake.status(425), ok())
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), ["HTTP 408", "HTTP 425"])
      }))

    it.effect("after maxRetries the stream fails with the last reason", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { maxRetries: 2, baseDelay: 0 } })
        yield* fake.plan(
          Fake.status(503),
          Fake.status(500, { error: { message: "boom", type: "server_error" } }),
          Fake.status(429, { error: { message: "Too many requests", type: "requests", code: "rate_limit_exceeded" } })
        )
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "rate_limit_exceeded")
        assert.include(failure.message, "Too many requests")
        assert.include(failure.message, "3 attempts")
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.attempt), [1, 2])
        assert.strictEqual((yield* fake.requests).length, 3)
      }))

    it.effect("a 429 without an error code fails rate_limited once retries are exhausted", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { maxRetries: 0 } })
        yield* fake.plan(Fake.status(429, "Too Many Requests"))
        const failure = Fake.failureOf(yield* Fake.run(engine.stream(engineRequest("x"))))
        assert.strictEqual(failure.code, "rate_limited")
        assert.include(failure.message, "HTTP 429")
      }))

    it.effect.each(
      [
        [400, {
          error: { message: "The model does not exist", type: "invalid_request_error", code: "model_not_found" }
        }, "model_not_found"],
        [401, {
          error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" }
        }, "invalid_api_key"],
        [403, { error: { message: "Forbidden", type: "permission_error", code: null } }, "permission_error"],
        [404, "Not Found", "http_404"],
        [422, { error: "unprocessable" }, "http_422"]
      ] as const
    )(
      "HTTP %i fails at once with the provider's code, not retried",
      ([code, body, expected]) =>
        Effect.gen(function*() {
          const { engine, fake } = yield* setup()
          yield* fake.plan(Fake.status(code, body))
          const result = yield* Fake.run(engine.stream(engineRequest("x")))
          const failure = Fake.failureOf(result)
          assert.strictEqual(failure.code, expected)
          assert.include(failure.message, `HTTP ${code}`)
          assert.deepStrictEqual(result.events, [])
          assert.strictEqual((yield* fake.requests).length, 1)
        })
    )

    it.effect("a refused connection is retried, then fails connection_failed", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const engine = yield* engineOn(`http://127.0.0.1:${port}/v1`, { policy: { maxRetries: 2, baseDelay: 0 } })
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "connection_failed")
        assert.include(failure.message, "3 attempts")
        assert.notInclude(failure.message, String(port))
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), [
          "connection failed",
          "connection failed"
        ])
      }))

    it.effect("a reset after the headers, before any event, is retried as a connection failure", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { baseDelay: 0 } })
        yield* fake.plan(Fake.stream([Fake.pause(10), Fake.reset]), ok())
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), ["connection failed"])
      }))
  })

  describe("timeouts (real time, small)", () => {
    const timeouts = { firstEventTimeout: "400 millis", idleTimeout: "400 millis", baseDelay: 0 } as const

    it.live("no answer at all (stall before the first byte): retried after firstEventTimeout, the stalled request closed", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: timeouts })
        yield* fake.plan(Fake.silent, ok(["late"]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), ["first-event timeout"])
        assert.strictEqual(Fake.textOf(result.events), "late")
        assert.isTrue(yield* (yield* fake.request(0)).closed, "the engine gave up on the stalled request")
      }))

    it.live("stalling before the first byte on every attempt fails first_event_timeout", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: { ...timeouts, maxRetries: 1 } })
        yield* fake.plan(Fake.silent, Fake.silent)
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        const failure = Fake.failureOf(result)
        assert.strictEqual(failure.code, "first_event_timeout")
        assert.include(failure.message, "2 attempts")
        assert.strictEqual(Fake.ofTag(result.events, "retry").length, 1)
      }))

    it.live("headers, then nothing: retried after firstEventTimeout", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: timeouts })
        yield* fake.plan(Fake.stream([Fake.stall]), ok(["second"]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.ofTag(result.events, "retry").map((r) => r.reason), ["first-event timeout"])
        assert.isTrue(yield* (yield* fake.request(0)).closed)
      }))

    it.live("silence after the first events fails idle_timeout, keeping the text, and closes the request", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup({ policy: timeouts })
        yield* fake.plan(Fake.stream([
          Fake.write(openAi.chunk({ role: "assistant", content: "" })),
          Fake.write(openAi.chunk({ content: "waiting" })),
          Fake.stall
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        assert.strictEqual(Fake.failureOf(result).code, "idle_timeout")
        assert.strictEqual(Fake.textOf(result.events), "waiting")
        assert.strictEqual((yield* fake.requests).length, 1, "not retried")
        assert.isTrue(yield* (yield* fake.request(0)).closed)
      }))
  })

  describe("after [DONE] (real time, small)", () => {
    it.live("a body kept open after [DONE] is cut at once, and the reply is whole", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([...openAi.reply({ text: ["Hi"] }).map(Fake.write), Fake.stall]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.deepStrictEqual(Fake.tagsOf(result.events).slice(-2), ["finish", "usage"])
        assert.isTrue(yield* (yield* fake.request(0)).closed, "the client cut the open body")
      }))

    it.live("what follows [DONE] in the same read is not decoded: garbage there is no failure", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        const chunks = openAi.reply({ text: ["Hi"] })
        yield* fake.plan(Fake.stream([
          ...chunks.slice(0, -1).map(Fake.write),
          Fake.write(`${openAi.done}data: {not json\n\n`),
          Fake.end
        ]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "Hi")
      }))

    it.live("a reset right after [DONE] is no failure: the reply was whole", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.stream([...openAi.reply({ text: ["Hi"] }).map(Fake.write), Fake.pause(20), Fake.reset]))
        const result = yield* Fake.run(engine.stream(engineRequest("x")))
        Fake.assertSuccess(result)
        assert.strictEqual(Fake.textOf(result.events), "Hi")
      }))
  })

  describe("cancel", () => {
    it.live("interrupting mid-stream aborts the request: the fake sees the client close, and writes stop", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.endless)
        const watched = yield* Fake.watch(engine.stream(engineRequest("x")))
        yield* watched.next("text_delta")
        yield* Fiber.interrupt(watched.fiber)
        const recorded = yield* fake.request(0)
        assert.isTrue(yield* recorded.closed, "closed by the client before the reply ended")
        const writes = recorded.writes()
        assert.isBelow(writes, 100_000)
      }))

    it.live("interrupting while waiting for headers aborts the request", () =>
      Effect.gen(function*() {
        const { engine, fake } = yield* setup()
        yield* fake.plan(Fake.silent)
        const fiber = yield* Fake.run(engine.stream(engineRequest("x"))).pipe(
          Effect.forkChild({ startImmediately: true })
        )
        const recorded = yield* fake.request(0)
        yield* Fiber.interrupt(fiber)
        assert.isTrue(yield* recorded.closed)
      }))
  })
  describe("sanitization", () => {
    it.effect("no key, base URL or prompt text in any event or failure, across the fault scenarios", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start
        const baseUrl = `${fake.origin}${Fake.secrets.basePath}/v1`
        const engine = yield* OpenAiCompatLlmEngine.make({
          baseUrl,
          model: "m",
          apiKey: Redacted.make(Fake.secrets.apiKey),
          policy: { maxRetries: 1, baseDelay: 0 }
        }).pipe(Effect.provide(FetchHttpClient.layer))
        for (const scenario of Fake.leakyScenarios("openai", baseUrl)) {
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

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
const closedPort = Effect.callback<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})
