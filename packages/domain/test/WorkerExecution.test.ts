import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schema, Stream } from "effect"
import { EngineFailure } from "../src/Errors.ts"
import * as LlmEngine from "../src/LlmEngine.ts"
import * as LlmProviders from "../src/LlmProviders.ts"
import * as WorkerExecution from "../src/WorkerExecution.ts"
import * as WorkerStore from "../src/WorkerStore.ts"
import { minimalRecord, w1, workerRecord } from "./support/fixtures.ts"

const profile = new LlmEngine.Profile({ name: "companion", description: "", systemPrompt: "", tools: [] })

/** An engine that answers with its name and the request's model and input, in one delta. */
const engine = (provider: string): LlmEngine.LlmEngine["Service"] => ({
  info: { provider, kind: "test", model: `${provider}-model`, scripted: true },
  stream: (request) =>
    Stream.make({ _tag: "text_delta" as const, delta: `${provider}/${request.model}: ${request.input}` })
})

const request = (input: string): LlmEngine.EngineRequest => ({
  workerId: w1,
  runId: "r_1",
  profile,
  model: "m",
  history: [],
  input
})

const deltas = (stream: Stream.Stream<LlmEngine.EngineEvent, EngineFailure>) =>
  Effect.map(
    Stream.runCollect(stream),
    (events) => events.map((event) => event._tag === "text_delta" ? event.delta : event._tag)
  )

describe("WorkerExecution.fromProviders: the default execution", () => {
  const execution = WorkerExecution.fromProviders(LlmProviders.make([engine("alpha"), engine("beta")]))

  it.effect("binds for free, records nothing, and runs each turn on the Worker's provider", () =>
    Effect.gen(function*() {
      const beta = yield* execution.bind({ workerId: w1, profile, provider: "beta" })
      assert.isUndefined(beta.record)
      assert.deepStrictEqual(yield* deltas(beta.run(request("hi"))), ["beta/m: hi"])
      const alpha = yield* execution.bind({ workerId: w1, profile, provider: "alpha" })
      assert.deepStrictEqual(yield* deltas(alpha.run(request("yo"))), ["alpha/m: yo"])
    }).pipe(Effect.scoped))

  it.effect("a provider the configuration no longer has fails the runs (provider_unavailable), not the bind", () =>
    Effect.gen(function*() {
      const binding = yield* execution.bind({ workerId: w1, profile, provider: "gamma" })
      const failure = yield* Effect.flip(Stream.runDrain(binding.run(request("hi"))))
      assert.instanceOf(failure, EngineFailure)
      assert.strictEqual(failure.code, "provider_unavailable")
      assert.strictEqual(failure.provider, "gamma")
    }).pipe(Effect.scoped))

  it.effect("is never lost (it has no loss to wait on), and stops at once", () =>
    Effect.gen(function*() {
      const binding = yield* execution.bind({ workerId: w1, profile, provider: "alpha" })
      assert.isUndefined(binding.lost)
      yield* binding.stop(Duration.seconds(5))
      assert.deepStrictEqual(yield* deltas(binding.run(request("after"))), ["alpha/m: after"])
    }).pipe(Effect.scoped))

  it.effect("layerProviders builds it from the LlmProviders in context", () =>
    Effect.gen(function*() {
      const fromLayer = yield* WorkerExecution.WorkerExecution
      const binding = yield* fromLayer.bind({ workerId: w1, profile, provider: "solo" })
      assert.deepStrictEqual(yield* deltas(binding.run(request("x"))), ["solo/m: x"])
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerExecution.layerProviders),
      Effect.provideService(LlmProviders.LlmProviders, LlmProviders.make([engine("solo")]))
    ))
})

describe("BindingRecord in the Worker record", () => {
  const codec = Schema.toCodecJson(WorkerStore.WorkerRecord)

  it.effect("round-trips through the record's JSON, its state as written", () =>
    Effect.gen(function*() {
      const record = workerRecord(w1, 3)
      const json = JSON.parse(JSON.stringify(yield* Schema.encodeEffect(codec)(record)))
      const decoded = yield* Schema.decodeUnknownEffect(codec)(json)
      assert.deepStrictEqual(decoded.binding, record.binding)
      assert.deepStrictEqual(decoded.binding?.state, { host: "h3", n: [3, null] })
    }))

  it.effect("a record written before bindings (no field) still decodes, with none", () =>
    Effect.gen(function*() {
      const json = JSON.parse(JSON.stringify(yield* Schema.encodeEffect(codec)(minimalRecord(w1))))
      assert.notProperty(json, "binding")
      const decoded = yield* Schema.decodeUnknownEffect(codec)(json)
      assert.isUndefined(decoded.binding)
    }))
})
