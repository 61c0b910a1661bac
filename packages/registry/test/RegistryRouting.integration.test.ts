/**
 * Routing is by `runtimeId + workerId`: two runtimes holding Workers with the same ids (one data directory copied
 * from the other) never see each other's commands.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { RuntimeClient } from "@yoi/domain"
import { Audit, Policy, Registry } from "@yoi/registry"
import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Effect, FileSystem, Layer, Stream } from "effect"
import { alice } from "./support/viewers.ts"

const durable = (runtimeId: string, directory: string, allocationDirectory: string) =>
  EmbeddedRuntimeClient.layer.pipe(
    Layer.provide(RuntimePresets.layerFileSystem({ runtimeId, directory, allocationDirectory })),
    Layer.provide(NodeServices.layer),
    Layer.orDie
  )

describe("registry routing", () => {
  it.live("two runtimes with the same worker ids inside: no cross-routing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dirA = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-routing-a-" })
      const dirB = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-routing-b-" })
      const allocation = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-routing-alloc-" })

      // one runtime creates a Worker with a conversation, then stops; its data is copied for a second runtime
      const workerId = yield* Effect.gen(function*() {
        const client = yield* RuntimeClient.RuntimeClient
        const { worker } = yield* client.CreateWorker({ displayName: "Twin" })
        const accepted = yield* client.SendInput({
          workerId: worker.ref.workerId,
          input: { kind: "user", text: "shared past" }
        })
        yield* client.WatchWorker({ workerId: worker.ref.workerId }).pipe(
          Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === accepted.runId),
          Stream.runDrain
        )
        return worker.ref.workerId
      }).pipe(Effect.provide(durable("rt-a", dirA, allocation)))
      yield* fs.remove(dirB, { recursive: true })
      yield* fs.copy(dirA, dirB)

      const registry = Registry.layer({
        sources: [
          {
            kind: "embedded",
            runtimeId: "rt-a",
            displayName: "A",
            workspace: alice.workspace,
            client: durable("rt-a", dirA, allocation)
          },
          {
            kind: "embedded",
            runtimeId: "rt-b",
            displayName: "B",
            workspace: alice.workspace,
            client: durable("rt-b", dirB, allocation)
          }
        ]
      }).pipe(Layer.provide(Layer.mergeAll(Policy.layerWorkspace, Audit.layerMemory(), NodeServices.layer)))

      yield* Effect.gen(function*() {
        const reg = yield* Registry.RuntimeRegistry
        const a = { runtimeId: "rt-a", workerId }
        const b = { runtimeId: "rt-b", workerId }
        const all = yield* reg.listWorkers(alice, {})
        assert.deepStrictEqual(all.workers.map((w) => `${w.runtimeId}/${w.workerId}`).sort(), [
          `rt-a/${workerId}`,
          `rt-b/${workerId}`
        ])
        const accepted = yield* reg.sendInput(alice, a, { text: "only for A" })
        yield* reg.watchWorker(alice, a).pipe(
          Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === accepted.runId),
          Stream.runDrain
        )
        const transcriptA = yield* reg.getTranscript(alice, a, {})
        const transcriptB = yield* reg.getTranscript(alice, b, {})
        assert.strictEqual(transcriptA.total, 4)
        assert.strictEqual(transcriptB.total, 2)
        assert.notInclude(JSON.stringify(transcriptB), "only for A")
        yield* reg.stopWorker(alice, b)
        assert.strictEqual((yield* reg.getWorker(alice, b)).status, "stopped")
        assert.strictEqual((yield* reg.getWorker(alice, a)).status, "idle")
        assert.strictEqual((yield* reg.getUsage(alice, a)).usage.runs, 2)
        assert.strictEqual((yield* reg.getUsage(alice, b)).usage.runs, 1)
      }).pipe(Effect.provide(registry))
    }).pipe(Effect.provide(NodeServices.layer)), { timeout: 60_000 })
})
