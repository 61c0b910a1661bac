/**
 * The real llama.cpp server the engine tests run against (`test/support/llamaServer.ts`), checked with plain fetch:
 * the OpenAI-compatible SSE stream of the tiny model (content, finish reasons, usage, `[DONE]`), what the server logs
 * when a client aborts mid-stream (and that its only slot is free again), and kill/restart on the same port.
 * Each test starts its own server (about 50 ms), so the tests run concurrently.
 *
 * Deliberately not here: any engine (the engine tests use this server), and llama.cpp behaviour the engines do not
 * rely on.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Data, Effect, Schema, Stream } from "effect"
import * as LlamaServer from "./support/llamaServer.ts"

const Chunk = Schema.Struct({
  choices: Schema.Array(Schema.Struct({
    delta: Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }),
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(Schema.Struct({
    prompt_tokens: Schema.Number,
    completion_tokens: Schema.Number,
    total_tokens: Schema.Number
  }))
})
const decodeChunk = Schema.decodeUnknownEffect(Schema.fromJsonString(Chunk))

class RequestFailed extends Data.TaggedError("RequestFailed")<{ readonly cause: unknown }> {}

const chat = (
  server: LlamaServer.LlamaServer,
  body: Record<string, unknown>,
  signal?: AbortSignal
) =>
  Effect.tryPromise({
    try: () =>
      fetch(`${server.baseUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ stream: true, stream_options: { include_usage: true }, ...body }),
        ...(signal === undefined ? {} : { signal })
      }),
    catch: (cause) => new RequestFailed({ cause })
  })

/** The `data:` payloads of an SSE response, as they arrive. */
const events = (response: Response) =>
  Stream.fromReadableStream({
    evaluate: () => response.body!,
    onError: (cause) => new RequestFailed({ cause })
  }).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filter((line) => line.startsWith("data: ")),
    Stream.map((line) => line.slice("data: ".length))
  )

/** A whole streamed completion: its decoded chunks and its last `data:` payload. */
const complete = (server: LlamaServer.LlamaServer, body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const response = yield* chat(server, body)
    assert.strictEqual(response.status, 200)
    const payloads = yield* Stream.runCollect(events(response))
    const chunks = yield* Effect.forEach(payloads.filter((data) => data !== "[DONE]"), (data) => decodeChunk(data))
    return {
      chunks,
      last: payloads.at(-1),
      content: chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? "")).join(""),
      finishReasons: chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []))
    }
  })

const health = (server: LlamaServer.LlamaServer) =>
  Effect.tryPromise({
    try: () => fetch(`${server.origin}/health`).then((response) => response.status),
    catch: (cause) => new RequestFailed({ cause })
  })

const hello = [{ role: "user", content: "Say hello." }]
const loop = [{ role: "user", content: "/loop" }]

layer(NodeServices.layer, { excludeTestServices: true })("LlamaServer (real llama.cpp)", (it) => {
  it.effect("streams the tiny model's sentence over SSE, with usage and [DONE]", () =>
    Effect.gen(function*() {
      const server = yield* LlamaServer.start()
      assert.strictEqual(server.baseUrl, `${server.origin}/v1`)
      assert.strictEqual(server.origin, `http://127.0.0.1:${server.port}`)
      assert.match(yield* server.waitForLog(/listening on/), new RegExp(`127\\.0\\.0\\.1:${server.port}`))

      const result = yield* complete(server, { messages: hello })
      assert.strictEqual(result.content, "Hello from a real llama.cpp server.")
      assert.deepStrictEqual(result.finishReasons, ["stop"])
      const usage = result.chunks.flatMap((chunk) => chunk.usage ?? [])
      assert.strictEqual(usage.length, 1)
      assert.strictEqual(usage[0]!.completion_tokens, 8) // 7 words and </s>
      assert.strictEqual(usage[0]!.total_tokens, usage[0]!.prompt_tokens + usage[0]!.completion_tokens)
      assert.strictEqual(result.last, "[DONE]")
    }))

  it.effect("/loop runs until max_tokens: finish_reason length", () =>
    Effect.gen(function*() {
      const server = yield* LlamaServer.start()
      const result = yield* complete(server, { messages: loop, max_tokens: 20 })
      assert.strictEqual(result.content, " tick tock".repeat(10))
      assert.deepStrictEqual(result.finishReasons, ["length"])
      assert.strictEqual(result.chunks.flatMap((chunk) => chunk.usage ?? [])[0]?.completion_tokens, 20)
      assert.strictEqual(result.last, "[DONE]")
    }))

  it.effect("an aborted stream cancels its task and frees the slot for the next request", () =>
    Effect.gen(function*() {
      const server = yield* LlamaServer.start({ parallel: 1 })
      const controller = new AbortController()
      const response = yield* chat(server, { messages: loop, max_tokens: 100_000 }, controller.signal)
      const seen = yield* events(response).pipe(
        Stream.takeUntil((data) => data.includes("tick")),
        Stream.runCollect
      )
      assert.isTrue(seen.at(-1)?.includes("tick"))
      controller.abort()

      const cancel = yield* server.waitForLog(/stop: cancel task, id_task = \d+/)
      const task = /id_task = (\d+)/.exec(cancel)![1]!
      const release = yield* server.waitForLog(new RegExp(`release: +id +\\d+ \\| task ${task} \\| stop processing`))
      assert.match(release, /slot +release:/)

      // one slot: this only answers if the aborted request gave it back
      const next = yield* complete(server, { messages: hello })
      assert.strictEqual(next.content, "Hello from a real llama.cpp server.")
      assert.deepStrictEqual(next.finishReasons, ["stop"])
    }))

  it.effect("kill stops the server at once; restart brings it back on the same port", () =>
    Effect.gen(function*() {
      const server = yield* LlamaServer.start()
      assert.strictEqual(yield* health(server), 200)

      yield* server.kill
      const refused = yield* Effect.flip(health(server))
      assert.strictEqual(refused._tag, "RequestFailed")
      yield* server.kill // already stopped: a no-op

      yield* server.restart
      assert.strictEqual(yield* health(server), 200)
      const listening = (yield* server.logs).filter((line) => line.includes(`listening on ${server.origin}`))
      assert.strictEqual(listening.length, 2)
      const result = yield* complete(server, { messages: hello })
      assert.strictEqual(result.content, "Hello from a real llama.cpp server.")
    }))

  it.effect("start fails with LlamaServerError, carrying the server's last lines, when its port is taken", () =>
    Effect.gen(function*() {
      const first = yield* LlamaServer.start()
      const error = yield* Effect.flip(LlamaServer.start({ port: first.port }))
      assert.strictEqual(error._tag, "LlamaServerError")
      assert.match(error.message, /^llama-server exited:/)
      assert.include(error.message, String(first.port))
      assert.strictEqual(yield* health(first), 200)
    }))
})
