/**
 * Test support: a programmable fake of the two provider APIs the engines speak, OpenAI Chat Completions
 * (`POST …/chat/completions`) and Anthropic Messages (`POST …/v1/messages`), on 127.0.0.1 (an ephemeral port, one
 * server per test, closed with the test's scope). It writes what the real services write: `chat.completion.chunk`s
 * ending in `data: [DONE]`, and `message_start` … `message_stop` with `ping`s.
 *
 * Each request takes the next planned `Reply` (status replies with error bodies and headers, a stream of network
 * writes with faults: stalls, resets, truncation, a gate the test opens), or else the default reply to its last
 * user message (`defaultReplyText`; `/think` adds reasoning; `/loop` streams until the client goes away). Every
 * request is recorded: path, headers, JSON body, and whether the client closed its connection before the reply
 * ended.
 *
 * Deliberately not here: judging what the engine did (the tests), and anything the engines do not use.
 */
import { assert } from "@effect/vitest"
import type { Errors, LlmEngine } from "@yoi/domain"
import { engineRequest, historyEntry } from "@yoi/domain/test/support/fixtures"
import { Cause, Deferred, Effect, Exit, Fiber, Option, Queue, Result, type Scope, Stream } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** The reply the fake gives any prompt by default. */
export const defaultReplyText = "Hello from the fake provider."
/** The reasoning it streams first when the prompt contains `/think`. */
export const defaultReasoningText = "Let me think about that."
/** A prompt that streams text deltas until the client goes away. */
export const loopInput = "/loop"

export type Protocol = "openai" | "anthropic"

/** Lets a test hold a scripted stream at a point until it says so. */
export interface Gate {
  readonly open: Effect.Effect<void>
  /** @internal the fake's side */
  readonly wait: (f: () => void) => void
}

/** @category constructors */
export const makeGate = (): Gate => {
  let opened = false
  const waiting: Array<() => void> = []
  return {
    open: Effect.sync(() => {
      opened = true
      for (const f of waiting.splice(0)) f()
    }),
    wait: (f) => opened ? f() : void waiting.push(f)
  }
}

/** One network write, or what the fake does between writes. */
export type Step =
  | { readonly _tag: "write"; readonly data: string | Uint8Array }
  | { readonly _tag: "pause"; readonly ms: number }
  | { readonly _tag: "gate"; readonly gate: Gate }
  /** Write nothing more and keep the connection open. */
  | { readonly _tag: "stall" }
  /** Destroy the socket (a reset mid-stream). */
  | { readonly _tag: "reset" }
  /** End the response cleanly. */
  | { readonly _tag: "end" }

export type Reply =
  | { readonly _tag: "status"; readonly status: number; readonly body: string; readonly headers: Headers }
  | { readonly _tag: "stream"; readonly steps: ReadonlyArray<Step>; readonly headers: Headers }
  /** Never answer: no status line, no headers. */
  | { readonly _tag: "silent" }
  /** Text deltas until the client goes away. */
  | { readonly _tag: "endless" }

type Headers = Readonly<Record<string, string>>

export const write = (data: string | Uint8Array): Step => ({ _tag: "write", data })
export const pause = (ms: number): Step => ({ _tag: "pause", ms })
export const gate = (g: Gate): Step => ({ _tag: "gate", gate: g })
export const stall: Step = { _tag: "stall" }
export const reset: Step = { _tag: "reset" }
export const end: Step = { _tag: "end" }

export const status = (code: number, body: unknown = {}, headers: Headers = {}): Reply => ({
  _tag: "status",
  status: code,
  body: typeof body === "string" ? body : JSON.stringify(body),
  headers: { "content-type": "application/json", ...headers }
})
export const stream = (steps: ReadonlyArray<Step>, headers: Headers = {}): Reply => ({
  _tag: "stream",
  steps,
  headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers }
})
export const silent: Reply = { _tag: "silent" }
export const endless: Reply = { _tag: "endless" }

/** The UTF-8 bytes of `text` cut in two inside its first multibyte character, as two writes with a pause. */
export const splitInsideCharacter = (text: string): ReadonlyArray<Step> => {
  const bytes = new TextEncoder().encode(text)
  const cut = bytes.findIndex((b) => b >= 0xc0) + 1
  if (cut <= 0) throw new Error("splitInsideCharacter: no multibyte character")
  return [write(bytes.slice(0, cut)), pause(15), write(bytes.slice(cut))]
}

/** Words with their trailing space, as a model streams them. */
export const words = (text: string): ReadonlyArray<string> => text.match(/\S+\s*/g) ?? [text]

// ---------------------------------------------------------------------------------------------------------------
// OpenAI Chat Completions

export interface OpenAiUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly cached_tokens?: number
  readonly reasoning_tokens?: number
}

export interface OpenAiToolCall {
  readonly id: string
  readonly name: string
  /** The arguments JSON, in the pieces it streams in. */
  readonly arguments: ReadonlyArray<string>
}

export const openAi = {
  chunk: (delta: object, finishReason: string | null = null, extra: object = {}): string =>
    `data: ${
      JSON.stringify({
        id: "chatcmpl-fake",
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model: "fake-model",
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
        ...extra
      })
    }\n\n`,
  usage: (usage: OpenAiUsage): string =>
    `data: ${
      JSON.stringify({
        id: "chatcmpl-fake",
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model: "fake-model",
        choices: [],
        usage: {
          prompt_tokens: usage.prompt_tokens,
          completion_tokens: usage.completion_tokens,
          total_tokens: usage.prompt_tokens + usage.completion_tokens,
          prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
          completion_tokens_details: { reasoning_tokens: usage.reasoning_tokens ?? 0 }
        }
      })
    }\n\n`,
  done: "data: [DONE]\n\n",
  error: (error: object): string => `data: ${JSON.stringify({ error })}\n\n`,
  /** The chunks of a reply, as OpenAI streams one (role first, one chunk per piece, finish, usage). */
  reply: (options: {
    readonly text?: ReadonlyArray<string>
    readonly reasoning?: ReadonlyArray<string>
    readonly reasoningField?: "reasoning_content" | "reasoning"
    readonly toolCalls?: ReadonlyArray<OpenAiToolCall>
    readonly finishReason?: string
    readonly usage?: OpenAiUsage
  }): ReadonlyArray<string> => {
    const field = options.reasoningField ?? "reasoning_content"
    const out: Array<string> = [openAi.chunk({ role: "assistant", content: "" })]
    for (const piece of options.reasoning ?? []) out.push(openAi.chunk({ [field]: piece }))
    for (const piece of options.text ?? []) out.push(openAi.chunk({ content: piece }))
    for (const [index, call] of (options.toolCalls ?? []).entries()) {
      out.push(openAi.chunk({
        tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }]
      }))
      for (const piece of call.arguments) {
        out.push(openAi.chunk({ tool_calls: [{ index, function: { arguments: piece } }] }))
      }
    }
    out.push(openAi.chunk({}, options.finishReason ?? ((options.toolCalls?.length ?? 0) > 0 ? "tool_calls" : "stop")))
    out.push(openAi.usage(options.usage ?? { prompt_tokens: 12, completion_tokens: (options.text ?? []).length }))
    out.push(openAi.done)
    return out
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Anthropic Messages

export interface AnthropicUsage {
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_read_input_tokens?: number
  readonly cache_creation_input_tokens?: number
}

export interface AnthropicToolUse {
  readonly id: string
  readonly name: string
  readonly partialJson: ReadonlyArray<string>
}

export const anthropic = {
  event: (type: string, data: object = {}): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`,
  messageStart: (usage: AnthropicUsage): string =>
    anthropic.event("message_start", {
      message: {
        id: "msg_fake",
        type: "message",
        role: "assistant",
        model: "fake-model",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage
      }
    }),
  textDelta: (index: number, text: string): string =>
    anthropic.event("content_block_delta", { index, delta: { type: "text_delta", text } }),
  error: (type: string, message: string): string => anthropic.event("error", { error: { type, message } }),
  /** The events of a reply, as Anthropic streams one (thinking block, text block, tool_use blocks, stop). */
  reply: (options: {
    readonly text?: ReadonlyArray<string>
    readonly thinking?: ReadonlyArray<string>
    readonly toolUses?: ReadonlyArray<AnthropicToolUse>
    readonly stopReason?: string
    readonly usage?: AnthropicUsage
    /** The running output totals message_delta reports (default: one, the total). */
    readonly outputTotals?: ReadonlyArray<number>
  }): ReadonlyArray<string> => {
    const usage = options.usage ?? { input_tokens: 12, output_tokens: 1 }
    const out: Array<string> = [anthropic.messageStart({ ...usage, output_tokens: 1 })]
    let index = 0
    if (options.thinking !== undefined) {
      out.push(anthropic.event("content_block_start", { index, content_block: { type: "thinking", thinking: "" } }))
      for (const piece of options.thinking) {
        out.push(anthropic.event("content_block_delta", { index, delta: { type: "thinking_delta", thinking: piece } }))
      }
      out.push(anthropic.event("content_block_delta", { index, delta: { type: "signature_delta", signature: "c2ln" } }))
      out.push(anthropic.event("content_block_stop", { index }))
      index++
    }
    out.push(anthropic.event("content_block_start", { index, content_block: { type: "text", text: "" } }))
    out.push(anthropic.event("ping"))
    for (const piece of options.text ?? []) out.push(anthropic.textDelta(index, piece))
    out.push(anthropic.event("content_block_stop", { index }))
    for (const tool of options.toolUses ?? []) {
      index++
      out.push(anthropic.event("content_block_start", {
        index,
        content_block: { type: "tool_use", id: tool.id, name: tool.name, input: {} }
      }))
      for (const piece of tool.partialJson) {
        out.push(
          anthropic.event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: piece } })
        )
      }
      out.push(anthropic.event("content_block_stop", { index }))
    }
    const stopReason = options.stopReason ?? ((options.toolUses?.length ?? 0) > 0 ? "tool_use" : "end_turn")
    for (const total of options.outputTotals ?? [usage.output_tokens]) {
      out.push(anthropic.event("message_delta", {
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: total }
      }))
    }
    out.push(anthropic.event("message_stop"))
    return out
  }
}

/** The default reply to `input`, as `protocol` streams it. */
const defaultSteps = (protocol: Protocol, input: string): ReadonlyArray<Step> => {
  const text = words(defaultReplyText)
  const reasoning = input.includes("/think") ? words(defaultReasoningText) : undefined
  const events = protocol === "openai"
    ? openAi.reply({ text, ...(reasoning === undefined ? {} : { reasoning }) })
    : anthropic.reply({ text, ...(reasoning === undefined ? {} : { thinking: reasoning }) })
  return [...events.map(write), end]
}

// ---------------------------------------------------------------------------------------------------------------
// The server

/** One request the fake received. */
export interface Recorded {
  readonly protocol: Protocol
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  /** The JSON body (undefined when it was not JSON). */
  readonly body: unknown
  /** Waits until the connection closed: true when the client closed it before the reply ended. */
  readonly closed: Effect.Effect<boolean>
  /** Whether the connection has closed yet. */
  readonly isClosed: () => boolean
  /** Network writes made so far. */
  readonly writes: () => number
}

export interface FakeProvider {
  /** `http://127.0.0.1:PORT`: the Anthropic base URL. */
  readonly origin: string
  /** `origin + "/v1"`: the OpenAI-compatible base URL. */
  readonly openAiBaseUrl: string
  /** Queues replies for the next requests, in order. */
  readonly plan: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
  /** Every request so far. */
  readonly requests: Effect.Effect<ReadonlyArray<Recorded>>
  /** Waits for the n-th request (0-based). */
  readonly request: (n: number) => Effect.Effect<Recorded>
}

/** The text of the last user message of a recorded body, for the default replies. */
const lastUserText = (body: unknown): string => {
  const messages = (body as { messages?: ReadonlyArray<{ role?: string; content?: unknown }> } | undefined)?.messages
  const last = messages?.findLast((m) => m.role === "user")
  return typeof last?.content === "string" ? last.content : ""
}

/** Starts a fake on an ephemeral port of 127.0.0.1; it closes (dropping open connections) with the scope. */
export const start: Effect.Effect<FakeProvider, never, Scope.Scope> = Effect.acquireRelease(
  Effect.callback<{ readonly server: Http.Server; readonly fake: FakeProvider }>((resume) => {
    const planned: Array<Reply> = []
    const recorded: Array<Recorded> = []
    const arrivals: Array<Deferred.Deferred<Recorded>> = []
    const arrival = (n: number) => (arrivals[n] ??= Deferred.makeUnsafe<Recorded>())

    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8")
        const parsed = Result.try(() => JSON.parse(raw) as unknown)
        const body = Result.isSuccess(parsed) ? parsed.success : undefined
        const path = req.url ?? ""
        const protocol: Protocol | undefined = path.endsWith("/chat/completions")
          ? "openai"
          : path.endsWith("/v1/messages")
          ? "anthropic"
          : undefined
        if (protocol === undefined) {
          res.writeHead(404, { "content-type": "application/json" })
          res.end(JSON.stringify({ error: { type: "not_found_error", message: "no such route" } }))
          return
        }
        let writes = 0
        let resetByServer = false
        let closedEarly: boolean | undefined
        const closed = Deferred.makeUnsafe<boolean>()
        res.on("close", () => {
          closedEarly = !res.writableFinished && !resetByServer
          Deferred.doneUnsafe(closed, Exit.succeed(closedEarly))
        })
        const record: Recorded = {
          protocol,
          path,
          headers: req.headers,
          body,
          closed: Deferred.await(closed),
          isClosed: () => closedEarly !== undefined,
          writes: () => writes
        }
        Deferred.doneUnsafe(arrival(recorded.length), Exit.succeed(record))
        recorded.push(record)

        const open = () => !res.destroyed && closedEarly === undefined
        const send = (data: string | Uint8Array, next: () => void) => {
          if (!open()) return
          writes++
          res.write(data, () => next())
        }
        const run = (steps: ReadonlyArray<Step>, i: number): void => {
          const step = steps[i]
          if (step === undefined || !open()) return
          const next = () => run(steps, i + 1)
          switch (step._tag) {
            case "write":
              return send(step.data, next)
            case "pause":
              return void setTimeout(next, step.ms)
            case "gate":
              return step.gate.wait(next)
            case "stall":
              return
            case "reset":
              resetByServer = true
              return void res.socket?.destroy()
            case "end":
              return void res.end()
          }
        }
        const input = lastUserText(body)
        const reply = planned.shift() ?? (input === loopInput ? endless : stream(defaultSteps(protocol, input)))
        switch (reply._tag) {
          case "status":
            res.writeHead(reply.status, reply.headers)
            return void res.end(reply.body)
          case "silent":
            return
          case "stream":
            res.writeHead(200, reply.headers)
            res.flushHeaders()
            return run(reply.steps, 0)
          case "endless": {
            res.writeHead(200, { "content-type": "text/event-stream" })
            res.flushHeaders()
            const first = protocol === "openai"
              ? openAi.chunk({ role: "assistant", content: "" })
              : anthropic.messageStart({ input_tokens: 3, output_tokens: 1 }) +
                anthropic.event("content_block_start", { index: 0, content_block: { type: "text", text: "" } })
            const tick = (n: number): void => {
              if (n >= 100_000) return void res.end()
              const delta = protocol === "openai"
                ? openAi.chunk({ content: `t${n} ` })
                : anthropic.textDelta(0, `t${n} `)
              send(delta, () => void setTimeout(() => tick(n + 1), 2))
            }
            return send(first, () => tick(0))
          }
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      const origin = `http://127.0.0.1:${port}`
      resume(Effect.succeed({
        server,
        fake: {
          origin,
          openAiBaseUrl: `${origin}/v1`,
          plan: (...replies) => Effect.sync(() => void planned.push(...replies)),
          requests: Effect.sync(() => [...recorded]),
          request: (n) => Deferred.await(arrival(n))
        }
      }))
    })
  }),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ fake }) => fake))

// ---------------------------------------------------------------------------------------------------------------
// Observing an engine

export type Event = LlmEngine.EngineEvent

/** How a stream went: every event it emitted and how it ended. */
export interface Run {
  readonly events: ReadonlyArray<Event>
  readonly exit: Exit.Exit<void, Errors.EngineFailure>
}

/** Runs a stream to its end. */
export const run = (stream: Stream.Stream<Event, Errors.EngineFailure>): Effect.Effect<Run> =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    const exit = yield* stream.pipe(Stream.runForEach((event) => Effect.sync(() => events.push(event))), Effect.exit)
    return { events, exit }
  })

/** The typed failure a run ended with (failing the test when it succeeded or died). */
export const failureOf = (result: Run): Errors.EngineFailure => {
  if (Exit.isSuccess(result.exit)) return assert.fail(`the stream succeeded: ${JSON.stringify(result.events)}`)
  const error = Cause.findErrorOption(result.exit.cause)
  if (Option.isNone(error)) return assert.fail(`not a typed failure: ${Cause.pretty(result.exit.cause)}`)
  return error.value
}

/** Asserts the run succeeded. */
export const assertSuccess = (result: Run): void => {
  assert.isTrue(Exit.isSuccess(result.exit), Exit.isFailure(result.exit) ? Cause.pretty(result.exit.cause) : "")
}

export const textOf = (events: ReadonlyArray<Event>): string =>
  events.flatMap((e) => e._tag === "text_delta" ? [e.delta] : []).join("")
export const reasoningOf = (events: ReadonlyArray<Event>): string =>
  events.flatMap((e) => e._tag === "reasoning_delta" ? [e.delta] : []).join("")
export const tagsOf = (events: ReadonlyArray<Event>): ReadonlyArray<string> => events.map((e) => e._tag)
export const ofTag = <T extends Event["_tag"]>(events: ReadonlyArray<Event>, tag: T) =>
  events.filter((e): e is Extract<Event, { readonly _tag: T }> => e._tag === tag)

/** A stream running in a fiber, its events readable as they come. */
export interface Watched {
  /** The next event with `tag`, skipping others (which stay recorded in `done`). */
  readonly next: <T extends Event["_tag"]>(tag: T) => Effect.Effect<Extract<Event, { readonly _tag: T }>>
  /** Waits for the end. */
  readonly done: Effect.Effect<Run>
  readonly fiber: Fiber.Fiber<void, Errors.EngineFailure>
}

/** Starts consuming `stream` in a fiber of the test's scope. */
export const watch = (stream: Stream.Stream<Event, Errors.EngineFailure>): Effect.Effect<Watched, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    const queue = yield* Queue.unbounded<Event>()
    const fiber = yield* stream.pipe(
      Stream.runForEach((event) => Effect.andThen(Effect.sync(() => events.push(event)), Queue.offer(queue, event))),
      Effect.forkScoped({ startImmediately: true })
    )
    const next = <T extends Event["_tag"]>(tag: T): Effect.Effect<Extract<Event, { readonly _tag: T }>> =>
      Effect.flatMap(
        Queue.take(queue),
        (event): Effect.Effect<Extract<Event, { readonly _tag: T }>> =>
          event._tag === tag ? Effect.succeed(event as Extract<Event, { readonly _tag: T }>) : next(tag)
      )
    return { next, fiber, done: Effect.map(Fiber.await(fiber), (exit) => ({ events, exit })) }
  })

// ---------------------------------------------------------------------------------------------------------------
// Sanitization scans

/** Distinctive secrets for the scan tests: none may show in an event or a failure. */
export const secrets = {
  apiKey: "sk-yoi-scan-0f9e8d7c6b5a4",
  basePath: "/scan-base-path-3c1d",
  systemPrompt: "SYSTEM-scan-prompt alpha bravo charlie",
  history: ["HISTORY-scan-question delta echo", "HISTORY-scan-answer foxtrot golf"],
  input: "INPUT-scan-request hotel india juliet"
} as const

/** The scan's request: the secret system prompt, history and input. */
export const secretRequest = (): LlmEngine.EngineRequest =>
  engineRequest(secrets.input, {
    systemPrompt: secrets.systemPrompt,
    history: secrets.history.map((text, i) => historyEntry(i + 1, i % 2 === 0 ? "user" : "assistant", text))
  })

/** What must not appear, for an engine whose base URL is `baseUrl` on `fake`. */
export const needles = (fake: FakeProvider, baseUrl: string): ReadonlyArray<string> => [
  secrets.apiKey,
  secrets.basePath,
  baseUrl,
  fake.origin,
  fake.origin.replace("http://", ""),
  secrets.systemPrompt,
  ...secrets.history,
  secrets.input
]

/** An error message that gives everything away, the way careless providers and proxies write them. */
const echo = (baseUrl: string, path: string) =>
  `Request to ${baseUrl}${path} with key ${secrets.apiKey} failed: messages[0].content '${secrets.systemPrompt}' ` +
  `and "${secrets.input}"; history ${secrets.history[0]} / ${secrets.history[1]}; plain ${secrets.input};\n` +
  `Authorization: Bearer ${secrets.apiKey} (server ${new URL(baseUrl).host})`

/** Fault scenarios in which the fake echoes the secrets back. */
export const leakyScenarios = (
  protocol: Protocol,
  baseUrl: string
): ReadonlyArray<{ readonly name: string; readonly replies: ReadonlyArray<Reply> }> => {
  const path = protocol === "openai" ? "/chat/completions" : "/v1/messages"
  const message = echo(baseUrl, path)
  const errorBody = (code: string) =>
    protocol === "openai"
      ? { error: { message, type: code, code: secrets.apiKey } }
      : { type: "error", error: { type: code, message } }
  const firstEvents = protocol === "openai"
    ? [openAi.chunk({ role: "assistant", content: "" }), openAi.chunk({ content: "ok " })]
    : [...anthropic.reply({ text: [] }).slice(0, 2), anthropic.textDelta(0, "ok ")]
  return [
    { name: "400 echoing everything", replies: [status(400, errorBody("invalid_request_error"))] },
    { name: "401 echoing the key", replies: [status(401, errorBody("authentication_error"))] },
    {
      name: "429 exhausted",
      replies: [
        status(429, errorBody("rate_limit_error"), { "retry-after-ms": "0" }),
        status(429, errorBody("rate_limit_error"), { "retry-after-ms": "0" })
      ]
    },
    { name: "429 asking too long", replies: [status(429, errorBody("rate_limit_error"), { "retry-after": "9999" })] },
    {
      name: "500s with HTML pages",
      replies: [
        status(500, `<html><body>${message}</body></html>`, { "content-type": "text/html" }),
        status(502, message, { "content-type": "text/plain" })
      ]
    },
    {
      name: "529 with an echo",
      replies: [status(529, errorBody("overloaded_error")), status(400, { error: message })]
    },
    {
      name: "an error event mid-stream",
      replies: [stream([
        ...firstEvents.map(write),
        write(
          protocol === "openai"
            ? openAi.error({ message, type: "server_error", code: secrets.apiKey })
            : anthropic.error("api_error", message)
        ),
        end
      ])]
    },
    {
      name: "malformed data echoing the prompt",
      replies: [stream([...firstEvents.map(write), write(`data: {"echo": "${secrets.input}" \n\n`), end])]
    },
    {
      name: "an HTML 200",
      replies: [status(200, `<html>${message}</html>`, { "content-type": `text/html; charset=${secrets.apiKey}` })]
    }
  ]
}

/** Asserts nothing the run emitted or failed with contains a needle, and the failure message is one bounded line. */
export const assertNothingLeaks = (result: Run, secretNeedles: ReadonlyArray<string>, scenario: string): void => {
  const failure = Exit.isFailure(result.exit) ? Cause.findErrorOption(result.exit.cause) : Option.none()
  const seen = JSON.stringify({ events: result.events, failure: Option.getOrUndefined(failure) })
  for (const needle of secretNeedles) assert.notInclude(seen, needle, `${scenario}: leaks ${needle}`)
  assert.isTrue(Option.isSome(failure), `${scenario}: fails`)
  if (Option.isNone(failure)) return
  assert.notMatch(failure.value.message, /[\r\n]/, `${scenario}: one line`)
  assert.isAtMost(failure.value.message.length, 200, `${scenario}: bounded`)
  assert.match(failure.value.code, /^[A-Za-z][\w.:-]*$/, `${scenario}: an identifier code`)
}
