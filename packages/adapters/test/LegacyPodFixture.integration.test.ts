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
/** Running, or stopped: a zombie (state `Z`, not yet reaped by its new parent) counts as gone. */
const alive = (pid: number) => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
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
          assert.isTrue(alive(pid))
          const stat = yield* fs.readFileString(`/proc/${pid}/stat`)
          assert.strictEqual(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]), pod.pid)
          return pid
        }))
        assert.isFalse(alive(grandchild))
      }))
  })
})
