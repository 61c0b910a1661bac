/**
 * The registry behavioural suite: one source behind a `RuntimeRegistry`, written once and run over an embedded
 * source (here) and a remote source backed by a real runtime process (in the server package). Every test builds
 * its own source and registry.
 */
import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Audit, Policy, Registry } from "@yoi/registry"
import { Effect, Layer, type Scope, Stream } from "effect"

/** A fresh source for one test, and the strings that must never appear in anything the registry returns. */
export interface SuiteSource {
  readonly source: Registry.SourceConfig
  readonly secrets: ReadonlyArray<string>
}

export type MakeSource = (runtimeId: string) => Effect.Effect<SuiteSource, unknown, Scope.Scope>

const alice: Policy.Viewer = { id: "alice", workspace: "ws-a" }
const mallory: Policy.Viewer = { id: "mallory", workspace: "ws-b" }
const slow = (text: string) => `/script {"deltas":100000,"delayMs":5}\n${text}`

export const registryBehaviour = (name: string, makeSource: MakeSource) => {
  const produced: Array<string> = []
  const secrets: Array<string> = []
  const keep = <A>(value: A): A => {
    produced.push(JSON.stringify(value))
    return value
  }
  afterAll(() => {
    for (const text of produced) for (const secret of secrets) assert.notInclude(text, secret)
  })

  const withRegistry = <A, E>(
    body: (registry: Registry.RuntimeRegistry["Service"], audit: Audit.Audit["Service"]) => Effect.Effect<A, E>
  ) =>
    Effect.gen(function*() {
      const suite = yield* makeSource("rt-under-test")
      secrets.push(...suite.secrets)
      const layer = Registry.layer({ sources: [suite.source], callTimeout: "20 seconds" }).pipe(
        Layer.provideMerge(Layer.mergeAll(Policy.layerWorkspace, Audit.layerMemory(), NodeServices.layer))
      )
      return yield* Effect.gen(function*() {
        return yield* body(yield* Registry.RuntimeRegistry, yield* Audit.Audit)
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped)

  describe(`RuntimeRegistry (${name})`, () => {
    it.live(
      "lists the runtime as available and routes a full conversation",
      () =>
        withRegistry((registry) =>
          Effect.gen(function*() {
            const runtimes = keep(yield* registry.listRuntimes(alice))
            assert.strictEqual(runtimes.length, 1)
            assert.strictEqual(runtimes[0]!.state, "available")
            assert.strictEqual(runtimes[0]!.runtimeId, "rt-under-test")
            const created = keep(yield* registry.createWorker(alice, "rt-under-test", { displayName: "Ada" }))
            const ref = { runtimeId: "rt-under-test", workerId: created.worker.workerId }
            assert.strictEqual(created.worker.displayRef, "Ada@rt-under-test")
            const accepted = keep(yield* registry.sendInput(alice, ref, { text: "hello" }))
            const items = yield* registry.watchWorker(alice, ref).pipe(
              Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === accepted.runId),
              Stream.runCollect
            )
            keep(items)
            assert.strictEqual(items[0]!._tag, "snapshot")
            const transcript = keep(yield* registry.getTranscript(alice, ref, {}))
            assert.deepStrictEqual(transcript.entries.map((e) => e.text), ["hello", "Scripted reply to: hello"])
            const worker = keep(yield* registry.getWorker(alice, ref))
            assert.strictEqual(worker.status, "idle")
            const usage = keep(yield* registry.getUsage(alice, ref))
            assert.strictEqual(usage.usage.runs, 1)
            const list = keep(yield* registry.listWorkers(alice, {}))
            assert.deepStrictEqual(list.workers.map((w) => w.workerId), [ref.workerId])
            assert.deepStrictEqual(list.runtimes.map((r) => r.state), ["available"])
          })
        ),
      { timeout: 60_000 }
    )

    it.live("the runtime's own errors pass through unchanged", () =>
      withRegistry((registry) =>
        Effect.gen(function*() {
          const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
          const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
          const first = yield* registry.sendInput(alice, ref, { text: slow("long") })
          const busy = keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: "again" })))
          assert.strictEqual(busy._tag, "WorkerBusy")
          if (busy._tag === "WorkerBusy") assert.strictEqual(busy.runId, first.runId)
          const blank = keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: "  " })))
          assert.strictEqual(blank._tag, "InvalidRequest")
          const cancelled = keep(yield* registry.cancelRun(alice, ref))
          assert.strictEqual(cancelled.outcome, "cancelled")
          assert.strictEqual(keep(yield* registry.stopWorker(alice, ref)).outcome, "stopped")
          const stopped = keep(yield* Effect.flip(registry.sendInput(alice, ref, { text: "more" })))
          assert.strictEqual(stopped._tag, "WorkerStopped")
          const missing = keep(
            yield* Effect.flip(registry.getWorker(alice, { runtimeId: "rt-under-test", workerId: "w_missing" }))
          )
          assert.strictEqual(missing._tag, "WorkerNotFound")
        })
      ), { timeout: 60_000 })

    it.live(
      "registry errors: unknown and invalid runtimes, invisible Workers",
      () =>
        withRegistry((registry) =>
          Effect.gen(function*() {
            const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
            const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
            const unknown = yield* Effect.flip(
              registry.getWorker(alice, { runtimeId: "nope", workerId: worker.workerId })
            )
            assert.strictEqual(unknown._tag, "UnknownRuntime")
            const invalid = yield* Effect.flip(registry.getRuntime(alice, "../etc"))
            assert.strictEqual(invalid._tag, "InvalidRequest")
            const invalidWorker = yield* Effect.flip(
              registry.getWorker(alice, { runtimeId: "rt-under-test", workerId: "a/b" })
            )
            assert.strictEqual(invalidWorker._tag, "InvalidRequest")
            assert.deepStrictEqual(yield* registry.listRuntimes(mallory), [])
            assert.deepStrictEqual((yield* registry.listWorkers(mallory, {})).workers, [])
            for (
              const attempt of [
                Effect.asVoid(registry.getWorker(mallory, ref)),
                Effect.asVoid(registry.sendInput(mallory, ref, { text: "hi" })),
                Effect.asVoid(registry.stopWorker(mallory, ref)),
                Effect.asVoid(registry.getTranscript(mallory, ref, {}))
              ]
            ) {
              const error = keep(yield* Effect.flip(attempt))
              assert.include(["UnknownRuntime", "WorkerNotVisible"], error._tag)
            }
            assert.strictEqual((yield* registry.getWorker(alice, ref)).status, "idle")
          })
        ),
      { timeout: 60_000 }
    )

    it.live(
      "every command is audited with viewer, action, ref and outcome",
      () =>
        withRegistry((registry, audit) =>
          Effect.gen(function*() {
            const { worker } = yield* registry.createWorker(alice, "rt-under-test", {})
            const ref = { runtimeId: "rt-under-test", workerId: worker.workerId }
            yield* registry.sendInput(alice, ref, { text: slow("long") })
            yield* Effect.flip(registry.sendInput(alice, ref, { text: "busy" }))
            yield* registry.cancelRun(alice, ref)
            yield* Effect.flip(registry.stopWorker(mallory, ref))
            yield* registry.stopWorker(alice, ref)
            const entries = yield* audit.entries
            assert.deepStrictEqual(entries.map((e) => [e.viewer, e.action, e.outcome]), [
              ["alice", "create", "ok"],
              ["alice", "input", "ok"],
              ["alice", "input", "WorkerBusy"],
              ["alice", "cancel", "ok"],
              ["mallory", "stop", "UnknownRuntime"],
              ["alice", "stop", "ok"]
            ])
            for (const entry of entries.slice(1)) assert.strictEqual(entry.workerId, ref.workerId)
          })
        ),
      { timeout: 60_000 }
    )
  })
}
