/**
 * The example backend (`examples/backend`) as a real process: configured by flags and environment (host, port,
 * remote runtimes with their tokens read from the variables they name), it says where it listens, answers
 * `/healthz`, serves a remote runtime next to its embedded one, refuses a bad setting or a port in use with one
 * `error:` line and exit code 1, and stops cleanly on Ctrl-C.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { fileURLToPath } from "node:url"
import { serveArgs, serverDirs, spawnScript, spawnServer } from "./support/serverProcess.ts"

const main = fileURLToPath(new URL("../../../examples/backend/src/main.ts", import.meta.url))
const token = "backend-remote-token-91e4d7"

const Services = Layer.mergeAll(NodeServices.layer, FetchHttpClient.layer)

/** Starts the backend and waits until its banner says where the browser API is. */
const startBackend = (args: ReadonlyArray<string>, env: Record<string, string | undefined>) =>
  Effect.gen(function*() {
    const backend = yield* spawnScript(main, args, env)
    const [, url] = yield* backend.waitFor(/browser API on (http:\/\/\S+)\/api/)
    yield* backend.waitFor(/^try: .*\n/m) // the banner's last line
    return { backend, url: url! }
  })

/** Runs the backend expecting it to refuse to start. */
const refusal = (args: ReadonlyArray<string>, env: Record<string, string | undefined>) =>
  Effect.gen(function*() {
    const backend = yield* spawnScript(main, args, env)
    const exit = yield* backend.exited
    const lines = backend.stderr().split("\n").filter((line) => line.trim() !== "")
    assert.strictEqual(exit.code, 1, backend.output())
    assert.strictEqual(lines.length, 1, `exactly one error line, got:\n${backend.stderr()}`)
    assert.strictEqual(backend.stdout().trim(), "", "no banner, no help")
    assert.notMatch(backend.output(), /^\s+at /m, "no stack trace")
    assert.notInclude(backend.output(), token)
    return lines[0]!
  })

const RuntimeList = Schema.Array(Schema.Struct({ runtimeId: Schema.String, state: Schema.String }))

describe("example backend process", () => {
  it.live(
    "configured by flags and env: says where it listens, answers /healthz, serves a remote runtime with its token",
    () =>
      Effect.gen(function*() {
        const runtime = yield* spawnServer(
          serveArgs({ ...(yield* serverDirs), runtimeId: "build" }),
          { YOI_RUNTIME_TOKEN: token }
        )
        const remotes = JSON.stringify([
          {
            runtimeId: "build",
            displayName: "Build host",
            url: runtime.url,
            tokenEnv: "BUILD_TOKEN",
            workspace: "default"
          }
        ])
        const { backend, url } = yield* startBackend(["--host", "127.0.0.1"], {
          YOI_BACKEND_PORT: "0",
          YOI_REMOTE_RUNTIMES: remotes,
          BUILD_TOKEN: token
        })
        assert.notStrictEqual(new URL(url).port, "38900")
        assert.include(backend.stdout(), "remote: build")

        const http = yield* HttpClient.HttpClient
        const health = yield* http.get(`${url}/healthz`)
        assert.strictEqual(health.status, 200)
        assert.deepStrictEqual(yield* health.json, { status: "ok" })

        const asViewer = (path: string) =>
          http.execute(
            HttpClientRequest.get(`${url}${path}`).pipe(
              HttpClientRequest.setHeaders({ "x-yoi-viewer": "me", "x-yoi-workspace": "default" })
            )
          )
        // a call the remote runtime answers only with the token the backend read from BUILD_TOKEN
        const workers = yield* asViewer("/api/runtimes/build/workers")
        assert.strictEqual(workers.status, 200, yield* workers.text)
        const listed = yield* asViewer("/api/runtimes")
        assert.strictEqual(listed.status, 200)
        const runtimes = yield* Schema.decodeUnknownEffect(RuntimeList)(yield* listed.json)
        assert.deepStrictEqual(
          runtimes.map((r) => [r.runtimeId, r.state]).sort(),
          [["build", "available"], ["embedded", "available"]]
        )

        yield* backend.kill("SIGINT")
        assert.deepStrictEqual(yield* backend.exited, { code: 0, signal: null })
        assert.notInclude(backend.output(), token)
        assert.notInclude(backend.output(), runtime.url)
      }).pipe(Effect.provide(Services)),
    { timeout: 60_000 }
  )

  it.live("a port in use is one line naming the address, exit 1", () =>
    Effect.gen(function*() {
      const { url } = yield* startBackend(["--port", "0"], {})
      const port = new URL(url).port
      const line = yield* refusal(["--port", port], {})
      assert.strictEqual(
        line,
        `error: cannot listen on 127.0.0.1:${port}: the address is already in use (another process listens there; ` +
          "pick another --port)"
      )
    }).pipe(Effect.provide(Services)), { timeout: 60_000 })

  it.live("a bad setting is one line naming the variable, exit 1", () =>
    Effect.gen(function*() {
      assert.match(
        yield* refusal([], { YOI_BACKEND_PORT: "abc" }),
        /^error: YOI_BACKEND_PORT="abc" is not a valid --port: expected an integer from 0 to 65535/
      )
      assert.match(
        yield* refusal([], { YOI_REMOTE_RUNTIMES: `[{"runtimeId":"build","url":"http://x:${token}@127.0.0.1"}]` }),
        /^error: YOI_REMOTE_RUNTIMES is not a valid --remote-runtimes: expected a JSON array of \{ runtimeId, /
      )
      assert.match(
        yield* refusal(["--port", "0"], {
          YOI_REMOTE_RUNTIMES:
            `[{"runtimeId":"build","displayName":"B","url":"http://127.0.0.1:9","tokenEnv":"NOT_SET"}]`
        }),
        /^error: .*\(build\): tokenEnv names NOT_SET, which is not set$/
      )
    }).pipe(Effect.provide(Services)), { timeout: 60_000 })
})
