/**
 * `yoi-runtime serve` as a real process that cannot start: a port in use, a data directory held by another
 * process, an invalid environment value. Each ends with exit code 1 and exactly one `error:` line naming the
 * cause (and the variable), no stack trace (unless `--log-level debug`), no banner and no data-directory path. And
 * Ctrl-C (SIGINT) on a running `serve` is a clean stop with exit code 0, however many copies of the signal arrive
 * (`npm start` forwards the terminal's Ctrl-C to a process that already got it).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Schedule } from "effect"
import {
  runCli,
  serveArgs,
  type ServerDirs,
  serverDirs,
  spawnCli,
  spawnServer,
  tempDir
} from "./support/serverProcess.ts"

const token = "startup-token-5c07e2b9"
const env = { YOI_RUNTIME_TOKEN: token }

/** `serve` arguments for the runtime `startup` over `dirs` on `port` (any free port by default). */
const startupArgs = (dirs: ServerDirs, port?: string) => serveArgs({ ...dirs, runtimeId: "startup", port })

/** `serve` must refuse to start with one line matching `cause`. */
const assertOneLineRefusal = (
  result: { readonly code: number | null; readonly stdout: string; readonly stderr: string },
  cause: RegExp,
  secrets: ReadonlyArray<string>
) => {
  assert.strictEqual(result.code, 1, result.stderr)
  const lines = result.stderr.split("\n").filter((line) => line.trim() !== "")
  assert.strictEqual(lines.length, 1, `exactly one error line, got:\n${result.stderr}`)
  assert.match(lines[0]!, /^error: /)
  assert.match(lines[0]!, cause)
  assert.strictEqual(result.stdout.trim(), "", "no banner, no help")
  assert.notMatch(result.stderr, /^\s+at /m, "no stack trace")
  for (const secret of [token, ...secrets]) assert.notInclude(result.stdout + result.stderr, secret)
}

describe("serve: startup errors are one clear line", () => {
  it.live(
    "a port in use: names the address and the reason; the stack only at --log-level debug",
    () =>
      Effect.gen(function*() {
        const dirs = yield* serverDirs
        const first = yield* spawnServer(startupArgs(dirs), env)
        const port = new URL(first.url).port
        const otherDir = yield* tempDir
        const taken = startupArgs({ dataDir: otherDir, allocationDir: dirs.allocationDir }, port)
        const second = yield* runCli(["serve", ...taken], env)
        assertOneLineRefusal(
          second,
          new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
          [dirs.dataDir, otherDir]
        )
        const debug = yield* runCli(["serve", ...taken, "--log-level", "debug"], env)
        assert.strictEqual(debug.code, 1)
        assert.include(debug.stderr + debug.stdout, "EADDRINUSE")
        assert.match(debug.stderr + debug.stdout, /^\s+at /m, "the stack at debug level")
        assert.notInclude(debug.stderr + debug.stdout, token)
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )

  it.live("a data directory another process holds: says so, without the path", () =>
    Effect.gen(function*() {
      const dirs = yield* serverDirs
      yield* spawnServer(startupArgs(dirs), env)
      const second = yield* runCli(["serve", ...startupArgs(dirs)], env)
      assertOneLineRefusal(second, /the data directory is in use by another runtime process/, [dirs.dataDir])
    }).pipe(Effect.provide(NodeServices.layer)), { timeout: 60_000 })

  it.live(
    "an invalid environment value: names the variable, the flag and what is expected",
    () =>
      Effect.gen(function*() {
        const { dataDir, allocationDir } = yield* serverDirs
        // no --port: each case sets it in the environment or as a flag
        const args = ["serve", "--data-dir", dataDir, "--allocation-dir", allocationDir]
        const port = yield* runCli(args, { YOI_RUNTIME_PORT: "abc" })
        assertOneLineRefusal(
          port,
          /YOI_RUNTIME_PORT="abc" is not a valid --port: expected an integer from 0 to 65535/,
          [dataDir]
        )
        const outOfRange = yield* runCli(args, { YOI_RUNTIME_PORT: "70000" })
        assertOneLineRefusal(outOfRange, /YOI_RUNTIME_PORT="70000" is not a valid --port/, [dataDir])
        const grace = yield* runCli(args, { YOI_SHUTDOWN_GRACE: "-1" })
        assertOneLineRefusal(grace, /YOI_SHUTDOWN_GRACE="-1" is not a valid --grace/, [dataDir])
        const flag = yield* runCli([...args, "--port", "abc"], {})
        assertOneLineRefusal(flag, /--port/, [dataDir])
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )
})

describe("serve: model configuration", () => {
  it.live(
    "a bad provider setting, config file or profile: one line naming the flag or the file's field, no value echoed",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dirs = yield* serverDirs
        const args = ["serve", ...startupArgs(dirs)]
        const secretUrl = "http://user:hunter2@10.9.8.7:1/v1"
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, RegExp]> = [
          [["--provider", "openai-compatible", "--model", "m"], {}, /invalid configuration: --base-url is required/],
          [
            ["--provider", "openai-compatible", "--model", "m", "--base-url", secretUrl],
            {},
            /--base-url must be an http\(s\) URL without credentials/
          ],
          [["--provider", "gpt"], {}, /invalid configuration: --provider /],
          [["--model", "m"], {}, /invalid configuration: --model needs --provider/],
          [[], { YOI_PROVIDER: "anthropic" }, /invalid configuration: --model is required/],
          [
            ["--provider", "anthropic", "--model", "m", "--api-key-env", "YOI_TEST_UNSET_KEY"],
            {},
            /apiKeyEnv names an environment variable that is not set or is empty/
          ],
          [
            ["--config", "/nonexistent/yoi-runtime.json"],
            {},
            /invalid configuration: --config cannot read the file yoi-runtime\.json/
          ]
        ]
        for (const [extra, vars, cause] of cases) {
          assertOneLineRefusal(yield* runCli([...args, ...extra], { ...env, ...vars }), cause, [
            dirs.dataDir,
            "hunter2",
            "10.9.8.7"
          ])
        }
        const dir = yield* tempDir
        const config = `${dir}/yoi-runtime.json`
        yield* fs.writeFileString(
          config,
          JSON.stringify({ providers: [{ kind: "anthropic", model: "m", apiKey: "sk-live-1" }] })
        )
        assertOneLineRefusal(
          yield* runCli([...args, "--config", config], env),
          /invalid configuration: yoi-runtime\.json: providers\[0\]\.apiKey is not a known setting/,
          [dir, "sk-live-1"]
        )
        assertOneLineRefusal(
          yield* runCli([...args, "--config", config, "--model", "x"], env),
          /--model cannot be combined with --config/,
          [dir]
        )
        yield* fs.makeDirectory(`${dir}/profiles`)
        yield* fs.writeFileString(
          `${dir}/profiles/coder.json`,
          JSON.stringify({ name: "coder", systemPrompt: "x", provider: "nowhere" })
        )
        yield* fs.writeFileString(
          config,
          JSON.stringify({ providers: [{ kind: "scripted" }], profilesDir: "profiles" })
        )
        assertOneLineRefusal(
          yield* runCli([...args, "--config", config], env),
          /invalid configuration: profile "coder": provider does not name a configured provider/,
          [dir]
        )
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 90_000 }
  )

  it.live(
    "a config file with named profiles: the banner names each provider and model; named profiles resolve",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* tempDir
        yield* fs.makeDirectory(`${dir}/profiles`)
        yield* fs.writeFileString(
          `${dir}/profiles/coder.json`,
          JSON.stringify({
            name: "coder",
            description: "writes code",
            systemPrompt: "You write code.",
            provider: "second",
            model: "big"
          })
        )
        yield* fs.writeFileString(
          `${dir}/yoi-runtime.json`,
          JSON.stringify({
            providers: [{ kind: "scripted", name: "first" }, { kind: "scripted", name: "second" }],
            defaultProvider: "second",
            profilesDir: "profiles"
          })
        )
        const server = yield* spawnServer(
          [...startupArgs(yield* serverDirs), "--config", `${dir}/yoi-runtime.json`],
          env
        )
        yield* server.waitFor(/^provider first \(scripted\): model scripted$/m)
        yield* server.waitFor(/^provider second \(scripted\): model scripted \[default\]$/m)
        const clientEnv = { YOI_RUNTIME_URL: server.url, YOI_RUNTIME_TOKEN: token }
        const workerId = (yield* runCli(["workers", "create", "--profile", "named:coder"], clientEnv)).stdout.trim()
        const shown = yield* runCli(["workers", "show", workerId], clientEnv)
        assert.include(shown.stdout, "profile coder")
        assert.include(shown.stdout, "provider second, model big")
        const unknown = yield* runCli(["workers", "create", "--profile", "named:nobody"], clientEnv)
        assert.strictEqual(unknown.code, 1)
        assert.include(unknown.stderr, "error: InvalidProfile")
        assert.notInclude(server.output(), dir)
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )
})

describe("serve: stopping", () => {
  it.live("Ctrl-C (SIGINT) is a clean stop: runs settle, exit code 0", () =>
    Effect.gen(function*() {
      const server = yield* spawnCli(["serve", ...startupArgs(yield* serverDirs)], env)
      yield* server.waitFor(/listening on http:\/\/\S+/)
      yield* server.kill("SIGINT")
      const exit = yield* server.exited
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      assert.include(server.stdout(), "runs settled; closing")
      assert.strictEqual(server.stderr(), "")
    }).pipe(Effect.provide(NodeServices.layer)), { timeout: 60_000 })

  it.live(
    "SIGINT again and again until it is gone: still a clean stop, never death by the signal",
    () =>
      Effect.gen(function*() {
        const server = yield* spawnCli(["serve", ...startupArgs(yield* serverDirs)], env)
        yield* server.waitFor(/listening on http:\/\/\S+/)
        // a copy of the signal lands at every moment of the stop, the very last one included
        const exit = yield* Effect.raceFirst(
          server.exited,
          Effect.andThen(Effect.repeat(server.kill("SIGINT"), Schedule.spaced("1 millis")), Effect.never)
        )
        assert.deepStrictEqual(exit, { code: 0, signal: null })
        assert.include(server.stdout(), "runs settled; closing")
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 60_000 }
  )
})
