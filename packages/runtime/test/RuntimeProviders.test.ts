/**
 * Providers and profiles: a Runtime hosts Workers on several providers; a profile names its provider (or takes the
 * default) and may override the model; both are resolved at CreateWorker and recorded with the Worker, so a restart
 * — even with another default provider — keeps each Worker on its provider and model. A provider the configuration
 * no longer has fails that Worker's runs, typed, until it is back.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryWorkerStore, ScriptedLlmEngine } from "@yoi/adapters"
import { LlmEngine, LlmProviders, type RuntimeEvent, type WorkerStore } from "@yoi/domain"
import { Effect, Stream } from "effect"
import * as Harness from "./support/harness.ts"

const coder = new LlmEngine.Profile({
  name: "coder",
  description: "writes code",
  systemPrompt: "You write code.",
  tools: [],
  provider: "beta",
  model: "beta-large"
})
const stray = new LlmEngine.Profile({ name: "stray", description: "", systemPrompt: "", tools: [], provider: "zeta" })

/** A scripted provider that answers with its name and the model it was asked for. */
const provider = (name: string) => ScriptedLlmEngine.make({ name, reply: (request) => `${name} on ${request.model}` })

const runtimeOn = (
  store: WorkerStore.WorkerStore["Service"],
  names: ReadonlyArray<string>,
  defaultProvider?: string
) =>
  Harness.build({
    runtimeId: "providers",
    namedProfiles: [coder, stray],
    store,
    providers: LlmProviders.make(names.map(provider), defaultProvider)
  })

const replyOf = (events: ReadonlyArray<RuntimeEvent.WorkerEvent>) =>
  events.find((e): e is Extract<RuntimeEvent.WorkerEvent, { _tag: "text_done" }> => e._tag === "text_done")?.text

describe("Runtime providers", () => {
  it.effect("a profile picks its provider and model at create; views show both; runs use them", () =>
    Effect.scoped(Effect.gen(function*() {
      const runtime = yield* runtimeOn(yield* MemoryWorkerStore.make, ["alpha", "beta"])
      const plain = (yield* runtime.createWorker({})).worker
      const coding = (yield* runtime.createWorker({ profile: { kind: "named", name: "coder" } })).worker
      assert.deepStrictEqual([plain.provider, plain.model], ["alpha", "scripted"])
      assert.deepStrictEqual([coding.provider, coding.model, coding.profileName], ["beta", "beta-large", "coder"])
      assert.strictEqual(replyOf(yield* Harness.runToIdle(runtime, plain.ref.workerId, "hi")), "alpha on scripted")
      assert.strictEqual(replyOf(yield* Harness.runToIdle(runtime, coding.ref.workerId, "hi")), "beta on beta-large")
      const summary = yield* runtime.getRuntime
      assert.deepStrictEqual(
        summary.providers.map((p) => [p.name, p.kind, p.isDefault]),
        [["alpha", "scripted", true], ["beta", "scripted", false]]
      )
      const listed = yield* runtime.listWorkers({})
      assert.deepStrictEqual(listed.workers.map((w) => w.provider), ["alpha", "beta"])
    })))

  it.effect("a profile on a provider this runtime does not have, or an unknown named profile, is InvalidProfile", () =>
    Effect.scoped(Effect.gen(function*() {
      const runtime = yield* runtimeOn(yield* MemoryWorkerStore.make, ["alpha"])
      const stray = yield* Effect.flip(runtime.createWorker({ profile: { kind: "named", name: "stray" } }))
      assert.strictEqual(stray._tag, "InvalidProfile")
      const unknown = yield* Effect.flip(runtime.createWorker({ profile: { kind: "named", name: "nobody" } }))
      assert.strictEqual(unknown._tag, "InvalidProfile")
      assert.strictEqual((yield* runtime.listWorkers({})).workers.length, 0)
    })))

  it.effect("a restart keeps each Worker on its provider and model, even with another default", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const ids = yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(store, ["alpha", "beta"])
        const plain = (yield* runtime.createWorker({})).worker.ref.workerId
        const coding = (yield* runtime.createWorker({ profile: { kind: "named", name: "coder" } })).worker.ref.workerId
        yield* runtime.shutdown("1 second")
        return { plain, coding }
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(store, ["alpha", "beta"], "beta")
        assert.strictEqual((yield* runtime.getWorker({ workerId: ids.plain })).provider, "alpha")
        assert.strictEqual(replyOf(yield* Harness.runToIdle(runtime, ids.plain, "again")), "alpha on scripted")
        assert.strictEqual(replyOf(yield* Harness.runToIdle(runtime, ids.coding, "again")), "beta on beta-large")
        const fresh = (yield* runtime.createWorker({})).worker
        assert.strictEqual(fresh.provider, "beta")
      }))
    }))

  it.effect("a Worker whose provider is no longer configured fails its runs (provider_unavailable), then works again", () =>
    Effect.gen(function*() {
      const store = yield* MemoryWorkerStore.make
      const coding = yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(store, ["alpha", "beta"])
        return (yield* runtime.createWorker({ profile: { kind: "named", name: "coder" } })).worker.ref.workerId
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(store, ["alpha"])
        const events = yield* Harness.runToIdle(runtime, coding, "hello")
        const failed = events.find((e) => e._tag === "run_failed")
        assert.strictEqual(failed?._tag === "run_failed" ? failed.code : undefined, "provider_unavailable")
        const worker = yield* runtime.getWorker({ workerId: coding })
        assert.strictEqual(worker.status, "idle")
        assert.strictEqual(worker.provider, "beta")
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* runtimeOn(store, ["alpha", "beta"])
        assert.strictEqual(replyOf(yield* Harness.runToIdle(runtime, coding, "hello")), "beta on beta-large")
      }))
    }))

  it.effect("a provider's retries reach every watcher as durable retry events; its finish reason reaches run_finished", () =>
    Effect.scoped(Effect.gen(function*() {
      const flaky: LlmEngine.LlmEngine["Service"] = {
        info: { provider: "flaky", kind: "scripted", model: "m", scripted: true },
        stream: () =>
          Stream.fromArray<LlmEngine.EngineEvent>([
            { _tag: "retry", attempt: 1, reason: "HTTP 429", delayMs: 1500 },
            { _tag: "text_delta", delta: "tick tock" },
            { _tag: "finish", reason: "length" }
          ])
      }
      const store = yield* MemoryWorkerStore.make
      const runtime = yield* Harness.build({ runtimeId: "finish", store, providers: LlmProviders.make([flaky]) })
      const { worker } = yield* runtime.createWorker({})
      const events = yield* Harness.runToIdle(runtime, worker.ref.workerId, "go")
      const retry = events.find((e) => e._tag === "retry")
      assert.deepStrictEqual(
        retry?._tag === "retry" ? [retry.attempt, retry.reason, retry.delayMs] : [],
        [1, "HTTP 429", 1500]
      )
      const persisted = yield* store.readEvents(worker.ref.workerId, { after: 0, limit: 100 })
      assert.isTrue(persisted.some((e) => e._tag === "retry"), "a retry is durable: a late watcher replays it")
      const finished = events.find((e) => e._tag === "run_finished")
      assert.strictEqual(finished?._tag === "run_finished" ? finished.finishReason : "none", "length")
      assert.strictEqual(replyOf(events), "tick tock")
    })))
})
