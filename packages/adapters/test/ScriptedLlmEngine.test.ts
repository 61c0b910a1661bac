import { assert, describe, it } from "@effect/vitest"
import { Errors, LlmEngine } from "@yoi/domain"
import { engineRequest, historyEntry } from "@yoi/domain/test/support/fixtures"
import { Cause, Effect, Exit, Fiber, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as ScriptedLlmEngine from "../src/ScriptedLlmEngine.ts"
import { llmEngineContract } from "./contract/LlmEngineContract.ts"

llmEngineContract(
  "scripted",
  Effect.succeed({
    engine: ScriptedLlmEngine.make(),
    reply: { input: "hello there", text: "Scripted reply to: hello there" },
    longInput: `/script {"deltas":100000,"delayMs":5} stream for a while`,
    reasoning: { input: `/script {"reasoning":"Let me think about it."} hello`, text: "Let me think about it." }
  })
)

type Event = LlmEngine.EngineEvent

/** Runs the stream to its end and returns every event it emitted and how it ended. */
const run = Effect.fnUntraced(function*(stream: Stream.Stream<Event, Errors.EngineFailure>) {
  const events: Array<Event> = []
  const exit = yield* stream.pipe(Stream.runForEach((event) => Effect.sync(() => events.push(event))), Effect.exit)
  return { events, exit }
})

/** Runs a stream that must succeed. */
const collect = (engine: LlmEngine.LlmEngine["Service"], input: string) =>
  Stream.runCollect(engine.stream(engineRequest(input)))

/** Runs a stream that must fail with `EngineFailure`; returns the events before the failure, and the failure. */
const collectFailure = Effect.fnUntraced(function*(engine: LlmEngine.LlmEngine["Service"], input: string) {
  const { events, exit } = yield* run(engine.stream(engineRequest(input)))
  assert.isTrue(Exit.isFailure(exit), "the stream fails")
  if (Exit.isSuccess(exit)) return assert.fail("unreachable")
  const error = Cause.findErrorOption(exit.cause)
  assert.isTrue(error._tag === "Some", `a typed failure, not a defect: ${Cause.pretty(exit.cause)}`)
  if (error._tag === "None") return assert.fail("unreachable")
  assert.instanceOf(error.value, Errors.EngineFailure)
  return { events, error: error.value }
})

const textDeltas = (events: ReadonlyArray<Event>): Array<string> =>
  events.flatMap((e) => e._tag === "text_delta" ? [e.delta] : [])

const reasoningDeltas = (events: ReadonlyArray<Event>): Array<string> =>
  events.flatMap((e) => e._tag === "reasoning_delta" ? [e.delta] : [])

const tags = (events: ReadonlyArray<Event>): Array<string> => events.map((e) => e._tag)

/** A stream whose text deltas bump `counter` as they pass. */
const counted = (stream: Stream.Stream<Event, Errors.EngineFailure>, counter: Ref.Ref<number>) =>
  stream.pipe(Stream.tap((e) => e._tag === "text_delta" ? Ref.update(counter, (n) => n + 1) : Effect.void))

describe("ScriptedLlmEngine", () => {
  it("labels itself as scripted", () => {
    const engine = ScriptedLlmEngine.make()
    assert.isTrue(engine.info.scripted)
    assert.strictEqual(engine.info.provider, "scripted")
  })

  it.effect("by default replies to the input word by word, then reports usage", () =>
    Effect.gen(function*() {
      const events = yield* collect(ScriptedLlmEngine.make(), "hello world")
      const reply = "Scripted reply to: hello world"
      assert.deepStrictEqual(textDeltas(events), ["Scripted ", "reply ", "to: ", "hello ", "world"])
      assert.strictEqual(textDeltas(events).join(""), reply)
      assert.deepStrictEqual(tags(events), [...textDeltas(events).map(() => "text_delta"), "usage"])
      const usage = events.at(-1)
      assert.strictEqual(usage?._tag, "usage")
      if (usage?._tag !== "usage") return
      assert.strictEqual(usage.usage.inputTokens, Math.ceil("hello world".length / 4))
      assert.strictEqual(usage.usage.outputTokens, Math.ceil(reply.length / 4))
    }))

  it.effect("a configured reply (a string or a function of the request) replaces the default", () =>
    Effect.gen(function*() {
      const fixed = yield* collect(ScriptedLlmEngine.make({ reply: "  spaced   out  " }), "ignored")
      assert.strictEqual(textDeltas(fixed).join(""), "  spaced   out  ")
      const echo = yield* collect(ScriptedLlmEngine.make({ reply: (r) => r.input.toUpperCase() }), "shout this")
      assert.deepStrictEqual(textDeltas(echo), ["SHOUT ", "THIS"])
    }))

  it.effect("usage: characters / 4 of input + history and of the reply, or the configured function", () =>
    Effect.gen(function*() {
      const history = [
        historyEntry(1, "user", "x".repeat(10)),
        historyEntry(2, "assistant", "y".repeat(7))
      ]
      const events = yield* Stream.runCollect(
        ScriptedLlmEngine.make({ reply: "12345" }).stream(engineRequest("abc", { history }))
      )
      const usage = events.at(-1)
      if (usage?._tag !== "usage") return assert.fail("ends with usage")
      assert.strictEqual(usage.usage.inputTokens, Math.ceil((3 + 10 + 7) / 4))
      assert.strictEqual(usage.usage.outputTokens, 2)

      const custom = ScriptedLlmEngine.make({
        reply: "r",
        usage: (r, reply) => ({ ...usage.usage, inputTokens: r.input.length * 100, outputTokens: reply.length * 10 })
      })
      const last = (yield* collect(custom, "four")).at(-1)
      if (last?._tag !== "usage") return assert.fail("ends with usage")
      assert.strictEqual(last.usage.inputTokens, 400)
      assert.strictEqual(last.usage.outputTokens, 10)
    }))

  describe("deltas: N", () => {
    const reply = "The quick brown fox"
    it.effect.each([1, 2, 3, 4, 7, 18, 19])("%i deltas concatenate to the reply", (n) =>
      Effect.gen(function*() {
        const deltas = textDeltas(yield* collect(ScriptedLlmEngine.make({ reply, deltas: n }), "x"))
        assert.strictEqual(deltas.length, n)
        assert.strictEqual(deltas.join(""), reply)
        for (const delta of deltas) assert.isAbove(delta.length, 0)
      }))

    it.effect.each([4, 10, 50])(
      "%i deltas for a 3-character reply: exactly that many, none empty",
      (n) =>
        Effect.gen(function*() {
          const deltas = textDeltas(yield* collect(ScriptedLlmEngine.make({ reply: "abc", deltas: n }), "x"))
          assert.strictEqual(deltas.length, n)
          for (const delta of deltas) assert.isAbove(delta.length, 0)
        })
    )
  })

  describe("splitInto", () => {
    it("splits evenly at known points", () => {
      assert.deepStrictEqual(ScriptedLlmEngine.splitInto("abcd", 2), ["ab", "cd"])
      assert.deepStrictEqual(ScriptedLlmEngine.splitInto("abcdef", 3), ["ab", "cd", "ef"])
      assert.deepStrictEqual(ScriptedLlmEngine.splitInto("abc", 1), ["abc"])
      assert.deepStrictEqual(ScriptedLlmEngine.splitInto("abc", 3), ["a", "b", "c"])
      assert.deepStrictEqual(ScriptedLlmEngine.splitInto("ab", 5), ["a", "b", "a", "b", "a"])
    })

    const texts = ["", "a", "ab", "hello", "The quick brown fox jumps over the lazy dog", "  two  spaces  ", "ünïcödé"]
    const counts = Array.from({ length: 60 }, (_, i) => i + 1)
    it.each(texts)("for %j and every n in 1..60: n non-empty, balanced pieces", (text) => {
      for (const n of counts) {
        const pieces = ScriptedLlmEngine.splitInto(text, n)
        assert.strictEqual(pieces.length, n, `n = ${n}`)
        for (const piece of pieces) assert.isAbove(piece.length, 0, `n = ${n}`)
        const sizes = pieces.map((p) => p.length)
        assert.isAtMost(Math.max(...sizes) - Math.min(...sizes), 1, `n = ${n}: sizes differ by at most one`)
        if (text.length >= n) {
          assert.strictEqual(pieces.join(""), text, `n = ${n}: the pieces are the text`)
        } else if (text.length > 0) {
          assert.strictEqual(pieces.join(""), text.repeat(n).slice(0, n), `n = ${n}: the text, repeated`)
        }
      }
    })
  })

  it.effect("delay: one delta per delay on the Effect clock", () =>
    Effect.gen(function*() {
      const counter = yield* Ref.make(0)
      const engine = ScriptedLlmEngine.make({ reply: "a b c d", delay: "1 second" })
      const fiber = yield* Stream.runCollect(counted(engine.stream(engineRequest("x")), counter)).pipe(
        Effect.forkChild({ startImmediately: true })
      )
      assert.strictEqual(yield* Ref.get(counter), 0, "nothing before the first delay")
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Ref.get(counter), 2)
      assert.isUndefined(fiber.pollUnsafe(), "still streaming")
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(yield* Ref.get(counter), 2)
      yield* TestClock.adjust("2 seconds")
      const events = yield* Fiber.join(fiber)
      assert.deepStrictEqual(textDeltas(events), ["a ", "b ", "c ", "d"])
      assert.strictEqual(events.at(-1)?._tag, "usage")
    }))

  it.effect("a script's delayMs paces the stream too", () =>
    Effect.gen(function*() {
      const counter = yield* Ref.make(0)
      const engine = ScriptedLlmEngine.make()
      const fiber = yield* Stream.runCollect(
        counted(engine.stream(engineRequest(`/script {"reply":"abc","deltas":3,"delayMs":500}`)), counter)
      ).pipe(Effect.forkChild({ startImmediately: true }))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Ref.get(counter), 2)
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual(textDeltas(yield* Fiber.join(fiber)), ["a", "b", "c"])
    }))

  it.effect("interrupting the consumer of a delayed stream stops it", () =>
    Effect.gen(function*() {
      const counter = yield* Ref.make(0)
      const engine = ScriptedLlmEngine.make({ reply: "a b c d e", delay: "1 second" })
      const fiber = yield* Stream.runDrain(counted(engine.stream(engineRequest("x")), counter)).pipe(
        Effect.forkChild({ startImmediately: true })
      )
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Ref.get(counter), 1)
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* Ref.get(counter), 1, "no delta after the interrupt")
      const exit = fiber.pollUnsafe()
      assert.isTrue(exit !== undefined && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
    }))

  describe("injected failures", () => {
    it.effect("fail: \"before\" fails before any delta", () =>
      Effect.gen(function*() {
        const { error, events } = yield* collectFailure(ScriptedLlmEngine.make({ fail: "before" }), "x")
        assert.deepStrictEqual(events, [])
        assert.strictEqual(error.code, "scripted_failure")
        assert.strictEqual(error.provider, "scripted")
      }))

    it.effect.each([0, 1, 2, 3])(
      "fail: %i emits exactly that many deltas, then fails (no usage)",
      (k) =>
        Effect.gen(function*() {
          const engine = ScriptedLlmEngine.make({ reply: "one two three four", fail: k })
          const { error, events } = yield* collectFailure(engine, "x")
          assert.deepStrictEqual(tags(events), Array.from({ length: k }, () => "text_delta"))
          assert.deepStrictEqual(textDeltas(events), ["one ", "two ", "three "].slice(0, k))
          assert.strictEqual(error.code, "scripted_failure")
        })
    )

    it.effect("fail after more deltas than the reply has: every delta, then the failure", () =>
      Effect.gen(function*() {
        const { error, events } = yield* collectFailure(ScriptedLlmEngine.make({ reply: "a b", fail: 9 }), "x")
        assert.deepStrictEqual(textDeltas(events), ["a ", "b"])
        assert.deepStrictEqual(tags(events), ["text_delta", "text_delta"])
        assert.strictEqual(error.code, "scripted_failure")
      }))

    it.effect("a failure mid-stream keeps its pace: the failure comes after the k-th delay", () =>
      Effect.gen(function*() {
        const counter = yield* Ref.make(0)
        const engine = ScriptedLlmEngine.make({ reply: "a b c d", delay: "1 second", fail: 2 })
        const fiber = yield* Stream.runCollect(counted(engine.stream(engineRequest("x")), counter)).pipe(
          Effect.forkChild({ startImmediately: true })
        )
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Ref.get(counter), 1)
        assert.isUndefined(fiber.pollUnsafe())
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(fiber)
        assert.strictEqual(yield* Ref.get(counter), 2)
        assert.isTrue(Exit.isFailure(exit))
      }))
  })

  it.effect("reasoning streams as reasoning deltas before the text deltas", () =>
    Effect.gen(function*() {
      const engine = ScriptedLlmEngine.make({ reply: "the answer", reasoning: "let me think" })
      const events = yield* collect(engine, "x")
      assert.strictEqual(reasoningDeltas(events).join(""), "let me think")
      assert.strictEqual(textDeltas(events).join(""), "the answer")
      assert.deepStrictEqual(tags(events), [
        "reasoning_delta",
        "reasoning_delta",
        "reasoning_delta",
        "text_delta",
        "text_delta",
        "usage"
      ])
    }))

  describe("/script input directives", () => {
    it.effect("a script overrides the engine's options", () =>
      Effect.gen(function*() {
        const engine = ScriptedLlmEngine.make({ reply: "xyz uvw", deltas: 5, reasoning: "hmm" })
        const events = yield* collect(engine, `/script {"deltas":3,"reply":"abc"}`)
        assert.deepStrictEqual(textDeltas(events), ["a", "b", "c"])
        assert.deepStrictEqual(reasoningDeltas(events), ["hmm"], "unset fields fall back to the options")
        assert.strictEqual(events.at(-1)?._tag, "usage")
      }))

    it.effect("a script can inject reasoning and a failure", () =>
      Effect.gen(function*() {
        const { error, events } = yield* collectFailure(
          ScriptedLlmEngine.make(),
          `/script {"reply":"one two three","fail":1,"reasoning":"so"}`
        )
        assert.deepStrictEqual(tags(events), ["reasoning_delta", "text_delta"])
        assert.deepStrictEqual(textDeltas(events), ["one "])
        assert.strictEqual(error.code, "scripted_failure")
        const before = yield* collectFailure(ScriptedLlmEngine.make(), `/script {"fail":"before"}`)
        assert.deepStrictEqual(before.events, [])
      }))

    // The module docs: after `/script {json}` comes the prompt. The directive itself is not part of it, so the
    // default reply (and a reply function, and usage) must see only what follows the JSON object.
    it.effect("the lines after the directive are the prompt", () =>
      Effect.gen(function*() {
        const events = yield* collect(ScriptedLlmEngine.make(), `/script {"deltas":2}\nhello there`)
        assert.strictEqual(textDeltas(events).length, 2)
        assert.strictEqual(textDeltas(events).join(""), "Scripted reply to: hello there")
      }))

    it.effect("the prompt may follow the directive on the same line", () =>
      Effect.gen(function*() {
        for (
          const [input, prompt] of [
            [`/script {"deltas":2} hello there`, "hello there"],
            [`/script {"reply":"a } b","deltas":1}  two\nlines`, "two\nlines"],
            [`/script {"deltas":1}`, ""]
          ] as const
        ) {
          const engine = ScriptedLlmEngine.make({ reply: (request) => `<${request.input}>` })
          assert.strictEqual(
            textDeltas(yield* collect(engine, input)).join(""),
            input.includes("reply") ? "a } b" : `<${prompt}>`
          )
        }
      }))

    it.effect("unknown keys are named in the failure", () =>
      Effect.gen(function*() {
        const { error } = yield* collectFailure(ScriptedLlmEngine.make(), `/script {"delta":3,"reply":"x"} hi`)
        assert.strictEqual(error.code, "invalid_script")
        assert.include(error.message, `unknown key "delta"`)
        assert.include(error.message, "known: reply, deltas, delayMs, reasoning, fail")
        const wrong = yield* collectFailure(ScriptedLlmEngine.make(), `/script {"deltas":"3"} hi`)
        assert.include(wrong.error.message, "deltas")
      }))

    const malformed = [
      "{nope",
      "",
      "[]",
      "\"text\"",
      "null",
      `{"deltas":0}`,
      `{"deltas":1.5}`,
      `{"deltas":"3"}`,
      `{"fail":-1}`,
      `{"fail":"later"}`,
      `{"delayMs":-5}`,
      `{"reply":5}`,
      `{"deltas":2`,
      `{"deltas":2,"extra":true}`
    ]
    it.effect.each(malformed)(
      "a malformed script %j is an EngineFailure invalid_script, not a defect",
      (script) =>
        Effect.gen(function*() {
          const { error, events } = yield* collectFailure(ScriptedLlmEngine.make(), `/script ${script}\nprompt`)
          assert.deepStrictEqual(events, [])
          assert.strictEqual(error.code, "invalid_script")
          assert.strictEqual(error.provider, "scripted")
          assert.notInclude(error.message, "prompt")
        })
    )

    it.effect("inputScripts: false treats a directive as plain text", () =>
      Effect.gen(function*() {
        const engine = ScriptedLlmEngine.make({ inputScripts: false })
        const input = `/script {"deltas":3,"reply":"abc"}`
        const events = yield* collect(engine, input)
        assert.strictEqual(textDeltas(events).join(""), `Scripted reply to: ${input}`)
        assert.strictEqual(events.at(-1)?._tag, "usage")
        const malformed = yield* collect(engine, "/script {nope")
        assert.strictEqual(textDeltas(malformed).join(""), "Scripted reply to: /script {nope")
      }))

    it.effect("only a leading \"/script \" is a directive", () =>
      Effect.gen(function*() {
        for (const input of [` /script {"reply":"abc"}`, `/scripted {"reply":"abc"}`, `say /script {"reply":"abc"}`]) {
          const events = yield* collect(ScriptedLlmEngine.make(), input)
          assert.strictEqual(textDeltas(events).join(""), `Scripted reply to: ${input}`)
        }
      }))
  })

  it.effect("layer provides the engine under the LlmEngine port", () =>
    Effect.gen(function*() {
      const engine = yield* LlmEngine.LlmEngine
      assert.isTrue(engine.info.scripted)
      assert.deepStrictEqual(textDeltas(yield* collect(engine, "x")), ["fixed"])
    }).pipe(Effect.provide(ScriptedLlmEngine.layer({ reply: "fixed" }))))
})
