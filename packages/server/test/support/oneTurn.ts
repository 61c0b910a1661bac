/**
 * Test support: one turn against a served runtime through the HTTP RPC client — `CreateWorker`, `SendInput`, then
 * `WatchWorker` until that run's `run_finished` — so a test has spans, logs and counters from a real run.
 */
import { HttpRuntimeClient, RuntimeClient } from "@yoi/domain"
import { Effect, Redacted, Stream } from "effect"

export const oneTurn = (url: string, token?: string) =>
  Effect.gen(function*() {
    const client = yield* RuntimeClient.RuntimeClient
    const { worker } = yield* client.CreateWorker({ displayName: "observed" })
    const workerId = worker.ref.workerId
    const accepted = yield* client.SendInput({ workerId, input: { kind: "user", text: "hello" } })
    yield* client.WatchWorker({ workerId, after: accepted.eventSeq - 1 }).pipe(
      Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === accepted.runId),
      Stream.runDrain
    )
    return { workerId, runId: accepted.runId }
  }).pipe(
    Effect.provide(HttpRuntimeClient.layer({
      url,
      token: token === undefined ? undefined : Redacted.make(token),
      timeout: "30 seconds"
    }))
  )
