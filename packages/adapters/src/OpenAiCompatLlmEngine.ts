/**
 * Adapter: the `LlmEngine` port on an OpenAI-compatible Chat Completions API (`POST {baseUrl}/chat/completions`,
 * streamed), the dialect of OpenAI itself and of llama.cpp, vLLM, Ollama, OpenRouter and most local servers.
 *
 * It streams text deltas, reasoning deltas (`reasoning_content` or `reasoning`, whichever the server sends), tool
 * calls assembled from their pieces, the finish reason and usage (prompt tokens including cached ones), under the
 * shared `ProviderPolicy`: retries before the first event, a first-event and an idle timeout. A stream that stops
 * before `[DONE]` without a finish reason is `stream_truncated`; `content_filter` is a failure after the partial
 * text. It needs an `HttpClient` (`FetchHttpClient.layer` in production); interrupting the stream aborts the request.
 *
 * Deliberately not here: running tools (calls are announced, never executed), sending tool definitions, parameters
 * beyond `max_tokens` and `temperature`, and logging. Failures and events never carry the key, base URL or prompt.
 */
import { Errors, LlmEngine, Worker } from "@yoi/domain"
import { Effect, Layer, Predicate, type Redacted, Result, Schema, type Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import * as providerStream from "./internal/providerStream.ts"
import { requestScrubber } from "./internal/sanitize.ts"
import * as ProviderPolicy from "./ProviderPolicy.ts"

/** @category models */
export interface Options {
  /** The provider's configured name, as views show it (default `openai-compatible`). */
  readonly name?: string | undefined
  /** The API root the paths hang off, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`. */
  readonly baseUrl: string
  /** The provider's default model (a request names its own). */
  readonly model: string
  /** Sent as a bearer token when given. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** `max_tokens` when a profile sets none (default: the server's). */
  readonly maxOutputTokens?: number | undefined
  /** `temperature` when a profile sets none (default: the server's). */
  readonly temperature?: number | undefined
  readonly policy?: Partial<ProviderPolicy.Options> | undefined
}

const Text = Schema.optional(Schema.NullOr(Schema.String))
const Tokens = Schema.optional(Schema.NullOr(Schema.Number))

const Chunk = Schema.Struct({
  choices: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({
    index: Schema.optional(Schema.NullOr(Schema.Number)),
    delta: Schema.optional(Schema.NullOr(Schema.Struct({
      content: Text,
      reasoning_content: Text,
      reasoning: Text,
      tool_calls: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({
        index: Schema.optional(Schema.NullOr(Schema.Number)),
        id: Text,
        function: Schema.optional(Schema.NullOr(Schema.Struct({ name: Text, arguments: Text })))
      }))))
    }))),
    finish_reason: Text
  })))),
  usage: Schema.optional(Schema.NullOr(Schema.Struct({
    prompt_tokens: Tokens,
    completion_tokens: Tokens,
    prompt_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({ cached_tokens: Tokens }))),
    completion_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({ reasoning_tokens: Tokens })))
  }))),
  error: Schema.optional(Schema.Unknown)
})
const decodeChunk = Schema.decodeUnknownResult(Schema.fromJsonString(Chunk))

/** A token count as the port holds it: a non-negative integer (0 when absent or nonsensical). */
const count = (value: number | null | undefined) =>
  Predicate.isNumber(value) && Number.isFinite(value) ? Math.max(0, Math.floor(value)) : 0

const finishReasons: Record<string, LlmEngine.FinishReason> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool_use",
  function_call: "tool_use"
}

/** The decoder of one attempt's `chat.completion.chunk`s. */
const decoder = (
  fail: (code: string, message: string) => Errors.EngineFailure,
  scrub: (text: string) => string
) =>
(): providerStream.Decoder => {
  let done = false
  let finishReason: string | undefined
  let usage = Worker.UsageFigures.zero
  const calls = new Map<number, { id: string; name: string; input: string }>()

  return {
    event: (event) => {
      if (event.data === "[DONE]") {
        done = true
        return Result.succeed({ events: [], done: true })
      }
      const chunk = decodeChunk(event.data)
      if (Result.isFailure(chunk)) return Result.fail(fail("invalid_stream", "a chunk of the reply is not valid"))
      const { choices, error } = chunk.success
      if (error !== undefined && error !== null) {
        return Result.fail(providerStream.streamErrorFailure(error, fail, scrub))
      }
      const events: Array<LlmEngine.EngineEvent> = []
      for (const choice of choices ?? []) {
        if ((choice.index ?? 0) !== 0) continue
        const delta = choice.delta
        const reasoning = delta?.reasoning_content ?? delta?.reasoning
        if (reasoning) events.push({ _tag: "reasoning_delta", delta: reasoning })
        if (delta?.content) events.push({ _tag: "text_delta", delta: delta.content })
        for (const piece of delta?.tool_calls ?? []) {
          const index = piece.index ?? 0
          const call = calls.get(index) ?? { id: "", name: "", input: "" }
          if (piece.id) call.id = piece.id
          // the name comes whole (some servers repeat it in every piece): set, never appended
          if (piece.function?.name) call.name = piece.function.name
          if (piece.function?.arguments) call.input += piece.function.arguments
          calls.set(index, call)
        }
        if (choice.finish_reason) finishReason = choice.finish_reason
      }
      const reported = chunk.success.usage
      if (reported) {
        usage = new Worker.UsageFigures({
          inputTokens: count(reported.prompt_tokens),
          outputTokens: count(reported.completion_tokens),
          cacheReadTokens: count(reported.prompt_tokens_details?.cached_tokens),
          reasoningTokens: count(reported.completion_tokens_details?.reasoning_tokens)
        })
      }
      return Result.succeed({ events, done: false })
    },
    end: () => {
      if (!done && finishReason === undefined) {
        return { events: [], failure: fail("stream_truncated", "the reply stopped before its end ([DONE])") }
      }
      const usageEvent: LlmEngine.EngineEvent = { _tag: "usage", usage }
      if (finishReason === "content_filter") {
        return {
          events: [usageEvent],
          failure: fail("content_filter", "the provider's content filter stopped the reply")
        }
      }
      const toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([index, call]): LlmEngine.EngineEvent => ({
        _tag: "tool_call",
        callId: call.id === "" ? `call_${index}` : call.id,
        name: call.name,
        input: call.input === "" ? "{}" : call.input
      }))
      const reason = finishReason === undefined ? "other" : finishReasons[finishReason] ?? "other"
      return { events: [...toolCalls, { _tag: "finish", reason }, usageEvent] }
    }
  }
}

/** @category constructors */
export const make = Effect.fnUntraced(function*(options: Options) {
  const client = yield* HttpClient.HttpClient
  const policy = yield* Effect.orDie(Effect.fromResult(ProviderPolicy.resolve(options.policy)))
  const provider = options.name ?? "openai-compatible"
  const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`
  const fail = (code: string, message: string) => new Errors.EngineFailure({ provider, code, message })

  const stream = (request: LlmEngine.EngineRequest): Stream.Stream<LlmEngine.EngineEvent, Errors.EngineFailure> => {
    const system = request.profile.systemPrompt
    const maxTokens = request.profile.generation?.maxOutputTokens ?? options.maxOutputTokens
    const temperature = request.profile.generation?.temperature ?? options.temperature
    const body = {
      model: request.model === "" ? options.model : request.model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        ...(system === "" ? [] : [{ role: "system", content: system }]),
        ...LlmEngine.messages(request).map((message) => ({ role: message.role, content: message.text }))
      ],
      ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
      ...(temperature === undefined ? {} : { temperature })
    }
    const httpRequest = HttpClientRequest.post(url).pipe(
      HttpClientRequest.accept("text/event-stream"),
      HttpClientRequest.bodyJsonUnsafe(body),
      (r) => options.apiKey === undefined ? r : HttpClientRequest.bearerToken(r, options.apiKey)
    )
    const scrub = requestScrubber({ apiKey: options.apiKey, baseUrl: options.baseUrl, request })
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
    info: { provider, kind: "openai-compatible", model: options.model, scripted: false },
    stream
  })
})

/** @category layers */
export const layer = (options: Options): Layer.Layer<LlmEngine.LlmEngine, never, HttpClient.HttpClient> =>
  Layer.effect(LlmEngine.LlmEngine, make(options))
