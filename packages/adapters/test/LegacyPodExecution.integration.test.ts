/**
 * `LegacyPodExecution` against the fixture pod (`test/fixtures/legacyPod.ts`) as a real child process on a real Unix
 * socket (the Node connector from `@effect/platform-node`): a normal turn (exactly one `run` in the pod's journal),
 * the bind failures (exit before READY, never ready, malformed READY, a missing command, a socket path too long; none
 * leaves a process), a crash mid-run completing `lost`, stop (`shutdown` received, no process left, not even one
 * ignoring SIGTERM, nor its grandchild), cancel (exactly `{"method":"cancel"}`; a pod ignoring it is killed), the
 * handshake's variants (progress, alerts, a late socket, no snapshot, no listener), run rejections and ends, the
 * event mapping and framing. Waits on deadlines run on the live clock.
 *
 * Deliberately not here: the Runtime over pod-backed Workers (its own suite), the `worker` dialect, reconnects.
 */
import { NodeServices, NodeSocket } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { LegacyPodExecution, LegacyPodSocket } from "@yoi/adapters"
import { Ids, LlmEngine, type WorkerExecution } from "@yoi/domain"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FileSystem, Layer, Scope, Stream } from "effect"
import * as NodePath from "node:path"
import * as FixturePod from "./support/fixturePod.ts"

const connector = Layer.succeed(LegacyPodSocket.LegacyPodSocket)({ open: (path) => NodeSocket.makeNet({ path }) })

interface Setup {
  readonly dialect?: "pod" | "worker"
  readonly behaviour?: ReadonlyArray<string>
  readonly command?: string
  readonly readyTimeout?: Duration.Input
  readonly runtimeRoot?: (base: string) => string
}

/** An execution over the fixture in a fresh `/tmp` dir, and its journal. */
const setup = (options: Setup = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const base = yield* Effect.orDie(fs.makeTempDirectoryScoped({ directory: "/tmp", prefix: "ype-" }))
    const workspace = NodePath.join(base, "ws")
    yield* Effect.orDie(fs.makeDirectory(workspace))
    const journalPath = NodePath.join(base, "journal.jsonl")
    const execution = yield* LegacyPodExecution.make({
      command: options.command ?? process.execPath,
      dialect: options.dialect,
      args: [FixturePod.program],
      workspaceRoot: workspace,
      runtimeRoot: options.runtimeRoot?.(base) ?? NodePath.join(base, "run"),
      dataRoot: NodePath.join(base, "data"),
      readyTimeout: options.readyTimeout ?? "10 seconds",
      stopGrace: "1 second",
      cancelGrace: "2 seconds",
      env: {
        YOI_FIXTURE_POD_JOURNAL: journalPath,
        YOI_FIXTURE_POD_BEHAVIOUR: ["lifetime=60000", ...(options.behaviour ?? [])].join(",")
      }
    })
    const journal = fs.readFileString(journalPath).pipe(
      Effect.map((text) =>
        text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)
      ),
      Effect.orElseSucceed(() => [])
    )
    const methods = Effect.map(
      journal,
      (records) => records.flatMap((r) => r["at"] === "method" ? [String(r["method"])] : [])
    )
    return { execution, journal, methods }
  })

const profile = new LlmEngine.Profile({ name: "default", description: "", systemPrompt: "", tools: [] })
const target = (id = "w_pod1"): WorkerExecution.BindTarget => ({
  workerId: Ids.WorkerId.make(id),
  profile,
  provider: "legacy"
})
const request = (input: string): LlmEngine.EngineRequest => ({
  workerId: "w_pod1",
  runId: "r_1",
  profile,
  model: "fixture",
  history: [],
  input
})
const texts = (events: ReadonlyArray<LlmEngine.EngineEvent>) =>
  events.flatMap((e) => e._tag === "text_delta" ? [e.delta] : []).join("")
const pidOf = (binding: WorkerExecution.Binding) => Number((binding.record?.state as { pid?: number } | undefined)?.pid)

const bindFailure = (options: Setup) =>
  Effect.gen(function*() {
    const { execution, journal } = yield* setup(options)
    const exit = yield* Effect.exit(Effect.scoped(execution.bind(target())))
    assert.isTrue(Exit.isFailure(exit))
    // a failed bind leaves no process behind
    for (const record of yield* journal) {
      if (record["at"] === "launch") assert.isFalse(FixturePod.alive(Number(record["pid"])))
    }
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    const failure = error !== undefined && "error" in error ? error.error : undefined
    return failure as { readonly code: string; readonly message: string }
  })

/** The failure a run of `input` ends with, if any. */
const failing = (behaviour: ReadonlyArray<string>, input: string) =>
  Effect.gen(function*() {
    const { execution } = yield* setup({ behaviour })
    const binding = yield* execution.bind(target())
    const exit = yield* Effect.exit(Stream.runCollect(binding.run(request(input))))
    const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    return (reason !== undefined && "error" in reason ? reason.error : undefined) as { readonly code: string }
  })

layer(Layer.mergeAll(NodeServices.layer, connector))("LegacyPodExecution", (it) => {
  it.effect("the worker dialect: launched with --worker, and a turn runs", () =>
    Effect.gen(function*() {
      const { execution, journal } = yield* setup({ dialect: "worker" })
      const binding = yield* execution.bind(target())
      const launch = (yield* journal).find((r) => r["at"] === "launch")
      assert.strictEqual(launch?.["dialect"], "worker")
      assert.strictEqual(texts(yield* Stream.runCollect(binding.run(request("hi")))), "Echo: hi")
    }))

  for (const behaviour of ["crash_idle=50", "exit_idle=50"]) {
    it.effect(`${behaviour}: an idle pod that exits (even cleanly) completes lost`, () =>
      Effect.gen(function*() {
        const { execution } = yield* setup({ behaviour: [behaviour] })
        const binding = yield* execution.bind(target())
        const lost = yield* binding.lost!.pipe(Effect.timeout("5 seconds"))
        assert.strictEqual(lost.code, "legacy_pod_exited")
        assert.notInclude(lost.message, String(pidOf(binding)))
      }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))
  }

  it.effect("a normal turn: bind, run, text deltas and the end; exactly one run reaches the pod", () =>
    Effect.gen(function*() {
      const { execution, methods } = yield* setup()
      const binding = yield* execution.bind(target())
      assert.strictEqual(binding.record?.kind, "legacy_pod")
      const state = binding.record?.state as Record<string, unknown>
      assert.strictEqual(state["podName"], "w_pod1")
      assert.isTrue(FixturePod.alive(pidOf(binding)))
      const events = yield* Stream.runCollect(binding.run(request("hello there")))
      assert.strictEqual(texts(events), "Echo: hello there")
      assert.deepStrictEqual(events.at(-1), { _tag: "finish", reason: "stop" })
      assert.deepStrictEqual((yield* methods).filter((m) => m === "run"), ["run"])
    }))

  describe("bind failures", () => {
    it.effect("exit before READY → legacy_pod_exited_early", () =>
      Effect.gen(function*() {
        const failure = yield* bindFailure({ behaviour: ["exit_before_ready"] })
        assert.strictEqual(failure.code, "legacy_pod_exited_early")
        assert.strictEqual(failure.message, "the legacy pod exited before it was ready")
      }))
    // the deadline is on the clock in context: the live one here (it.effect's TestClock never advances by itself)
    it.effect("never ready → legacy_pod_timeout", () =>
      Effect.gen(function*() {
        const failure = yield* bindFailure({ behaviour: ["never_ready"], readyTimeout: "500 millis" })
        assert.strictEqual(failure.code, "legacy_pod_timeout")
      }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))
    it.effect("malformed READY → legacy_pod_protocol", () =>
      Effect.gen(function*() {
        const failure = yield* bindFailure({ behaviour: ["malformed_ready"] })
        assert.strictEqual(failure.code, "legacy_pod_protocol")
      }))
    it.effect("a missing command → legacy_pod_launch_failed, with no path in the message", () =>
      Effect.gen(function*() {
        const failure = yield* bindFailure({ command: "/nonexistent/yoi-pod" })
        assert.strictEqual(failure.code, "legacy_pod_launch_failed")
        assert.notInclude(failure.message, "/nonexistent")
      }))
    it.effect("a socket path over 100 bytes is refused before spawning", () =>
      Effect.gen(function*() {
        const failure = yield* bindFailure({ runtimeRoot: (base) => NodePath.join(base, "r".repeat(100)) })
        assert.strictEqual(failure.code, "legacy_pod_socket_path_too_long")
      }))
  })

  it.effect("a crash mid-run completes lost", () =>
    Effect.gen(function*() {
      const { execution } = yield* setup({ behaviour: ["crash_mid_run=1"] })
      const binding = yield* execution.bind(target())
      const lost = binding.lost
      assert.isDefined(lost)
      const pid = pidOf(binding)
      const outcome = yield* Effect.raceFirst(
        Effect.map(lost!, (l) => ({ lost: l })),
        Effect.map(Effect.exit(Stream.runDrain(binding.run(request("crash please")))), () => ({ lost: undefined }))
      ).pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(outcome.lost?.code, "legacy_pod_exited")
      assert.isFalse(FixturePod.alive(pid))
    }))

  it.effect("a pod that drops its socket but lives is killed, and lost completes (no reconnect yet)", () =>
    Effect.gen(function*() {
      const { execution } = yield* setup({ behaviour: ["drop_socket"] })
      const binding = yield* execution.bind(target())
      const pid = pidOf(binding)
      const lost = yield* Effect.raceFirst(
        binding.lost!,
        Effect.andThen(Effect.exit(Stream.runDrain(binding.run(request("one two three")))), Effect.never)
      ).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(lost.code, "legacy_pod_exited")
      assert.isFalse(FixturePod.alive(pid))
    }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))

  it.effect("stop: the pod receives shutdown, and no process is left", () =>
    Effect.gen(function*() {
      const { execution, methods } = yield* setup()
      const scope = yield* Scope.make()
      const binding = yield* execution.bind(target()).pipe(Scope.provide(scope))
      const pid = pidOf(binding)
      yield* binding.stop(Duration.seconds(3))
      // the pod has exited, yet a stopped binding is not lost
      const lost = yield* Effect.raceFirst(Effect.as(binding.lost!, true), Effect.as(Effect.yieldNow, false))
      assert.isFalse(lost)
      yield* Scope.close(scope, Exit.void)
      assert.include(yield* methods, "shutdown")
      assert.isFalse(FixturePod.alive(pid))
    }))

  it.effect("a consumer that stops early cancels: the pod receives cancel", () =>
    Effect.gen(function*() {
      const { execution, methods } = yield* setup({ behaviour: ["slow=300"] })
      const binding = yield* execution.bind(target())
      const first = yield* binding.run(request("one two three four five six")).pipe(
        Stream.take(1),
        Stream.runCollect
      )
      assert.strictEqual(first.length, 1)
      assert.deepStrictEqual((yield* methods).filter((m) => m === "run" || m === "cancel"), ["run", "cancel"])
    }))

  it.effect("interrupting a run sends exactly {\"method\":\"cancel\"} and the pod goes idle", () =>
    Effect.gen(function*() {
      const { execution, journal } = yield* setup({ behaviour: ["slow=300"] })
      const binding = yield* execution.bind(target())
      const firstDelta = yield* Deferred.make<void>()
      const fiber = yield* binding.run(request("one two three four five six")).pipe(
        Stream.runForEach(() => Deferred.succeed(firstDelta, undefined)),
        Effect.forkChild
      )
      yield* Deferred.await(firstDelta)
      yield* Fiber.interrupt(fiber)
      const methods = (yield* journal).filter((r) => r["at"] === "method")
      assert.deepStrictEqual(methods.map((r) => r["method"]), ["run", "cancel"])
      assert.strictEqual(String(methods[1]?.["raw"]).trim(), `{"method":"cancel"}`)
      // the pod is idle again: a second run is accepted and completes
      const events = yield* Stream.runCollect(binding.run(request("again")))
      assert.strictEqual(texts(events), "Echo: again")
    }))

  it.effect("a pod that ignores cancel is killed after the grace, and lost completes", () =>
    Effect.gen(function*() {
      const { execution } = yield* setup({ behaviour: ["slow=100", "ignore_cancel"] })
      const binding = yield* execution.bind(target())
      const pid = pidOf(binding)
      yield* binding.run(request(`/script {"loop":true} go on`)).pipe(Stream.take(1), Stream.runDrain)
      const lost = yield* binding.lost!.pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(lost.code, "legacy_pod_exited")
      assert.isFalse(FixturePod.alive(pid))
    }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))

  it.effect("a pod that ignores shutdown and SIGTERM leaves no process once its scope closes", () =>
    Effect.gen(function*() {
      const { execution, journal, methods } = yield* setup({ behaviour: ["ignore_shutdown", "fork_grandchild"] })
      const scope = yield* Scope.make()
      const binding = yield* execution.bind(target()).pipe(Scope.provide(scope))
      const pid = pidOf(binding)
      yield* binding.stop(Duration.millis(300))
      yield* Scope.close(scope, Exit.void)
      assert.include(yield* methods, "shutdown")
      assert.isFalse(FixturePod.alive(pid))
      const grandchildren = (yield* journal).flatMap((r) => r["at"] === "grandchild" ? [Number(r["grandchild"])] : [])
      assert.strictEqual(grandchildren.length, 1)
      assert.isFalse(FixturePod.alive(grandchildren[0]!))
    }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))

  describe("handshake and connect", () => {
    for (const behaviour of ["progress=3", "alerts=3", "socket_late=300"]) {
      it.effect(`${behaviour}: bound, and a turn runs`, () =>
        Effect.gen(function*() {
          const { execution } = yield* setup({ behaviour: [behaviour] })
          const binding = yield* execution.bind(target())
          assert.strictEqual(texts(yield* Stream.runCollect(binding.run(request("hi")))), "Echo: hi")
        }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))
    }
    for (const behaviour of ["no_snapshot", "never_listens"]) {
      it.effect(`${behaviour} → legacy_pod_timeout`, () =>
        Effect.gen(function*() {
          const failure = yield* bindFailure({ behaviour: [behaviour], readyTimeout: "700 millis" })
          assert.strictEqual(failure.code, "legacy_pod_timeout")
        }).pipe(Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())))
    }
    it.effect("a READY naming another pod → legacy_pod_protocol", () =>
      Effect.gen(function*() {
        const failure = yield* bindFailure({ behaviour: ["ready_wrong_name"] })
        assert.strictEqual(failure.code, "legacy_pod_protocol")
      }))
  })

  describe("runs", () => {
    it.effect("already_running → legacy_pod_busy; invalid_request → legacy_pod_rejected", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* failing(["reject_busy"], "hi")).code, "legacy_pod_busy")
        assert.strictEqual((yield* failing(["reject_invalid"], "hi")).code, "legacy_pod_rejected")
      }))
    it.effect("a provider error mid-run fails the run with provider_error", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* failing([], `/script {"fail":1} a b c`)).code, "provider_error")
      }))
    it.effect("limit_reached and paused fail; rolled_back completes", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* failing([], `/script {"end":"limit_reached"} a b`)).code, "limit_reached")
        assert.strictEqual((yield* failing([], `/script {"end":"paused"} a b`)).code, "paused_unsupported")
        assert.isUndefined(yield* failing([], `/script {"end":"rolled_back"} a b`))
      }))
    it.effect("every event kind: reasoning, a tool call and its result, a retry, usage; unknown events ignored", () =>
      Effect.gen(function*() {
        const { execution } = yield* setup({ behaviour: ["every_event"] })
        const binding = yield* execution.bind(target())
        const events = yield* Stream.runCollect(binding.run(request(`/script {"reasoning":"let me think"} hi`)))
        const tags = new Set(events.map((e) => e._tag))
        for (const tag of ["reasoning_delta", "tool_call", "tool_result", "retry", "usage", "text_delta", "finish"]) {
          assert.isTrue(tags.has(tag as LlmEngine.EngineEvent["_tag"]), tag)
        }
        assert.deepStrictEqual(events.find((e) => e._tag === "tool_call"), {
          _tag: "tool_call",
          callId: "call_1",
          name: "read_file",
          input: `{"path":"README.md"}`
        })
        assert.strictEqual(texts(events), "Echo: hi")
      }))
    for (const behaviour of ["split_chunks", "coalesce", "blank_lines", "garbage_line", "long_line"]) {
      it.effect(`framing, ${behaviour}: the turn's text is whole`, () =>
        Effect.gen(function*() {
          const { execution } = yield* setup({ behaviour: [behaviour] })
          const binding = yield* execution.bind(target())
          const events = yield* Stream.runCollect(binding.run(request("héllo wörld ✓ 🎉")))
          assert.strictEqual(texts(events), "Echo: héllo wörld ✓ 🎉")
        }))
    }
  })
})
