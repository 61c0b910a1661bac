/**
 * A short embedded demo (`npm run demo`): a Runtime in this process with memory
 * adapters and the scripted engine, reached through the embedded client exactly as a backend would. It creates a
 * Companion, sends one message, prints the reply as it streams, then the transcript.
 */
import { NodeRuntime } from "@effect/platform-node"
import { RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Console, Effect, Layer, Stream } from "effect"

const program = Effect.gen(function*() {
  const client = yield* RuntimeClient.RuntimeClient
  const runtime = yield* client.GetRuntime()
  yield* Console.log(`runtime ${runtime.runtimeId} — engine: ${runtime.engine}`)
  const { worker } = yield* client.CreateWorker({
    displayName: "Companion",
    profile: { kind: "builtin", name: "companion" }
  })
  yield* Console.log(`created ${worker.displayRef} (${worker.ref.workerId}), profile ${worker.profileName}\n`)
  const text = "Hello! What can you do?"
  yield* Console.log(`you: ${text}`)
  const accepted = yield* client.SendInput({ workerId: worker.ref.workerId, input: { kind: "user", text } })
  yield* Effect.sync(() => process.stdout.write("companion: "))
  yield* client.WatchWorker({ workerId: worker.ref.workerId }).pipe(
    Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === accepted.runId),
    Stream.runForEach((item) =>
      item._tag === "text_delta" ? Effect.sync(() => process.stdout.write(item.delta)) : Effect.void
    )
  )
  yield* Console.log("\n\ntranscript:")
  const transcript = yield* client.GetTranscript({ workerId: worker.ref.workerId })
  for (const entry of transcript.entries) yield* Console.log(`  #${entry.seq} ${entry.kind}: ${entry.text}`)
  const usage = yield* client.GetUsage({ workerId: worker.ref.workerId })
  yield* Console.log(
    `\nusage: ${usage.usage.inputTokens} in / ${usage.usage.outputTokens} out over ${usage.usage.runs} run(s)`
  )
})

const Embedded = EmbeddedRuntimeClient.layer.pipe(
  Layer.provide(RuntimePresets.layerMemory({ runtimeId: "demo", engine: { delay: "40 millis" } }))
)

NodeRuntime.runMain(program.pipe(Effect.provide(Embedded)))
