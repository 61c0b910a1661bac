/**
 * The whole stack on a real model: llama.cpp's `llama-server` (the tiny test model: any prompt streams "Hello from a
 * real llama.cpp server."; `/loop` streams " tick tock" until the token limit), `yoi-runtime serve --provider
 * openai-compatible --base-url …` on it, the CLI, and the example backend's browser API in front of the runtime.
 * A reply streams through the CLI and through the browser API's SSE; cancel during `/loop` is `run_cancelled` and
 * llama-server frees its slot; llama-server killed mid-stream is `run_failed` with the partial text kept and the
 * Worker idle, and the next input works once it is back. No API key or base URL appears in anything the runtime,
 * the CLI or the browser API says.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as LlamaServer from "@yoi/adapters/test/support/llamaServer"
import { Effect, Layer, Option, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { fileURLToPath } from "node:url"
import { runCli, serveArgs, serverDirs, spawnCli, spawnScript, spawnServer } from "./support/serverProcess.ts"

const backendMain = fileURLToPath(new URL("../../../examples/backend/src/main.ts", import.meta.url))
const token = "llama-e2e-token-0c5d"
const apiKey = "sk-yoi-llama-e2e-6b1f0e93a2"
const reply = "Hello from a real llama.cpp server."

const Services = Layer.mergeAll(NodeServices.layer, FetchHttpClient.layer)

/** A runtime process on `llama`, with an API key it sends (llama-server ignores it) and a high token limit. */
const serveOn = (llama: LlamaServer.LlamaServer) =>
  Effect.gen(function*() {
    const dirs = yield* serverDirs
    const server = yield* spawnServer(
      [
        ...serveArgs({ ...dirs, runtimeId: "llama" }),
        "--provider",
        "openai-compatible",
        "--base-url",
        llama.baseUrl,
        "--model",
        "tiny",
        "--api-key-env",
        "E2E_LLAMA_KEY",
        "--max-output-tokens",
        "100000"
      ],
      { YOI_RUNTIME_TOKEN: token, E2E_LLAMA_KEY: apiKey }
    )
    const env = { YOI_RUNTIME_URL: server.url, YOI_RUNTIME_TOKEN: token }
    const outputs: Array<string> = []
    const cli = (...args: Array<string>) =>
      Effect.tap(runCli(args, env), (r) => Effect.sync(() => outputs.push(r.output)))
    return { server, env, cli, outputs, dirs }
  })

/** A runtime on a fresh llama-server with a Worker streaming `/loop` (" tick tock" until stopped) through `send`. */
const loopingWorker = Effect.gen(function*() {
  const llama = yield* LlamaServer.start()
  const { cli, env, outputs, server } = yield* serveOn(llama)
  const workerId = (yield* cli("workers", "create")).stdout.trim()
  const sending = yield* spawnCli(["send", workerId, "/loop"], env)
  yield* sending.waitFor(/tick tock tick/)
  return { cli, llama, looping: sending, outputs, server, workerId }
})

/** Nothing anyone was told holds the key or where the provider is. */
const assertNoSecrets = (llama: LlamaServer.LlamaServer, texts: ReadonlyArray<string>) => {
  for (const text of texts) {
    assert.notInclude(text, apiKey)
    assert.notInclude(text, llama.baseUrl)
    assert.notInclude(text, `127.0.0.1:${llama.port}`)
    assert.notInclude(text, token)
  }
}

describe("a runtime on a real llama.cpp server", () => {
  it.live(
    "the model's reply streams through the CLI and the browser API; transcript and usage hold it; no key or URL leaks",
    () =>
      Effect.gen(function*() {
        const llama = yield* LlamaServer.start()
        const { server, cli, outputs } = yield* serveOn(llama)
        yield* server.waitFor(/^provider openai-compatible \(openai-compatible\): model tiny \[default\]$/m)

        const workerId = (yield* cli("workers", "create", "--name", "Lin")).stdout.trim()
        const sent = yield* cli("send", workerId, "hello")
        assert.strictEqual(sent.code, 0, sent.stderr)
        assert.include(sent.stdout, reply)
        const transcript = yield* cli("transcript", workerId)
        assert.include(transcript.stdout, "#1 user: hello")
        assert.include(transcript.stdout, `#2 assistant: ${reply}`)
        const shown = yield* cli("workers", "show", workerId)
        assert.match(shown.stdout, /usage: 1 runs, [1-9]\d* in \/ [1-9]\d* out, 0 failed/)
        assert.include(shown.stdout, "tiny")

        // The browser API of a backend that has this runtime as a remote source.
        const remotes = JSON.stringify([
          { runtimeId: "llama", displayName: "Llama host", url: server.url, tokenEnv: "LLAMA_TOKEN" }
        ])
        const backend = yield* spawnScript(backendMain, ["--port", "0", "--remote-runtimes", remotes], {
          LLAMA_TOKEN: token
        })
        const [, api] = yield* backend.waitFor(/browser API on (http:\/\/\S+)\/api/)
        const client = (yield* HttpClient.HttpClient).pipe(
          HttpClient.mapRequest(HttpClientRequest.setHeaders({ "x-yoi-viewer": "me", "x-yoi-workspace": "default" }))
        )
        const base = `${api}/api/runtimes/llama/workers/${workerId}`
        const worker = yield* client.get(base).pipe(Effect.flatMap((r) => r.text))
        assert.include(worker, "\"provider\":\"openai-compatible\"")
        assert.include(worker, "\"model\":\"tiny\"")
        const accepted = yield* client.execute(
          HttpClientRequest.post(`${base}/input`).pipe(HttpClientRequest.bodyJsonUnsafe({ text: "hi again" }))
        ).pipe(Effect.flatMap((r) => r.json))
        const { eventSeq } = accepted as { readonly eventSeq: number }
        // SSE from just before the input: every delta of the reply, then run_finished.
        const events = yield* client.get(`${base}/events`, { headers: { "last-event-id": String(eventSeq - 1) } }).pipe(
          Effect.flatMap((response) =>
            response.stream.pipe(
              Stream.decodeText(),
              Stream.scan(() => "", (seen: string, chunk: string) => seen + chunk),
              Stream.takeUntil((seen) => seen.includes("\"run_finished\"")),
              Stream.runLast
            )
          ),
          Effect.map(Option.getOrElse(() => ""))
        )
        const deltas = events.split("\n").filter((line) => line.startsWith("data: ")).map((line) =>
          JSON.parse(line.slice("data: ".length)) as { readonly _tag: string; readonly delta?: string }
        ).filter((event) => event._tag === "text_delta").map((event) => event.delta)
        assert.strictEqual(deltas.join(""), reply)
        assert.isAbove(deltas.length, 1, "streamed in pieces")

        const runtimeSummary = yield* cli("status")
        assertNoSecrets(llama, [...outputs, runtimeSummary.output, server.output(), backend.output(), worker, events])
      }).pipe(Effect.provide(Services)),
    { timeout: 120_000 }
  )

  it.live(
    "cancel during /loop: run_cancelled, llama-server frees the slot, and the next request gets its reply",
    () =>
      Effect.gen(function*() {
        const { cli, llama, looping, outputs, server, workerId } = yield* loopingWorker
        const cancelled = yield* cli("cancel", workerId)
        assert.match(cancelled.stdout, /^cancelled r_/)
        const exit = yield* looping.exited
        assert.strictEqual(exit.code, 3, looping.stderr())
        const cancelLine = yield* llama.waitForLog(/stop: cancel task, id_task = (\d+)/)
        const task = /id_task = (\d+)/.exec(cancelLine)![1]!
        yield* llama.waitForLog(new RegExp(`release: .*task ${task} \\| stop processing`))
        // one slot: this reply only comes if the cancelled request really let go of it. Another Worker asks: the
        // cancelled one's history holds however much " tick tock" streamed before the cancel landed, which on a slow
        // machine can exceed the tiny model's 4096-token context (a 400 from llama-server, rightly).
        const other = (yield* cli("workers", "create")).stdout.trim()
        const next = yield* cli("send", other, "hello")
        assert.strictEqual(next.code, 0, next.stderr)
        assert.include(next.stdout, reply)
        const transcript = yield* cli("transcript", workerId)
        assert.match(transcript.stdout, /#2 assistant \(interrupted\): ( tick tock)+/)
        assertNoSecrets(llama, [...outputs, looping.output(), server.output()])
      }).pipe(Effect.provide(Services)),
    { timeout: 120_000 }
  )

  it.live(
    "llama-server killed mid-stream: run_failed with the partial text, the Worker idle; once it is back the next input works",
    () =>
      Effect.gen(function*() {
        const { cli, llama, looping, outputs, server, workerId } = yield* loopingWorker
        yield* llama.kill
        const exit = yield* looping.exited
        assert.strictEqual(exit.code, 2, looping.output())
        assert.match(looping.stderr(), /^error: run r_\S+ failed: stream_broken: /m)
        const shown = yield* cli("workers", "show", workerId)
        assert.match(shown.stdout, /\bidle\b/)
        const transcript = yield* cli("transcript", workerId)
        assert.match(transcript.stdout, /#2 assistant \(interrupted\): ( tick tock)+/)
        assert.match(transcript.stdout, /#3 error: stream_broken: /)
        // while it is down: a typed failure after the retries, not a hang
        yield* llama.restart
        const next = yield* cli("send", workerId, "hello")
        assert.strictEqual(next.code, 0, next.stderr)
        assert.include(next.stdout, reply)
        assertNoSecrets(llama, [...outputs, looping.output(), server.output()])
      }).pipe(Effect.provide(Services)),
    { timeout: 120_000 }
  )
})
