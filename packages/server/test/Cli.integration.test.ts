/**
 * The `yoi-runtime` client commands as a person uses them: separate processes against a running runtime process.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import { followCli, runCli, spawnServer } from "./support/serverProcess.ts"

const token = "cli-token-3b8e11d0"

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "yoi-cli-" }))

const serve = (dataDir: string, allocationDir: string, port = "0") =>
  spawnServer(
    ["--port", port, "--data-dir", dataDir, "--allocation-dir", allocationDir, "--runtime-id", "cli"],
    { YOI_RUNTIME_TOKEN: token }
  )

describe("yoi-runtime client commands", () => {
  it.live(
    "status, workers, send, transcript, cancel, stop — and typed errors with exit code 1",
    () =>
      Effect.gen(function*() {
        const dataDir = yield* tempDir
        const server = yield* serve(dataDir, yield* tempDir)
        const env = { YOI_RUNTIME_URL: server.url, YOI_RUNTIME_TOKEN: token }
        const outputs: Array<string> = []
        const cli = (...args: Array<string>) =>
          Effect.tap(runCli(args, env), (r) => Effect.sync(() => outputs.push(r.stdout, r.stderr)))

        const status = yield* cli("status")
        assert.strictEqual(status.code, 0)
        assert.include(status.stdout, "(cli) — ready")
        const created = yield* cli("workers", "create", "--name", "Ada")
        assert.strictEqual(created.code, 0)
        const workerId = created.stdout.trim()
        assert.match(workerId, /^w_[0-9a-z]+$/)
        assert.include((yield* cli("workers", "list")).stdout, `${workerId}  idle`)
        const sent = yield* cli("send", workerId, "hello", "there")
        assert.strictEqual(sent.code, 0)
        assert.include(sent.stdout, "Scripted reply to: hello there")
        const transcript = yield* cli("transcript", workerId)
        assert.include(transcript.stdout, "#1 user: hello there")
        assert.include(transcript.stdout, "#2 assistant: Scripted reply to: hello there")
        assert.include((yield* cli("workers", "show", workerId)).stdout, "Ada@cli")
        assert.include((yield* cli("cancel", workerId)).stdout, "not running")
        assert.include((yield* cli("stop", workerId)).stdout, "stopped")
        const refused = yield* cli("send", workerId, "more")
        assert.strictEqual(refused.code, 1)
        assert.include(refused.stderr, "error: WorkerStopped")
        const invalid = yield* cli("workers", "show", "../etc")
        assert.strictEqual(invalid.code, 1)
        assert.include(invalid.stderr, "error: InvalidRequest field=workerId")
        const anonymous = yield* runCli(["status"], { YOI_RUNTIME_URL: server.url })
        assert.strictEqual(anonymous.code, 1)
        assert.include(anonymous.stderr, "error: Unauthorized")
        for (const text of [...outputs, anonymous.stderr, server.output()]) {
          assert.notInclude(text, token)
          assert.notInclude(text, dataDir)
        }
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )

  it.live(
    "watch resumes from the last seen seq after the runtime restarts, without duplicates",
    () =>
      Effect.gen(function*() {
        const dataDir = yield* tempDir
        const allocationDir = yield* tempDir
        const first = yield* serve(dataDir, allocationDir)
        const port = new URL(first.url).port
        const env = { YOI_RUNTIME_URL: first.url, YOI_RUNTIME_TOKEN: token }
        const workerId = (yield* runCli(["workers", "create"], env)).stdout.trim()
        const watch = yield* followCli(["watch", workerId], env)
        yield* watch.waitFor(/snapshot: idle/)
        assert.strictEqual((yield* runCli(["send", workerId, "before", "the", "restart"], env)).code, 0)
        yield* watch.waitFor(/run_finished/)
        yield* first.kill("SIGKILL")
        yield* first.exited
        yield* watch.waitFor(/disconnected/)
        const second = yield* serve(dataDir, allocationDir, port)
        assert.strictEqual((yield* runCli(["send", workerId, "after", "it"], env)).code, 0)
        yield* watch.waitFor(/run_finished[\s\S]*run_finished/)
        const seqs = [...watch.output().matchAll(/^#(\d+) /gm)].map((m) => Number(m[1]))
        assert.isAbove(seqs.length, 10)
        for (let i = 1; i < seqs.length; i++) {
          assert.isAbove(seqs[i]!, seqs[i - 1]!, `seq ${seqs[i]} after ${seqs[i - 1]}`)
        }
        assert.include(watch.output(), "after it")
        yield* second.kill("SIGTERM")
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )
})
