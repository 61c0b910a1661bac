/**
 * Every Runtime method is a named span (`Runtime.<method>`), streams included (their setup); every RPC is one too
 * (`RuntimeRpcs.<Rpc>`) on the embedded transport as on HTTP.
 */
import { assert, it } from "@effect/vitest"
import { RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient, Runtime, RuntimePresets } from "@yoi/runtime"
import { Effect, Layer, Stream, Tracer } from "effect"
import * as Harness from "./support/harness.ts"

/** A tracer that records the name of every span it opens. */
const recording = () => {
  const names: Array<string> = []
  const tracer = Tracer.make({
    span(options) {
      names.push(options.name)
      return new Tracer.NativeSpan(options)
    }
  })
  return { names, tracer }
}

it.effect("each Runtime method opens a span named after it", () => {
  const { names, tracer } = recording()
  return Effect.gen(function*() {
    const runtime = yield* Runtime.Runtime
    yield* runtime.getRuntime
    const created = yield* runtime.createWorker({})
    const workerId = created.worker.ref.workerId
    yield* runtime.sendInput({ workerId, input: Harness.inFlight })
    const queued = yield* runtime.sendInput({ workerId, input: { kind: "user", text: "next" }, whenBusy: "enqueue" })
    yield* runtime.cancelQueued({ workerId, inputId: queued.inputId })
    yield* runtime.cancelRun({ workerId })
    yield* runtime.listWorkers({})
    yield* runtime.getWorker({ workerId })
    yield* runtime.getTranscript({ workerId })
    yield* runtime.getUsage({})
    yield* Stream.runDrain(Stream.take(runtime.watchWorker({ workerId }), 1))
    yield* Stream.runDrain(Stream.take(runtime.watchRuntime({}), 1))
    yield* runtime.stopWorker({ workerId })
    yield* runtime.shutdown("1 second")
    const methods = [
      "getRuntime",
      "createWorker",
      "sendInput",
      "cancelQueued",
      "cancelRun",
      "listWorkers",
      "getWorker",
      "getTranscript",
      "getUsage",
      "watchWorker",
      "watchRuntime",
      "stopWorker",
      "shutdown"
    ]
    for (const method of methods) assert.include(names, `Runtime.${method}`)
  }).pipe(Effect.provide(RuntimePresets.layerMemory()), Effect.withTracer(tracer))
})

it.effect("an RPC through the embedded client is a span RuntimeRpcs.<Rpc>, as over HTTP", () => {
  const { names, tracer } = recording()
  return Effect.gen(function*() {
    const client = yield* RuntimeClient.RuntimeClient
    yield* client.GetRuntime()
    assert.include(names, "RuntimeRpcs.GetRuntime")
    assert.include(names, "Runtime.getRuntime")
  }).pipe(
    Effect.provide(EmbeddedRuntimeClient.layer.pipe(Layer.provide(RuntimePresets.layerMemory()))),
    Effect.withTracer(tracer)
  )
})
