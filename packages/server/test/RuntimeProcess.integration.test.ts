/**
 * The runtime as a real process: crash recovery after SIGKILL, crash atomicity under SIGKILL at random points of a
 * keyed, queued workload with a client that retries, a host-wide allocation table shared by two processes,
 * graceful SIGTERM, startup refusals, and a scan of everything the processes printed and answered for the token
 * and the data directory.
 */
import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { HttpRuntimeClient, type Requests, RuntimeClient, type RuntimeEvent } from "@yoi/domain"
import { Deferred, Effect, Exit, Layer, Random, Redacted, Stream } from "effect"
import {
  runCli,
  serveArgs,
  type ServerDirs,
  type ServerProcess,
  spawnServer,
  tempDir
} from "./support/serverProcess.ts"

const token = "process-token-7d2a91c4e6"
const secrets: Array<string> = [token]
const printed: Array<string> = []

afterAll(() => {
  assert.isAbove(printed.length, 3)
  for (const text of printed) for (const secret of secrets) assert.notInclude(text, secret)
})

/** A temp data directory, added to the strings no process output or answer may contain. */
const secretDir = Effect.tap(tempDir, (directory) => Effect.sync(() => secrets.push(directory)))
/** A secret data directory and an allocation directory for one runtime. */
const secretDirs = Effect.all({ dataDir: secretDir, allocationDir: tempDir })
/** `serve` arguments with a one-second grace, so a SIGTERM stop is quick. */
const argsFor = (dirs: ServerDirs, runtimeId: string) => serveArgs({ ...dirs, runtimeId, grace: 1 })
/** The environment every spawned server gets: the token comes from it. */
const env = { YOI_RUNTIME_TOKEN: token }

const withClient = <A, E>(
  server: ServerProcess,
  body: (client: RuntimeClient.RuntimeClientApi) => Effect.Effect<A, E>,
  clientToken: string | null = token
) =>
  Effect.flatMap(RuntimeClient.RuntimeClient, body).pipe(
    Effect.provide(HttpRuntimeClient.layer({
      url: server.url,
      token: clientToken === null ? undefined : Redacted.make(clientToken),
      timeout: "30 seconds"
    }))
  )

const record = <A>(value: A): A => {
  printed.push(JSON.stringify(value))
  return value
}

const eventsUpTo = (client: RuntimeClient.RuntimeClientApi, workerId: string, lastSeq: number) =>
  client.WatchWorker({ workerId }).pipe(
    Stream.takeUntil((item) => item._tag !== "snapshot" && item.seq >= lastSeq),
    Stream.runCollect,
    Effect.map((items) => items.filter((i): i is RuntimeEvent.WorkerEvent => i._tag !== "snapshot"))
  )

const TestServices = Layer.mergeAll(NodeServices.layer)

describe("runtime process", () => {
  it.live(
    "SIGKILL during 20 concurrent runs, then restart: nothing acknowledged is lost",
    () =>
      Effect.gen(function*() {
        const dirs = yield* secretDirs
        const first = yield* spawnServer(argsFor(dirs, "crash"), env)
        const acked = yield* withClient(first, (client) =>
          Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) =>
              Effect.gen(function*() {
                const { worker } = yield* client.CreateWorker({ displayName: `w${i}` })
                const accepted = yield* client.SendInput({
                  workerId: worker.ref.workerId,
                  input: { kind: "user", text: `/script {"deltas":100000,"delayMs":5}\nmessage ${i}` }
                })
                return record({ workerId: worker.ref.workerId, runId: accepted.runId, text: `message ${i}` })
              }),
            { concurrency: "unbounded" }
          ))
        // every run is in flight
        const running = yield* withClient(first, (client) => client.ListWorkers({ status: "running" }))
        assert.strictEqual(running.workers.length, 20)
        yield* first.kill("SIGKILL")
        const died = yield* first.exited
        assert.strictEqual(died.signal, "SIGKILL")
        printed.push(first.output())

        const second = yield* spawnServer(argsFor(dirs, "crash"), env)
        yield* withClient(second, (client) =>
          Effect.gen(function*() {
            const stillRunning = yield* client.ListWorkers({ status: "running" })
            assert.strictEqual(stillRunning.workers.length, 0)
            for (const ack of acked) {
              const detail = record(yield* client.GetWorker({ workerId: ack.workerId }))
              assert.strictEqual(detail.status, "idle")
              const transcript = record(yield* client.GetTranscript({ workerId: ack.workerId, limit: 200 }))
              const users = transcript.entries.filter((e) => e.kind === "user").map((e) => e.text)
              assert.include(users.join("\n"), ack.text)
              const events = yield* eventsUpTo(client, ack.workerId, detail.lastSeq)
              const failed = events.find((e) => e._tag === "run_failed" && e.runId === ack.runId)
              assert.strictEqual(failed?._tag === "run_failed" ? failed.reason : undefined, "runtime_restarted")
              const seqs = events.map((e) => e.seq)
              assert.deepStrictEqual(seqs, [...seqs].sort((a, b) => a - b))
              assert.strictEqual(new Set(seqs).size, seqs.length)
            }
            const target = acked[0]!.workerId
            const before = yield* client.GetWorker({ workerId: target })
            const again = yield* client.SendInput({
              workerId: target,
              input: { kind: "user", text: "after the crash" }
            })
            const tail = yield* client.WatchWorker({ workerId: target, after: before.lastSeq }).pipe(
              Stream.takeUntil((item) => item._tag === "run_finished" && item.runId === again.runId),
              Stream.runCollect
            )
            assert.isTrue(tail.some((item) => item._tag === "run_finished"))
            const newSeqs = tail.flatMap((item) => item._tag === "snapshot" ? [] : [item.seq])
            assert.isAbove(newSeqs[0]!, before.lastSeq)
          }))
        yield* second.kill("SIGTERM")
        assert.strictEqual((yield* second.exited).code, 0)
        printed.push(second.output())
      }).pipe(Effect.provide(TestServices)),
    { timeout: 120_000 }
  )

  it.live(
    "SIGKILL at random points of a keyed, queued workload, restart, retry with the same keys: each command once",
    () =>
      Effect.gen(function*() {
        const dirs = yield* secretDirs
        const args = argsFor(dirs, "atomic")
        const work = `{"deltas":3,"delayMs":15}`
        /** One client command; `answer` is its first answer, once the client got one. */
        interface Command {
          readonly worker: string
          readonly key: string
          readonly whenBusy?: "enqueue" | "interrupt"
          answer?: Requests.CreatedWorker | Requests.InputAccepted
        }
        const workerIds = new Map<string, string>()
        const commands: Array<Command> = []
        const creates = new Map<string, Command>()
        const kills: Array<number> = []

        /**
         * Sends every command without an answer, a Worker's in order and Workers in parallel, as a careful client
         * does after a restart; a command whose first answer is known must be answered the same. When `killAfter`
         * answers have arrived, the server is SIGKILLed; what is in flight then stays unanswered.
         */
        const drive = (server: ServerProcess, killAfter: number) =>
          withClient(server, (client) =>
            Effect.gen(function*() {
              let answered = 0
              const killed = yield* Deferred.make<void>()
              const answeredOne = Effect.suspend(() => {
                answered++
                return answered === killAfter
                  ? Effect.andThen(server.kill("SIGKILL"), Deferred.succeed(killed, undefined))
                  : Effect.void
              })
              const sendOne = (command: Command) =>
                Effect.gen(function*() {
                  if (yield* Deferred.isDone(killed)) return false
                  const text = `/script ${work} ${command.key}`
                  const workerId = workerIds.get(command.worker)
                  if (command.whenBusy === undefined) {
                    const exit = yield* Effect.exit(
                      client.CreateWorker({ idempotencyKey: command.key, initialInput: { kind: "user", text } })
                    )
                    if (Exit.isFailure(exit)) return false
                    const answer = record(exit.value)
                    const first = command.answer as Requests.CreatedWorker | undefined
                    if (first !== undefined) {
                      // the Worker has moved on since; the retry names the same Worker and the same initial input
                      assert.strictEqual(answer.worker.ref.workerId, first.worker.ref.workerId, command.key)
                      assert.deepStrictEqual(answer.input, first.input, `the retry of ${command.key} answers its input`)
                    }
                    command.answer = answer
                    workerIds.set(command.worker, answer.worker.ref.workerId)
                  } else {
                    const exit = yield* Effect.exit(client.SendInput({
                      workerId: workerId!,
                      input: { kind: "user", text },
                      whenBusy: command.whenBusy,
                      idempotencyKey: command.key
                    }))
                    if (Exit.isFailure(exit)) return false
                    const answer = record(exit.value)
                    if (command.answer !== undefined) {
                      assert.deepStrictEqual(answer, command.answer, `the retry of ${command.key} answers the same`)
                    }
                    command.answer = answer
                  }
                  yield* answeredOne
                  return true
                })
              const byWorker = new Map<string, Array<Command>>()
              for (const command of commands) {
                byWorker.set(command.worker, [...(byWorker.get(command.worker) ?? []), command])
              }
              yield* Effect.forEach(byWorker.values(), (queue) =>
                Effect.gen(function*() {
                  for (const command of queue) {
                    // A retried command is sent again even when answered: its key must give the same answer.
                    if (!(yield* sendOne(command))) {
                      return
                    }
                  }
                }), { concurrency: "unbounded", discard: true })
            }))

        const addRound = (round: number, newWorkers: number) => {
          for (let w = 0; w < newWorkers; w++) {
            const worker = `r${round}w${w}`
            const create: Command = { worker, key: `${worker}-create` }
            creates.set(worker, create)
            commands.push(create)
          }
          for (const worker of creates.keys()) {
            for (let i = 0; i < 3; i++) {
              commands.push({ worker, key: `${worker}-r${round}-${i}`, whenBusy: i === 2 ? "interrupt" : "enqueue" })
            }
          }
        }

        for (let round = 0; round < 3; round++) {
          addRound(round, round === 2 ? 1 : 2)
          const unanswered = commands.filter((c) => c.answer === undefined).length
          const killAfter = yield* Random.nextIntBetween(1, unanswered)
          kills.push(killAfter)
          const server = yield* spawnServer(args, env)
          yield* drive(server, commands.length - unanswered + killAfter)
          yield* server.kill("SIGKILL")
          assert.strictEqual((yield* server.exited).signal, "SIGKILL")
          printed.push(server.output())
        }

        const last = yield* spawnServer(args, env)
        yield* drive(last, Number.POSITIVE_INFINITY)
        const at = `kills after ${kills.join(", ")} answers`
        assert.isTrue(commands.every((c) => c.answer !== undefined), at)
        yield* withClient(last, (client) =>
          Effect.forEach(creates.keys(), (worker) =>
            Effect.gen(function*() {
              const workerId = workerIds.get(worker)!
              const before = yield* client.GetWorker({ workerId })
              if (before.status === "running" || before.queueLength > 0) {
                yield* client.WatchWorker({ workerId, after: before.lastSeq }).pipe(
                  Stream.takeUntil((item) => item._tag === "status_changed" && item.to === "idle"),
                  Stream.runDrain
                )
              }
              const detail = record(yield* client.GetWorker({ workerId }))
              const events = yield* eventsUpTo(client, workerId, detail.lastSeq)
              const transcript = record(yield* client.GetTranscript({ workerId, limit: 200 }))
              const seqs = events.map((e) => e.seq)
              for (let i = 1; i < seqs.length; i++) assert.isAbove(seqs[i]!, seqs[i - 1]!, `${at}: seqs increase`)
              const started = new Set(events.flatMap((e) => e._tag === "run_started" ? [e.runId] : []))
              const ends = events.filter((e) =>
                e._tag === "run_finished" || e._tag === "run_cancelled" || e._tag === "run_failed"
              )
              for (const end of ends) {
                assert.isTrue(started.has(end.runId), `${at}: ${end._tag} for a run that never started (${end.runId})`)
              }
              assert.strictEqual(new Set(ends.map((e) => e.runId)).size, ends.length, `${at}: a run ended twice`)
              assert.strictEqual(ends.length, started.size, `${at}: every run ended`)
              const users = transcript.entries.filter((e) => e.kind === "user").map((e) => e.text.split(" ").at(-1))
              for (const command of commands.filter((c) => c.worker === worker)) {
                const times = users.filter((key) => key === command.key).length
                assert.strictEqual(times, 1, `${at}: ${command.key} is in the transcript once (${users.join(" ")})`)
              }
              const created = creates.get(worker)!.answer as Requests.CreatedWorker
              assert.isDefined(created.input, `${at}: the create answered with its initial input`)
              assert.isTrue(started.has(created.input!.runId), `${at}: the initial input ran`)
              assert.strictEqual(detail.usage.runs, ends.length, `${at}: usage counts every run`)
              assert.strictEqual(detail.usage.failures, ends.filter((e) => e._tag === "run_failed").length, at)
              assert.strictEqual(detail.usage.cancellations, ends.filter((e) => e._tag === "run_cancelled").length, at)
            }), { concurrency: "unbounded", discard: true }))
        yield* last.kill("SIGTERM")
        assert.strictEqual((yield* last.exited).code, 0)
        printed.push(last.output())
      }).pipe(Effect.provide(TestServices)),
    { timeout: 120_000 }
  )

  it.live(
    "two processes on one allocation directory: overlapping write scopes conflict until the winner dies",
    () =>
      Effect.gen(function*() {
        const allocationDir = yield* tempDir
        const dataA = yield* secretDir
        const dataB = yield* secretDir
        const a = yield* spawnServer(argsFor({ dataDir: dataA, allocationDir }, "host-a"), env)
        const b = yield* spawnServer(argsFor({ dataDir: dataB, allocationDir }, "host-b"), env)
        const repo = `/srv/repo-${Date.now()}`
        const winner = yield* withClient(
          a,
          (client) => client.CreateWorker({ scope: [{ target: repo, permission: "write" }] })
        )
        const conflict = yield* withClient(
          b,
          (client) => Effect.flip(client.CreateWorker({ scope: [{ target: `${repo}/src`, permission: "write" }] }))
        )
        record(conflict)
        assert.strictEqual(conflict._tag, "ScopeConflict")
        if (conflict._tag === "ScopeConflict") {
          assert.deepStrictEqual(conflict.conflictsWith, { runtimeId: "host-a", workerId: winner.worker.ref.workerId })
          assert.notInclude(JSON.stringify(conflict), repo)
        }
        const reader = yield* withClient(
          b,
          (client) => client.CreateWorker({ scope: [{ target: repo, permission: "read" }] })
        )
        assert.strictEqual(reader.worker.status, "idle")
        yield* a.kill("SIGKILL")
        yield* a.exited
        printed.push(a.output())
        const claimed = yield* withClient(
          b,
          (client) => client.CreateWorker({ scope: [{ target: `${repo}/src`, permission: "write" }] })
        )
        assert.strictEqual(claimed.worker.scope[0]!.target, `${repo}/src`)
        printed.push(b.output())
      }).pipe(Effect.provide(TestServices)),
    { timeout: 60_000 }
  )

  it.live(
    "SIGTERM during a run: exit 0, the run is cancelled cleanly, and the store is consistent",
    () =>
      Effect.gen(function*() {
        const dirs = yield* secretDirs
        const first = yield* spawnServer(argsFor(dirs, "graceful"), env)
        const { workerId, runId } = yield* withClient(first, (client) =>
          Effect.gen(function*() {
            const { worker } = yield* client.CreateWorker({})
            const accepted = yield* client.SendInput({
              workerId: worker.ref.workerId,
              input: { kind: "user", text: "/script {\"deltas\":100000,\"delayMs\":5}\nlong" }
            })
            yield* client.SendInput({
              workerId: worker.ref.workerId,
              input: { kind: "user", text: "queued behind it" },
              whenBusy: "enqueue"
            })
            return { workerId: worker.ref.workerId, runId: accepted.runId }
          }))
        yield* first.kill("SIGTERM")
        const exit = yield* first.exited
        assert.strictEqual(exit.code, 0)
        printed.push(first.output())
        assert.include(first.output(), "shutting down")

        const second = yield* spawnServer(argsFor(dirs, "graceful"), env)
        yield* withClient(second, (client) =>
          Effect.gen(function*() {
            const detail = record(yield* client.GetWorker({ workerId }))
            const events = yield* eventsUpTo(client, workerId, detail.lastSeq)
            const cancelled = events.find((e) => e._tag === "run_cancelled" && e.runId === runId)
            assert.strictEqual(cancelled?._tag === "run_cancelled" ? cancelled.reason : undefined, "runtime_stopping")
            assert.isFalse(events.some((e) => e._tag === "run_failed" && e.runId === runId))
            const transcript = yield* client.GetTranscript({ workerId })
            const assistant = transcript.entries.find((e) => e.kind === "assistant" && e.runId === runId)
            assert.isTrue(assistant?.interrupted)
            // the queued input survived the shutdown and ran after the restart
            const users = transcript.entries.filter((e) => e.kind === "user").map((e) => e.text)
            assert.include(users, "queued behind it")
          }))
        yield* second.kill("SIGTERM")
        assert.strictEqual((yield* second.exited).code, 0)
        printed.push(second.output())
      }).pipe(Effect.provide(TestServices)),
    { timeout: 60_000 }
  )

  it.live("a token is required on every RPC of the process", () =>
    Effect.gen(function*() {
      const dirs = yield* secretDirs
      const server = yield* spawnServer(argsFor(dirs, "auth"), env)
      for (const clientToken of [null, "wrong-token"]) {
        const error = yield* withClient(server, (client) => Effect.flip(client.ListWorkers({})), clientToken)
        assert.strictEqual(record(error)._tag, "Unauthorized")
      }
      const ok = yield* withClient(server, (client) => client.GetRuntime())
      assert.strictEqual(record(ok).runtimeId, "auth")
      printed.push(server.output())
    }).pipe(Effect.provide(TestServices)), { timeout: 60_000 })

  it.live(
    "refuses a data directory another runtime process has open, with a clear message; the first keeps serving",
    () =>
      Effect.gen(function*() {
        const dirs = yield* secretDirs
        const first = yield* spawnServer(argsFor(dirs, "owner"), env)
        const second = yield* runCli(["serve", ...argsFor(dirs, "intruder")], env)
        printed.push(second.output)
        assert.notStrictEqual(second.code, 0)
        assert.include(second.output, "the data directory is in use by another runtime process")
        assert.notInclude(second.output, "listening on")
        const created = yield* withClient(first, (client) => client.CreateWorker({ displayName: "still here" }))
        assert.strictEqual(created.worker.ref.runtimeId, "owner")
        printed.push(first.output())
      }).pipe(Effect.provide(TestServices)),
    { timeout: 60_000 }
  )

  it.live("refuses a non-loopback bind without a token, with a clear message", () =>
    Effect.gen(function*() {
      const dirs = yield* secretDirs
      const result = yield* runCli(["serve", ...argsFor(dirs, "exposed"), "--host", "0.0.0.0"])
      printed.push(result.output)
      assert.notStrictEqual(result.code, 0)
      assert.include(result.output, "non-loopback")
      assert.notInclude(result.output, "listening on")
    }).pipe(Effect.provide(TestServices)), { timeout: 60_000 })
})
