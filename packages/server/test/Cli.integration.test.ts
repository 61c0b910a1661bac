/**
 * The `yoi-runtime` client commands as a person (or a script) uses them: separate processes against a running
 * runtime process — their output, their exit codes (0 done, 1 refused, 2 run failed, 3 run cancelled, 4
 * unreachable, 130 interrupted), `watch`'s reconnection and their help.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer as createHttpServer } from "node:http"
import {
  closedPort,
  runCli,
  serveArgs,
  type ServerDirs,
  serverDirs,
  spawnCli,
  spawnServer
} from "./support/serverProcess.ts"

const token = "cli-token-3b8e11d0"

/** Something that is no runtime (a proxy with nothing behind it): every request gets a 502. */
const badGateway = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly close: () => void }>((resume) => {
    const listener = createHttpServer((_, response) => {
      response.statusCode = 502
      response.end("bad gateway")
    })
    listener.listen(0, "127.0.0.1", () => {
      const address = listener.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, close: () => listener.close() }))
    })
  }),
  (proxy) => Effect.sync(proxy.close)
)

/** A run of the scripted engine that streams for about `seconds`. */
const slow = (seconds: number) => `/script {"deltas":${seconds * 10},"delayMs":100}`

/** `serve` with the token, on `port` (any free port by default). */
const serve = (dirs: ServerDirs, port?: string) =>
  spawnServer(serveArgs({ ...dirs, runtimeId: "cli", port }), { YOI_RUNTIME_TOKEN: token })

describe("yoi-runtime client commands", () => {
  it.live(
    "status, workers, send, transcript, cancel, stop — and typed errors with exit code 1",
    () =>
      Effect.gen(function*() {
        const dirs = yield* serverDirs
        const server = yield* serve(dirs)
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
          assert.notInclude(text, dirs.dataDir)
        }
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )

  it.live(
    "send's exit code says how the run ended: 2 failed, 3 cancelled; WorkerBusy names the time and --when-busy",
    () =>
      Effect.gen(function*() {
        const dirs = yield* serverDirs
        const server = yield* serve(dirs)
        const env = { YOI_RUNTIME_URL: server.url, YOI_RUNTIME_TOKEN: token }
        const workerId = (yield* runCli(["workers", "create"], env)).stdout.trim()

        const failed = yield* runCli(["send", workerId, `/script {"fail":2}`], env)
        assert.strictEqual(failed.code, 2, failed.stderr)
        assert.match(failed.stderr, /^error: run r_\S+ failed: scripted_failure: /m)

        const running = yield* spawnCli(["send", workerId, slow(30)], env)
        yield* running.waitFor(/Scripted/)
        const busy = yield* runCli(["send", workerId, "not now"], env)
        assert.strictEqual(busy.code, 1)
        assert.match(busy.stderr, /^error: WorkerBusy workerId=w_\S+ runId=r_\S+ startedAt=\d{4}-\d\d-\d\dT\d\d:\d\d:/m)
        assert.include(busy.stderr, "--when-busy enqueue")
        const cancelled = yield* runCli(["cancel", workerId], env)
        assert.match(cancelled.stdout, /^cancelled r_/)
        const exit = yield* running.exited
        assert.strictEqual(exit.code, 3, running.stderr())
        assert.match(running.stderr(), /^error: run r_\S+ was cancelled \(\w+\)/m)
        for (const text of [failed.stderr, busy.stderr, running.output(), server.output()]) {
          assert.notInclude(text, token)
          assert.notInclude(text, dirs.dataDir)
        }
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )

  it.live(
    "Ctrl-C during send: exit 130, the run goes on, and the hint says how to follow or cancel it",
    () =>
      Effect.gen(function*() {
        const server = yield* serve(yield* serverDirs)
        const env = { YOI_RUNTIME_URL: server.url, YOI_RUNTIME_TOKEN: token }
        const workerId = (yield* runCli(["workers", "create"], env)).stdout.trim()
        const sending = yield* spawnCli(["send", workerId, slow(60)], env)
        yield* sending.waitFor(/Scripted/)
        yield* sending.kill("SIGINT")
        const exit = yield* sending.exited
        assert.deepStrictEqual(exit, { code: 130, signal: null })
        const hint = new RegExp(
          `interrupted: run (r_\\S+) goes on in the runtime; follow it with \`yoi-runtime watch ${workerId} ` +
            `--after (\\d+)\` or cancel it with \`yoi-runtime cancel ${workerId}\``
        ).exec(sending.stderr())
        assert.isNotNull(hint, sending.stderr())
        const [, runId, after] = hint!
        // the run is still going: following it from the hint's seq shows its next deltas, and cancel finds it
        const follow = yield* spawnCli(["watch", workerId, "--after", after!], env)
        yield* follow.waitFor(new RegExp(`#${Number(after) + 1} text`))
        assert.notMatch(follow.output(), new RegExp(`^#${after} `, "m"), "nothing before the hint's seq")
        assert.strictEqual((yield* runCli(["cancel", workerId], env)).stdout.trim(), `cancelled ${runId}`)
        yield* follow.waitFor(/run_cancelled/)
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )

  it.live(
    "a runtime that cannot be reached or answers badly: exit 4, one line naming the URL and why, never the token",
    () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const refused = yield* runCli(["status", "--url", `http://127.0.0.1:${port}`], { YOI_RUNTIME_TOKEN: token })
        assert.strictEqual(refused.code, 4)
        assert.strictEqual(
          refused.stderr.trim(),
          `error: the runtime at http://127.0.0.1:${port} could not be reached: connection refused`
        )
        const proxy = yield* badGateway
        const notARuntime = yield* runCli(["workers", "list", "--url", proxy.url], { YOI_RUNTIME_TOKEN: token })
        assert.strictEqual(notARuntime.code, 4)
        assert.strictEqual(notARuntime.stderr.trim(), `error: the runtime at ${proxy.url} answered HTTP 502`)
        for (const text of [refused.stdout, refused.stderr, notARuntime.stdout, notARuntime.stderr]) {
          assert.notInclude(text, token)
        }
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )

  it.live(
    "watch: one line when the runtime goes away and one when it is back, capped exponential backoff between " +
      "attempts, resuming after the last seen seq without duplicates",
    () =>
      Effect.gen(function*() {
        const dirs = yield* serverDirs
        const first = yield* serve(dirs)
        const port = new URL(first.url).port
        const env = { YOI_RUNTIME_URL: first.url, YOI_RUNTIME_TOKEN: token }
        const workerId = (yield* runCli(["workers", "create"], env)).stdout.trim()
        const watch = yield* spawnCli(["watch", workerId, "--log-level", "debug"], env)
        yield* watch.waitFor(/snapshot: idle/)
        assert.strictEqual((yield* runCli(["send", workerId, "before", "the", "restart"], env)).code, 0)
        yield* watch.waitFor(/run_finished/)
        yield* first.kill("SIGKILL")
        yield* first.exited
        // three failed attempts while the runtime is down (each logged at debug level only)
        yield* watch.waitFor(/(reconnecting in \d+ ms[\s\S]*){3}/)
        const delays = [...watch.output().matchAll(/reconnecting in (\d+) ms/g)].map((m) => Number(m[1]))
        assert.isBelow(delays[0]!, delays[1]!, `backoff grows: ${delays}`)
        assert.isBelow(delays[1]!, delays[2]!, `backoff grows: ${delays}`)
        assert.isBelow(delays[0]!, 1000, `the first retry is quick: ${delays}`)
        const second = yield* serve(dirs, port)
        yield* watch.waitFor(/\(reconnected; resuming after #\d+\)/)
        assert.strictEqual((yield* runCli(["send", workerId, "after", "it"], env)).code, 0)
        yield* watch.waitFor(/run_finished[\s\S]*run_finished/)
        const output = watch.output()
        const outages = output.match(/^\(.*; reconnecting, then resuming after #\d+\)$/gm) ?? []
        assert.deepStrictEqual(outages, [
          `(the runtime at ${first.url} could not be reached: connection refused; reconnecting, then resuming after ` +
          `#${/resuming after #(\d+)/.exec(outages[0] ?? "")?.[1]})`
        ])
        assert.strictEqual(output.match(/^\(reconnected; /gm)?.length, 1)
        const seqs = [...output.matchAll(/^#(\d+) /gm)].map((m) => Number(m[1]))
        assert.isAbove(seqs.length, 10)
        for (let i = 1; i < seqs.length; i++) {
          assert.isAbove(seqs[i]!, seqs[i - 1]!, `seq ${seqs[i]} after ${seqs[i - 1]}`)
        }
        assert.include(output, "after it")
        assert.notInclude(output, token)
        assert.notInclude(output, dirs.dataDir)
        yield* second.kill("SIGTERM")
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )

  it.live("watch of an unknown Worker fails at once, without retrying", () =>
    Effect.gen(function*() {
      const server = yield* serve(yield* serverDirs)
      const env = { YOI_RUNTIME_URL: server.url, YOI_RUNTIME_TOKEN: token }
      const unknown = yield* runCli(["watch", "w_unknown"], env)
      assert.strictEqual(unknown.code, 1)
      assert.strictEqual(unknown.stderr.trim(), "error: WorkerNotFound workerId=w_unknown")
      assert.strictEqual(unknown.stdout, "")
    }).pipe(Effect.provide(NodeServices.layer)), { timeout: 60_000 })

  it.live(
    "help: every flag shows its environment variable and default; serve lists no client flag",
    () =>
      Effect.gen(function*() {
        const serveHelp = (yield* runCli(["serve", "--help"])).stdout
        for (
          const [flag, env, fallback] of [
            ["--host", "YOI_RUNTIME_HOST", "127.0.0.1"],
            ["--port", "YOI_RUNTIME_PORT", "38800"],
            ["--data-dir", "YOI_DATA_DIR", ".yoi-data"],
            ["--allocation-dir", "YOI_ALLOCATION_DIR", "<tmpdir>/yoi-runtime-allocations"],
            ["--runtime-id", "YOI_RUNTIME_ID", "local"],
            ["--display-name", "YOI_RUNTIME_DISPLAY_NAME", "the runtime id"],
            ["--grace", "YOI_SHUTDOWN_GRACE", "10"],
            ["--token-file", "YOI_RUNTIME_TOKEN", "no token"]
          ]
        ) {
          const line = serveHelp.split("\n").find((l) => l.trimStart().startsWith(`${flag} `))
          assert.isDefined(line, `${flag} in serve --help`)
          assert.include(line, `env ${env}`)
          assert.include(line, `default ${fallback}`)
        }
        assert.notInclude(serveHelp, "--url")
        assert.notInclude(serveHelp, "--client-token-file")
        assert.notInclude(serveHelp, "INHERITED")
        for (const command of [["status"], ["send"], ["watch"], ["workers", "list"], ["cancel"]]) {
          const help = (yield* runCli([...command, "--help"])).stdout
          assert.match(
            help,
            /--url string .*env YOI_RUNTIME_URL; default http:\/\/127\.0\.0\.1:38800/,
            command.join(" ")
          )
          assert.match(help, /--token-file path .*env YOI_RUNTIME_TOKEN/, command.join(" "))
          assert.notInclude(help, "--data-dir", command.join(" "))
        }
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )
})
