/**
 * Faults the transports cannot provoke: a failing store and a buggy engine. Nothing may hang, half-apply or leave a
 * Worker running.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryWorkerStore, ScriptedLlmEngine } from "@yoi/adapters"
import { Errors, LlmEngine, RuntimeClient } from "@yoi/domain"
import { EmbeddedRuntimeClient } from "@yoi/runtime"
import { Effect, Fiber, Layer, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Harness from "./support/harness.ts"

interface Faults {
  readonly failCommits: Ref.Ref<boolean>
  readonly failReads: Ref.Ref<boolean>
}

const failure = (operation: string) => new Errors.StoreFailure({ operation, message: "disk unavailable" })

/** Fails `operation` while `flag` is set. */
const failWhile = (flag: Ref.Ref<boolean>, operation: string) =>
  Effect.flatMap(Ref.get(flag), (fail) => fail ? Effect.fail(failure(operation)) : Effect.void)

const withFaults = <A, E>(
  engine: Layer.Layer<LlmEngine.LlmEngine>,
  body: (client: RuntimeClient.RuntimeClientApi, faults: Faults) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const faults: Faults = { failCommits: yield* Ref.make(false), failReads: yield* Ref.make(false) }
    const store = Harness.guarded(yield* MemoryWorkerStore.make, {
      commit: failWhile(faults.failCommits, "commit"),
      readTranscript: failWhile(faults.failReads, "readTranscript")
    })
    return yield* Effect.flatMap(RuntimeClient.RuntimeClient, (client) => body(client, faults)).pipe(
      Effect.provide(
        EmbeddedRuntimeClient.layer.pipe(
          Layer.provide(Harness.layer({ runtimeId: "faults", store, engine })),
          Layer.orDie
        )
      )
    )
  })

const untilIdle = (client: RuntimeClient.RuntimeClientApi, workerId: string) =>
  client.WatchWorker({ workerId }).pipe(
    Stream.takeUntil((item) => item._tag === "status_changed" && item.to === "idle"),
    Stream.runCollect
  )

describe("Runtime under faults", () => {
  it.effect("a failing commit refuses the input with StoreFailure and changes nothing", () =>
    withFaults(ScriptedLlmEngine.layer(), (client, faults) =>
      Effect.gen(function*() {
        const { worker } = yield* client.CreateWorker({})
        const workerId = worker.ref.workerId
        yield* Ref.set(faults.failCommits, true)
        const error = yield* Effect.flip(client.SendInput({ workerId, input: { kind: "user", text: "hi" } }))
        assert.strictEqual(error._tag, "StoreFailure")
        if (error._tag === "StoreFailure") assert.notInclude(error.message, "/")
        yield* Ref.set(faults.failCommits, false)
        const detail = yield* client.GetWorker({ workerId })
        assert.strictEqual(detail.status, "idle")
        assert.strictEqual(detail.lastSeq, 0)
        assert.strictEqual(detail.transcriptCount, 0)
        const accepted = yield* client.SendInput({ workerId, input: { kind: "user", text: "again" } })
        assert.strictEqual(accepted.transcriptSeq, 1)
      })))

  it.effect("a failing history read ends the run as run_failed instead of hanging", () =>
    withFaults(ScriptedLlmEngine.layer(), (client, faults) =>
      Effect.gen(function*() {
        const { worker } = yield* client.CreateWorker({})
        const workerId = worker.ref.workerId
        yield* Ref.set(faults.failReads, true)
        const watcher = yield* untilIdle(client, workerId).pipe(Effect.forkChild({ startImmediately: true }))
        yield* client.SendInput({ workerId, input: { kind: "user", text: "hi" } })
        const items = yield* Fiber.join(watcher)
        const failed = items.find((item) => item._tag === "run_failed")
        assert.strictEqual(failed?._tag === "run_failed" ? failed.reason : undefined, "store_failure")
        assert.strictEqual((yield* client.GetWorker({ workerId })).status, "idle")
      })))

  it.effect("an engine that dies ends the run as run_failed(internal_error); the Worker takes input again", () =>
    withFaults(
      Layer.succeed(LlmEngine.LlmEngine, {
        info: { provider: "broken", kind: "scripted", model: "broken", scripted: true },
        stream: () => Stream.die(new Error("boom"))
      }),
      (client) =>
        Effect.gen(function*() {
          const { worker } = yield* client.CreateWorker({})
          const workerId = worker.ref.workerId
          const watcher = yield* untilIdle(client, workerId).pipe(Effect.forkChild({ startImmediately: true }))
          yield* client.SendInput({ workerId, input: { kind: "user", text: "hi" } })
          const items = yield* Fiber.join(watcher)
          const failed = items.find((item) => item._tag === "run_failed")
          assert.strictEqual(failed?._tag === "run_failed" ? failed.reason : undefined, "internal_error")
          assert.notInclude(JSON.stringify(failed), "boom")
          const detail = yield* client.GetWorker({ workerId })
          assert.strictEqual(detail.status, "idle")
          assert.strictEqual(detail.lastError?.code, "internal_error")
          yield* TestClock.adjust("1 second")
          const again = yield* client.SendInput({ workerId, input: { kind: "user", text: "again" } })
          assert.strictEqual(again.status, "started")
        })
    ))
})
