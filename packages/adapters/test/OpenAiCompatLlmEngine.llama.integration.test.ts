/**
 * `OpenAiCompatLlmEngine` against a real llama.cpp server (`test/support/llamaServer.ts`, the tiny model): the shared
 * `LlmEngine` contract, then what only a real server shows: an interrupted stream makes llama-server cancel its task
 * (its own log line says so), and `max_tokens` ends `/loop` with the finish `length`. Each test starts its own
 * server, so the tests run concurrently.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { engineRequest } from "@yoi/domain/test/support/fixtures"
import { Effect, Fiber, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import * as OpenAiCompatLlmEngine from "../src/OpenAiCompatLlmEngine.ts"
import { llmEngineContract } from "./contract/LlmEngineContract.ts"
import * as Fake from "./support/fakeProvider.ts"
import * as LlamaServer from "./support/llamaServer.ts"

const reply = "Hello from a real llama.cpp server."
const cancelLine = /stop: cancel task, id_task = \d+/

/** A llama-server and an engine on it. */
const setup = Effect.gen(function*() {
  const server = yield* LlamaServer.start()
  const engine = yield* OpenAiCompatLlmEngine.make({
    name: "local-llama",
    baseUrl: server.baseUrl,
    model: "tiny",
    maxOutputTokens: 100_000
  })
  return { server, engine }
}).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, FetchHttpClient.layer)))

llmEngineContract(
  "OpenAI-compatible on a real llama-server",
  Effect.gen(function*() {
    const { engine, server } = yield* setup
    return {
      engine,
      reply: { input: "Say hello.", text: reply },
      longInput: "/loop",
      released: Effect.as(server.waitForLog(cancelLine), true)
    }
  })
)

describe("OpenAiCompatLlmEngine on a real llama-server", () => {
  it.live("the reply, its finish stop and usage as the server counts it", () =>
    Effect.gen(function*() {
      const { engine } = yield* setup
      const result = yield* Fake.run(engine.stream(engineRequest("Say hello.", { systemPrompt: "Be kind." })))
      Fake.assertSuccess(result)
      assert.strictEqual(Fake.textOf(result.events), reply)
      assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason: "stop" }])
      const [usage] = Fake.ofTag(result.events, "usage")
      assert.strictEqual(usage?.usage.outputTokens, 8, "7 words and </s>")
      assert.isAbove(usage?.usage.inputTokens ?? 0, 0)
    }))

  it.live("interrupting /loop mid-stream makes llama-server cancel the task", () =>
    Effect.gen(function*() {
      const { engine, server } = yield* setup
      const watched = yield* Fake.watch(engine.stream(engineRequest("/loop")))
      assert.include((yield* watched.next("text_delta")).delta, "tick")
      yield* Fiber.interrupt(watched.fiber)
      assert.match(yield* server.waitForLog(cancelLine), cancelLine)
    }))

  it.live("max_tokens from the profile ends /loop with the finish length, a complete reply", () =>
    Effect.gen(function*() {
      const { engine } = yield* setup
      const result = yield* Fake.run(engine.stream(engineRequest("/loop", { generation: { maxOutputTokens: 20 } })))
      Fake.assertSuccess(result)
      assert.strictEqual(Fake.textOf(result.events), " tick tock".repeat(10))
      assert.deepStrictEqual(Fake.ofTag(result.events, "finish"), [{ _tag: "finish", reason: "length" }])
      assert.strictEqual(Fake.ofTag(result.events, "usage")[0]?.usage.outputTokens, 20)
    }))
})
