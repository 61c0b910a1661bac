/**
 * The fixture pod (`test/fixtures/legacyPod.ts`) against the protocol it stands in for, as real child processes on
 * real Unix sockets (`test/support/fixturePod.ts`): a normal turn in both dialects (READY, snapshot, `run` accepted by
 * `user_message`, deltas, the end events, exactly one `run` in its journal), cancel, shutdown, a crash mid-run, a pod
 * that ignores SIGTERM, a malformed READY, an exit before READY, framing (split UTF-8, blank and non-JSON lines, an
 * over-long line), buffered alerts, a foreign turn and a grandchild that dies with the group.
 *
 * Deliberately not here: any adapter (its own tests drive this fixture), and timing: every wait is on output, bounded.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import * as Fs from "node:fs"
import * as FixturePod from "./support/fixturePod.ts"

const texts = (lines: ReadonlyArray<FixturePod.Line>) =>
  lines.flatMap((l) => l.event === "text_delta" ? [String(l.data["text"])] : []).join("")
const events = (lines: ReadonlyArray<FixturePod.Line>) => lines.flatMap((l) => l.event === undefined ? [] : [l.event])
const isIdle = (l: FixturePod.Line) => l.event === "status" && l.data["status"] === "idle"
/** The text of a snapshot's in-flight blocks. */
const inFlightText = (line: FixturePod.Line) => {
  const blocks = (line.data["in_flight"] as { readonly blocks?: ReadonlyArray<Record<string, unknown>> } | undefined)
    ?.blocks
  return blocks === undefined ? "" : blocks.map((b) => String(b["text"])).join("")
}
/** A spawned, ready fixture and a connection past its snapshot. */
const started = (options: FixturePod.SpawnOptions = {}) =>
  Effect.gen(function*() {
    const pod = yield* FixturePod.spawn(options)
    const { socket } = yield* pod.ready()
    const conn = yield* FixturePod.connect(socket)
    const greeting = yield* conn.until((l) => l.event === "snapshot")
    return { pod, socket, conn, snapshot: greeting.at(-1)!, before: greeting.slice(0, -1) }
  })

layer(NodeServices.layer)("LegacyPodFixture", (it) => {
  describe("a normal turn", () => {
    for (const dialect of ["pod", "worker"] as const) {
      it.effect(`${dialect}: READY, snapshot, run → user_message → deltas → run_end, exactly one run`, () =>
        Effect.gen(function*() {
          const { pod, socket, conn, snapshot, before } = yield* started({ dialect, name: "w_normal" })
          assert.strictEqual(socket, pod.socketPath)
          assert.deepStrictEqual(before, [])
          assert.strictEqual(snapshot.data["status"], "idle")
          assert.strictEqual((snapshot.data["greeting"] as Record<string, unknown>)[`${dialect}_name`], "w_normal")
          assert.isUndefined(snapshot.data["in_flight"])
          const [launch] = yield* pod.journal
          assert.deepStrictEqual(
            [launch?.["stdin"], launch?.["stdout"], launch?.["cwd"], launch?.["dialect"]],
            ["char", "char", pod.workspace, dialect]
          )
          assert.deepStrictEqual(launch?.["argv"], ["--workspace", pod.workspace, `--${dialect}`, "w_normal"])
          assert.include(yield* pod.stderr, `${dialect}: w_normal listening on ${pod.socketPath}`)

          yield* conn.send(FixturePod.run("hello fixture"))
          const lines = yield* conn.until(isIdle)
          const accepted = lines.find((l) => l.event === "user_message")
          assert.deepStrictEqual(accepted?.data["segments"], [{ kind: "text", content: "hello fixture" }])
          assert.isBelow(events(lines).indexOf("invoke_start"), events(lines).indexOf("user_message"))
          assert.strictEqual(texts(lines), "Echo: hello fixture")
          assert.isAbove(lines.filter((l) => l.event === "text_delta").length, 1)
          assert.deepStrictEqual(lines.find((l) => l.event === "run_end")?.data, { result: "finished" })
          assert.deepStrictEqual(events(lines).slice(-2), ["run_end", "status"])
          assert.deepStrictEqual(yield* pod.methods, ["run"])
          const status = JSON.parse(Fs.readFileSync(`${pod.podDir}/status.json`, "utf8"))
          assert.deepStrictEqual([status.state, status[`${dialect}_name`]], ["idle", "w_normal"])

          // the dialect's own method names only
          yield* conn.send({ method: `list_${dialect}s` })
          assert.strictEqual((yield* conn.next()).event, `${dialect}s_listed`)
          yield* conn.send({ method: dialect === "pod" ? "list_workers" : "list_pods" })
          assert.strictEqual((yield* conn.next()).data["code"], "invalid_request")
        }))
    }

    it.effect("a run while running is already_running; a non-JSON line is invalid_request", () =>
      Effect.gen(function*() {
        const { pod, conn } = yield* started({ script: { delayMs: 50, deltas: 20 } })
        yield* conn.send(FixturePod.run("first"))
        yield* conn.until((l) => l.event === "text_delta")
        yield* conn.send(FixturePod.run("second"))
        const busy = yield* conn.until((l) => l.event === "error")
        assert.strictEqual(busy.at(-1)!.data["code"], "already_running")
        yield* conn.send("not json\n")
        const invalid = yield* conn.until((l) => l.event === "error")
        assert.strictEqual(invalid.at(-1)!.data["code"], "invalid_request")
        assert.deepStrictEqual(yield* pod.methods, ["run", "run"])
      }))
  })

  it.effect("cancel mid-run: exactly {\"method\":\"cancel\"} arrives, the run ends, nothing of it follows", () =>
    Effect.gen(function*() {
      const { pod, conn } = yield* started({ script: { delayMs: 50, deltas: 40 } })
      yield* conn.send(FixturePod.run("long"))
      const head = yield* conn.until((l) => l.event === "text_delta")
      yield* conn.send({ method: "cancel" })
      const rest = yield* conn.until(isIdle)
      assert.strictEqual(rest.filter((l) => l.event === "run_end").length, 1)
      assert.isAbove(events(rest).lastIndexOf("run_end"), events(rest).lastIndexOf("text_delta"))
      assert.isBelow(texts([...head, ...rest]).length, "Echo: long".length * 4)
      const cancel = (yield* pod.journal).find((r) => r["method"] === "cancel")
      assert.strictEqual(cancel?.["raw"], "{\"method\":\"cancel\"}")
      yield* conn.send({ method: "cancel" })
      assert.strictEqual((yield* conn.next()).data["code"], "not_running")
    }))

  it.effect("shutdown mid-run: the run ends, `shutdown` is sent, exit 0, the runtime dir is gone", () =>
    Effect.gen(function*() {
      const { pod, conn } = yield* started({ script: { delayMs: 50, deltas: 40 } })
      assert.isTrue(Fs.existsSync(`${pod.podDir}/pid`))
      yield* conn.send(FixturePod.run("long"))
      yield* conn.until((l) => l.event === "text_delta")
      yield* conn.send({ method: "shutdown" })
      const rest = yield* conn.until((l) => l.event === "shutdown")
      assert.include(events(rest), "run_end")
      yield* conn.closed()
      assert.deepStrictEqual(yield* pod.ended(), { _tag: "code", code: 0 })
      assert.isFalse(Fs.existsSync(pod.podDir))
    }))

  it.effect("a crash mid-run: the socket closes, the process exits non-zero, the runtime dir stays", () =>
    Effect.gen(function*() {
      const { pod, conn } = yield* started({ behaviour: ["crash_mid_run=2"], script: { delayMs: 20, deltas: 10 } })
      yield* conn.send(FixturePod.run("doomed"))
      yield* conn.closed()
      assert.deepStrictEqual(yield* pod.ended(), { _tag: "code", code: 101 })
      assert.isAtLeast((yield* conn.lines).filter((l) => l.event === "text_delta").length, 1)
      assert.isTrue(Fs.existsSync(`${pod.podDir}/status.json`))
      assert.isTrue((yield* pod.stderr).some((l) => l.includes("panicked")))
    }))

  it.effect("ignores shutdown and SIGTERM: only SIGKILL ends it", () =>
    Effect.gen(function*() {
      const { pod, conn } = yield* started({ behaviour: ["ignore_shutdown"] })
      yield* conn.send({ method: "shutdown" })
      yield* pod.waitForStderr(/ignoring shutdown/)
      process.kill(pod.pid, "SIGTERM")
      yield* pod.waitForStderr(/ignoring SIGTERM/)
      assert.isTrue(yield* pod.handle.isRunning)
      process.kill(pod.pid, "SIGKILL")
      assert.deepStrictEqual(yield* pod.ended(), { _tag: "signal", signal: "SIGKILL" })
    }))

  describe("before READY", () => {
    it.effect("a malformed READY, or one naming another pod, is rejected", () =>
      Effect.gen(function*() {
        for (const behaviour of ["malformed_ready", "ready_wrong_name"]) {
          const pod = yield* FixturePod.spawn({ behaviour: [behaviour, "progress=2"] })
          const error = yield* Effect.flip(pod.ready())
          assert.strictEqual(error.reason, "malformed_ready")
          assert.strictEqual((yield* pod.stderr).filter((l) => l.includes("starting")).length, 2)
        }
      }))

    it.effect("an exit before READY (code 3) leaves its message on stderr", () =>
      Effect.gen(function*() {
        const pod = yield* FixturePod.spawn({ behaviour: ["exit_before_ready"] })
        const error = yield* Effect.flip(pod.ready())
        assert.strictEqual(error.reason, "exited_early")
        assert.deepStrictEqual(yield* pod.ended(), { _tag: "code", code: 3 })
        assert.isTrue((yield* pod.stderr).some((l) => l.includes("failed to start")))
      }))

    it.effect("a late socket is found by retrying; never_ready never says READY", () =>
      Effect.gen(function*() {
        const { conn } = yield* started({ behaviour: ["socket_late=200"] })
        yield* conn.send(FixturePod.run("late"))
        assert.strictEqual(texts(yield* conn.until(isIdle)), "Echo: late")
        const silent = yield* FixturePod.spawn({ behaviour: ["never_ready"] })
        yield* silent.waitForStderr(/never comes/)
        assert.strictEqual((yield* Effect.flip(silent.ready("300 millis"))).reason, "timeout")
      }))
  })

  describe("framing", () => {
    it.effect("split chunks, blank and non-JSON lines: UTF-8 reassembles, the run completes", () =>
      Effect.gen(function*() {
        const input = "héllo 日本語 🎉 done"
        const { conn } = yield* started({ behaviour: ["split_chunks", "blank_lines", "garbage_line"] })
        yield* conn.send(FixturePod.run(input))
        const lines = yield* conn.until(isIdle)
        assert.strictEqual(texts(lines), `Echo: ${input}`)
        assert.deepStrictEqual(lines.find((l) => l.event === "user_message")?.data["segments"], [
          { kind: "text", content: input }
        ])
        const all = yield* conn.lines
        assert.isTrue(all.some((l) => l.raw === ""))
        assert.isTrue(all.some((l) => l.raw === "fixture: this line is not JSON {"))
      }))

    it.effect("the over-long line (9 MiB by default) is written whole, and the run goes on", () =>
      Effect.gen(function*() {
        const { conn } = yield* started({ behaviour: ["long_line"] })
        yield* conn.send(FixturePod.run("big"))
        const lines = yield* conn.until(isIdle, "20 seconds")
        const long = lines.find((l) => l.bytes > 8 * 1024 * 1024)
        assert.strictEqual(long?.bytes, 9 * 1024 * 1024)
        assert.strictEqual(long?.event, "system_item")
        assert.strictEqual(texts(lines), "Echo: big")
      }))
  })

  describe("connect and supervision", () => {
    it.effect("buffered alerts come before the one snapshot; a foreign turn shows as running with in-flight text", () =>
      Effect.gen(function*() {
        const { before, snapshot, conn, socket } = yield* started({ behaviour: ["alerts=3", "foreign_turn=1000"] })
        assert.deepStrictEqual(events(before), ["alert", "alert", "alert"])
        assert.strictEqual(snapshot.data["status"], "running")
        const entries = snapshot.data["entries"] as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(entries.map((e) => e["kind"]), ["segment_start", "invoke", "user_input"])
        // a late attacher sees the text so far as an in-flight block, then the live deltas continue it
        const first = yield* conn.until((l) => l.event === "text_delta")
        const late = yield* FixturePod.connect(socket)
        const attach = (yield* late.until((l) => l.event === "snapshot")).at(-1)!
        // the first snapshot may already hold the first deltas
        const seen = inFlightText(attach)
        assert.isTrue(seen.startsWith(inFlightText(snapshot) + texts(first)))
        const whole = inFlightText(snapshot) + texts([...first, ...(yield* conn.until(isIdle))])
        assert.strictEqual(seen + texts(yield* late.until(isIdle)), whole)
        assert.strictEqual(whole, "Echo: a foreign turn")
      }))

    it.effect("every event kind streams, unknown ones included", () =>
      Effect.gen(function*() {
        const { conn } = yield* started({ behaviour: ["every_event"], script: { reasoning: "hmm, let me see" } })
        yield* conn.send(FixturePod.run("all"))
        const kinds = new Set(events(yield* conn.until(isIdle)))
        for (
          const kind of ["thinking_start", "thinking_delta", "thinking_done", "tool_call_start", "tool_call_args_delta"]
            .concat(["tool_call_done", "tool_result", "llm_retry", "usage", "alert", "fixture_future_event"])
            .concat(["fixture_future_unit", "system_item", "memory_worker", "text_done", "run_end"])
        ) assert.isTrue(kinds.has(kind), kind)
      }))

    it.effect("a grandchild lives in the pod's group and dies when the scope kills the group", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const grandchild = yield* Effect.scoped(Effect.gen(function*() {
          const { pod } = yield* started({ behaviour: ["fork_grandchild"] })
          const record = (yield* pod.journal).find((r) => r["at"] === "grandchild")
          const pid = Number(record?.["grandchild"])
          assert.isTrue(FixturePod.alive(pid))
          const stat = yield* fs.readFileString(`/proc/${pid}/stat`)
          assert.strictEqual(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]), pod.pid)
          return pid
        }))
        assert.isFalse(FixturePod.alive(grandchild))
      }))
  })

  describe("runs", () => {
    it.effect("script ends: limit_reached, rolled_back, a provider_error after 2 deltas (with and without run_end)", () =>
      Effect.gen(function*() {
        const { conn } = yield* started()
        const ask = (script: Record<string, unknown>) =>
          Effect.andThen(
            conn.send(FixturePod.run(`/script ${JSON.stringify(script)} go`)),
            conn.until(isIdle)
          )
        const limit = yield* ask({ end: "limit_reached" })
        assert.deepStrictEqual(limit.find((l) => l.event === "run_end")?.data, { result: "limit_reached" })
        assert.strictEqual(texts(limit), "Echo: go")
        const rolled = yield* ask({ end: "rolled_back" })
        assert.deepStrictEqual(rolled.find((l) => l.event === "run_end")?.data, { result: "rolled_back" })
        assert.strictEqual(texts(rolled), "")
        const failed = yield* ask({ fail: 2, deltas: 4 })
        assert.deepStrictEqual(events(failed).slice(-2), ["error", "status"])
        assert.strictEqual(failed.at(-2)!.data["code"], "provider_error")
        assert.strictEqual(texts(failed), "Echo")
        assert.notInclude(events(failed), "run_end")
        const withEnd = yield* ask({ fail: 1, failCode: "tool_error", failRunEnd: true })
        assert.deepStrictEqual(events(withEnd).slice(-3), ["error", "run_end", "status"])
        assert.strictEqual(withEnd.at(-3)!.data["code"], "tool_error")
        yield* conn.send(FixturePod.run("/script {\"nope\":1} x"))
        assert.strictEqual((yield* conn.next()).data["code"], "invalid_request")
      }))

    it.effect("pause → run_end paused; resume streams the rest; cancel while paused abandons the turn", () =>
      Effect.gen(function*() {
        const { conn } = yield* started({ script: { delayMs: 40, deltas: 10 } })
        yield* conn.send(FixturePod.run("pausable"))
        const head = yield* conn.until((l) => l.event === "text_delta")
        yield* conn.send({ method: "pause" })
        const pausedLines = yield* conn.until((l) => l.event === "status" && l.data["status"] === "paused")
        assert.deepStrictEqual(pausedLines.find((l) => l.event === "run_end")?.data, { result: "paused" })
        yield* conn.send({ method: "resume" })
        const resumed = yield* conn.until(isIdle)
        assert.strictEqual(texts([...head, ...pausedLines, ...resumed]), "Echo: pausable")
        yield* conn.send(FixturePod.run("/script {\"end\":\"paused\"} again"))
        yield* conn.until((l) => l.event === "status" && l.data["status"] === "paused")
        yield* conn.send({ method: "cancel" })
        assert.isTrue(isIdle(yield* conn.next()))
        yield* conn.send({ method: "resume" })
        assert.strictEqual((yield* conn.next()).data["code"], "not_paused")
      }))

    it.effect("notify with auto_run is a run with invoke_start{notify} and no user_message", () =>
      Effect.gen(function*() {
        const { conn } = yield* started()
        yield* conn.send({ method: "notify", params: { message: "build done" } })
        const lines = yield* conn.until(isIdle)
        assert.deepStrictEqual(lines.find((l) => l.event === "invoke_start")?.data, { kind: "notify" })
        assert.notInclude(events(lines), "user_message")
        assert.strictEqual(texts(lines), "Noted: build done")
      }))

    it.effect("reject_busy, reject_invalid and no_accept answer a run as named", () =>
      Effect.gen(function*() {
        for (const [behaviour, code] of [["reject_busy", "already_running"], ["reject_invalid", "invalid_request"]]) {
          const { conn } = yield* started({ behaviour: [behaviour!] })
          yield* conn.send(FixturePod.run("x"))
          assert.strictEqual((yield* conn.next()).data["code"], code)
        }
        const { pod, conn } = yield* started({ behaviour: ["no_accept"] })
        yield* conn.send(FixturePod.run("x"))
        yield* conn.send({ method: "list_rewind_targets" })
        // the reply to the later method is the next line: nothing answered the run
        assert.strictEqual((yield* conn.next()).event, "rewind_targets")
        assert.deepStrictEqual(yield* pod.methods, ["run", "list_rewind_targets"])
      }))

    it.effect("ignore_cancel: the cancel is received and the run ends on its own, whole", () =>
      Effect.gen(function*() {
        const { pod, conn } = yield* started({ behaviour: ["ignore_cancel"], script: { delayMs: 20, deltas: 6 } })
        yield* conn.send(FixturePod.run("stubborn"))
        const head = yield* conn.until((l) => l.event === "text_delta")
        yield* conn.send({ method: "cancel" })
        yield* pod.waitForStderr(/ignoring cancel/)
        const rest = yield* conn.until(isIdle)
        assert.strictEqual(texts([...head, ...rest]), "Echo: stubborn")
        assert.deepStrictEqual(yield* pod.methods, ["run", "cancel"])
      }))
  })

  describe("lifecycle", () => {
    it.effect("crash_idle exits 101 and exit_idle exits 0, with no input", () =>
      Effect.gen(function*() {
        const crashing = yield* started({ behaviour: ["crash_idle=20"] })
        yield* crashing.conn.closed()
        assert.deepStrictEqual(yield* crashing.pod.ended(), { _tag: "code", code: 101 })
        const leaving = yield* started({ behaviour: ["exit_idle=20"] })
        yield* leaving.conn.closed()
        assert.deepStrictEqual(yield* leaving.pod.ended(), { _tag: "code", code: 0 })
        assert.isFalse(Fs.existsSync(leaving.pod.podDir))
      }))

    it.effect("never_listens: READY names a socket nobody listens on; no_snapshot: alerts, then silence", () =>
      Effect.gen(function*() {
        const deaf = yield* FixturePod.spawn({ behaviour: ["never_listens"] })
        const { socket } = yield* deaf.ready()
        assert.strictEqual((yield* Effect.flip(FixturePod.connect(socket, "300 millis"))).reason, "timeout")
        const mute = yield* FixturePod.spawn({ behaviour: ["no_snapshot", "alerts=1"] })
        const conn = yield* FixturePod.connect((yield* mute.ready()).socket)
        assert.strictEqual((yield* conn.next()).event, "alert")
        assert.strictEqual((yield* Effect.flip(conn.next("300 millis"))).reason, "timeout")
      }))

    it.effect("drop_socket mid-run: the process lives, a reconnect gets the text so far in_flight, no gap", () =>
      Effect.gen(function*() {
        const { pod, socket, conn } = yield* started({
          behaviour: ["drop_socket", "stop_listening=100"],
          script: { delayMs: 40, deltas: 12 }
        })
        yield* conn.send(FixturePod.run("reconnect me"))
        yield* conn.closed()
        assert.isTrue(yield* pod.handle.isRunning)
        const again = yield* FixturePod.connect(socket)
        const snapshot = (yield* again.until((l) => l.event === "snapshot")).at(-1)!
        assert.strictEqual(snapshot.data["status"], "running")
        const rest = yield* again.until(isIdle)
        assert.strictEqual(inFlightText(snapshot) + texts(rest), "Echo: reconnect me")
      }))

    it.effect("a run that ends while disconnected is in the snapshot's entries", () =>
      Effect.gen(function*() {
        const { socket, conn } = yield* started({
          behaviour: ["drop_socket", "stop_listening=400"],
          script: { delayMs: 10, deltas: 3 }
        })
        yield* conn.send(FixturePod.run("offline"))
        yield* conn.closed()
        const again = yield* FixturePod.connect(socket)
        const snapshot = (yield* again.until((l) => l.event === "snapshot")).at(-1)!
        assert.strictEqual(snapshot.data["status"], "idle")
        const entries = snapshot.data["entries"] as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(entries.at(-1), { ...entries.at(-1), kind: "run_completed", interrupted: false })
        const item = entries.findLast((e) => e["kind"] === "assistant_item")?.["item"]
        assert.deepStrictEqual(item, {
          kind: "message",
          role: "assistant",
          content: [{ kind: "text", text: "Echo: offline" }]
        })
      }))
  })

  describe("process", () => {
    it.effect("behaviour, journal and script also come as flags among the extra args; argv is recorded", () =>
      Effect.gen(function*() {
        const extra = ["--profile", "builtin:companion", "--fixture-behaviour", "alerts=2", "--verbose"]
        const { pod, before } = yield* started({ extraArgs: extra })
        assert.deepStrictEqual(events(before), ["alert", "alert"])
        const [launch] = yield* pod.journal
        assert.deepStrictEqual(launch?.["extra"], ["--verbose"])
        assert.deepStrictEqual(launch?.["argv"], ["--workspace", pod.workspace, "--pod", pod.name, ...extra])
        assert.strictEqual(launch?.["pgid"], pod.pid)
      }))

    it.effect("SIGTERM: the runtime dir is removed and the pod dies by the signal", () =>
      Effect.gen(function*() {
        const { pod } = yield* started()
        process.kill(pod.pid, "SIGTERM")
        assert.deepStrictEqual(yield* pod.ended(), { _tag: "signal", signal: "SIGTERM" })
        assert.isFalse(Fs.existsSync(pod.podDir))
      }))

    it.effect("a pod started again with the same --session continues its log", () =>
      Effect.gen(function*() {
        const session = "0b6f2d55-7d0e-4a43-9c59-2f3c4f7a9e10"
        const first = yield* started({ session })
        yield* first.conn.send(FixturePod.run("remember me"))
        yield* first.conn.until(isIdle)
        yield* first.conn.send({ method: "shutdown" })
        yield* first.pod.ended()
        const second = yield* started({ session, directory: first.pod.directory })
        const entries = second.snapshot.data["entries"] as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(entries.find((e) => e["kind"] === "user_input")?.["segments"], [
          { kind: "text", content: "remember me" }
        ])
        assert.strictEqual(entries.filter((e) => e["kind"] === "segment_start").length, 1)
        const metadata = JSON.parse(
          Fs.readFileSync(`${second.pod.dataDir}/pods/${second.pod.name}/metadata.json`, "utf8")
        )
        assert.deepStrictEqual(metadata.active.session_id, session)
        assert.strictEqual(metadata.workspace_root, second.pod.workspace)
      }))
  })
})
