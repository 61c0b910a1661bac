/**
 * Adapter: the `LlmEngine` port on Anthropic's Messages API (`POST {baseUrl}/v1/messages`, streamed, API version
 * `2023-06-01`), for Claude and for servers that speak the same protocol.
 *
 * It streams text and thinking (`content_block_*` events) as text and reasoning deltas, tool calls assembled from
 * their `input_json_delta` pieces, the stop reason and usage (input = uncached + cache reads + cache writes, so it
 * compares with other providers' prompt tokens), under the shared `ProviderPolicy`: retries before the first event
 * (529 `overloaded_error` included), a first-event and an idle timeout. A stream without `message_stop` is
 * `stream_truncated`; a `refusal` is a `content_filter` failure after the partial text. It needs an `HttpClient`
 * (`FetchHttpClient.layer` in production); interrupting the stream aborts the request.
 *
 * Deliberately not here: running tools, sending tool definitions, prompt caching markers, thinking budgets and
 * logging. Failures and events never carry the key, base URL or prompt.
 */
import { Errors, LlmEngine, Worker } from "@yoi/domain"
import { Effect, Layer, Predicate, Redacted, Result, Schema, type Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import * as providerStream from "./internal/providerStream.ts"
import { requestScrubber } from "./internal/sanitize.ts"
import * as ProviderPolicy from "./ProviderPolicy.ts"

/** @category models */
export interface Options {
  /** The provider's configured name, as views show it (default `anthropic`). */
  readonly name?: string | undefined
  /** The API root (default `https://api.anthropic.com`). */
  readonly baseUrl?: string | undefined
  /** The provider's default model (a request names its own). */
  readonly model: string
  /** Sent as `x-api-key` when given. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** `max_tokens` when a profile sets none (default 4096: the API requires one). */
  readonly maxOutputTokens?: number | undefined
  /** `temperature` when a profile sets none (default: the API's). */
  readonly temperature?: number | undefined
  readonly policy?: Partial<ProviderPolicy.Options> | undefined
}

/** @category constructors */
export const defaultBaseUrl = "https://api.anthropic.com"
/** @category constructors */
export const defaultMaxOutputTokens = 4096

const Text = Schema.optional(Schema.NullOr(Schema.String))
const Tokens = Schema.optional(Schema.NullOr(Schema.Number))
const Usage = Schema.optional(Schema.NullOr(Schema.Struct({
  input_tokens: Tokens,
  output_tokens: Tokens,
  cache_read_input_tokens: Tokens,
  cache_creation_input_tokens: Tokens
})))

const Event = Schema.Struct({
  type: Schema.String,
  index: Schema.optional(Schema.NullOr(Schema.Number)),
  message: Schema.optional(Schema.NullOr(Schema.Struct({ usage: Usage }))),
  content_block: Schema.optional(Schema.NullOr(Schema.Struct({
    type: Schema.String,
    id: Text,
    name: Text,
    text: Text,
    thinking: Text
  }))),
  delta: Schema.optional(Schema.NullOr(Schema.Struct({
    type: Text,
    text: Text,
    thinking: Text,
    partial_json: Text,
    stop_reason: Text
  }))),
  usage: Usage,
  error: Schema.optional(Schema.Unknown)
})
type Event = typeof Event.Type
const decodeEvent = Schema.decodeUnknownResult(Schema.fromJsonString(Event))

/** A token count as the port holds it: a non-negative integer (undefined when absent or nonsensical). */
const count = (value: number | null | undefined) =>
  Predicate.isNumber(value) && Number.isFinite(value) ? Math.max(0, Math.floor(value)) : undefined

const stopReasons: Record<string, LlmEngine.FinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  tool_use: "tool_use"
}

const step = (events: ReadonlyArray<LlmEngine.EngineEvent>) => Result.succeed({ events, done: false })

/** The decoder of one attempt's Messages stream events. */
const decoder = (
  fail: (code: string, message: string) => Errors.EngineFailure,
  scrub: (text: string) => string
) =>
(): providerStream.Decoder => {
  let stopped = false
  let stopReason: string | undefined
  // Anthropic reports input as three disjoint parts; every figure in message_delta is a running total.
  const tokens = { input: 0, cacheRead: 0, cacheCreation: 0, output: 0 }
  const calls = new Map<number, { id: string; name: string; input: string }>()
  const record = (usage: Event["usage"]) => {
    tokens.input = count(usage?.input_tokens) ?? tokens.input
    tokens.cacheRead = count(usage?.cache_read_input_tokens) ?? tokens.cacheRead
    tokens.cacheCreation = count(usage?.cache_creation_input_tokens) ?? tokens.cacheCreation
    tokens.output = count(usage?.output_tokens) ?? tokens.output
  }
  const usage = (): LlmEngine.EngineEvent => ({
    _tag: "usage",
    usage: new Worker.UsageFigures({
      inputTokens: tokens.input + tokens.cacheRead + tokens.cacheCreation,
      outputTokens: tokens.output,
      cacheReadTokens: tokens.cacheRead,
      reasoningTokens: 0
    })
  })

  return {
    event: (sse) => {
      const decoded = decodeEvent(sse.data)
      if (Result.isFailure(decoded)) return Result.fail(fail("invalid_stream", "an event of the reply is not valid"))
      const event = decoded.success
      const index = event.index ?? 0
      switch (event.type) {
        case "message_start":
          record(event.message?.usage)
          return step([])
        case "content_block_start": {
          const block = event.content_block
          if (block?.type === "tool_use") {
            calls.set(index, { id: block.id ?? `toolu_${index}`, name: block.name ?? "", input: "" })
          }
          if (block?.type === "text" && block.text) return step([{ _tag: "text_delta", delta: block.text }])
          if (block?.type === "thinking" && block.thinking) {
            return step([{ _tag: "reasoning_delta", delta: block.thinking }])
          }
          return step([])
        }
        case "content_block_delta": {
          const delta = event.delta
          if (delta?.type === "text_delta" && delta.text) return step([{ _tag: "text_delta", delta: delta.text }])
          if (delta?.type === "thinking_delta" && delta.thinking) {
            return step([{ _tag: "reasoning_delta", delta: delta.thinking }])
          }
          const call = calls.get(index)
          if (delta?.type === "input_json_delta" && delta.partial_json && call !== undefined) {
            call.input += delta.partial_json
          }
          return step([])
        }
        case "content_block_stop": {
          const call = calls.get(index)
          if (call === undefined) return step([])
          calls.delete(index)
          return step([{ _tag: "tool_call", callId: call.id, name: call.name, input: call.input || "{}" }])
        }
        case "message_delta":
          if (event.delta?.stop_reason) stopReason = event.delta.stop_reason
          record(event.usage)
          return step([])
        case "message_stop":
          stopped = true
          return Result.succeed({ events: [], done: true })
        case "error":
          return Result.fail(providerStream.streamErrorFailure(event.error, fail, scrub))
        default: // ping, and event types added later
          return step([])
      }
    },
    end: () => {
      if (!stopped) return { events: [], failure: fail("stream_truncated", "the reply stopped before its end") }
      if (stopReason === "refusal") {
        return { events: [usage()], failure: fail("content_filter", "the model refused to continue the reply") }
      }
      const reason = stopReason === undefined ? "other" : stopReasons[stopReason] ?? "other"
      return { events: [{ _tag: "finish", reason }, usage()] }
    }
  }
}

/** @category constructors */
export const make = Effect.fnUntraced(function*(options: Options) {
  const client = yield* HttpClient.HttpClient
  const policy = yield* Effect.orDie(Effect.fromResult(ProviderPolicy.resolve(options.policy)))
  const provider = options.name ?? "anthropic"
  const baseUrl = options.baseUrl ?? defaultBaseUrl
  const url = `${baseUrl.replace(/\/+$/, "")}/v1/messages`
  const fail = (code: string, message: string) => new Errors.EngineFailure({ provider, code, message })

  const stream = (request: LlmEngine.EngineRequest): Stream.Stream<LlmEngine.EngineEvent, Errors.EngineFailure> => {
    const system = request.profile.systemPrompt
    const temperature = request.profile.generation?.temperature ?? options.temperature
    const body = {
      model: request.model === "" ? options.model : request.model,
      max_tokens: request.profile.generation?.maxOutputTokens ?? options.maxOutputTokens ?? defaultMaxOutputTokens,
      stream: true,
      ...(system === "" ? {} : { system }),
      messages: LlmEngine.messages(request).map((message) => ({ role: message.role, content: message.text })),
      ...(temperature === undefined ? {} : { temperature })
    }
    const httpRequest = HttpClientRequest.post(url).pipe(
      HttpClientRequest.accept("text/event-stream"),
      HttpClientRequest.setHeader("anthropic-version", "2023-06-01"),
      HttpClientRequest.bodyJsonUnsafe(body),
      (r) =>
        options.apiKey === undefined ? r : HttpClientRequest.setHeader(r, "x-api-key", Redacted.value(options.apiKey))
    )
    const scrub = requestScrubber({ apiKey: options.apiKey, baseUrl, request })
    return providerStream.stream({
      provider,
      policy,
      client,
      request: httpRequest,
      scrub,
      decoder: decoder(fail, scrub)
    })
  }

  return LlmEngine.LlmEngine.of({
    info: { provider, kind: "anthropic", model: options.model, scripted: false },
    stream
  })
})

/** @category layers */
export const layer = (options: Options): Layer.Layer<LlmEngine.LlmEngine, never, HttpClient.HttpClient> =>
  Layer.effect(LlmEngine.LlmEngine, make(options))
