/**
 * Port: runs one LLM turn — history + input → a stream of engine events.
 * Adapters: `ScriptedLlmEngine` (deterministic, offline), `OpenAiCompatLlmEngine`, `AnthropicLlmEngine`.
 *
 * An engine streams; it does not persist, number or publish anything (the Runtime does). Cancellation is fiber
 * interruption: an engine must release its request when its stream is interrupted. A stream that ends without a
 * failure is a complete reply; an engine that cannot tell (a provider stream cut before its terminator) fails.
 *
 * **Details** `messages` is the one definition of how a request becomes a provider conversation, shared by every
 * provider engine. Errors (`EngineFailure`) and every event carry no API key, base URL or prompt text.
 */
import { Context, Schema, type Stream } from "effect"
import type { EngineFailure } from "./Errors.ts"
import type { TranscriptEntry } from "./Transcript.ts"
import { UsageFigures } from "./Worker.ts"

/** Generation settings a profile may set; unset ones fall back to the provider's. @category schemas */
export const GenerationSettings = Schema.Struct({
  maxOutputTokens: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  temperature: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 2 })))
})
/** @category models */
export type GenerationSettings = typeof GenerationSettings.Type

/**
 * The resolved profile a run uses. Tools are granted explicitly; none by default. `provider` names the provider
 * the profile runs on (the Runtime's default when unset); `model` overrides that provider's model.
 * @category models
 */
export class Profile extends Schema.Class<Profile>("@yoi/domain/Profile")({
  name: Schema.String,
  description: Schema.String,
  systemPrompt: Schema.String,
  tools: Schema.Array(Schema.String),
  provider: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  generation: Schema.optional(GenerationSettings)
}) {}

/** @category models */
export interface EngineRequest {
  readonly workerId: string
  readonly runId: string
  readonly profile: Profile
  /** The model the Worker runs on, recorded when it was created. */
  readonly model: string
  /** The most recent transcript entries before this input (bounded by the Runtime). */
  readonly history: ReadonlyArray<TranscriptEntry>
  readonly input: string
}

/**
 * Why a provider stopped a complete reply: `stop` (its natural end), `length` (the output token limit),
 * `tool_use` (it called tools), `other`. A reply stopped by a content filter is an `EngineFailure`
 * (`content_filter`), not a finish: its text is partial.
 * @category schemas
 */
export const FinishReason = Schema.Literals(["stop", "length", "tool_use", "other"])
/** @category models */
export type FinishReason = typeof FinishReason.Type

/** @category schemas */
export const EngineEvent = Schema.Union([
  Schema.TaggedStruct("text_delta", { delta: Schema.String }),
  Schema.TaggedStruct("reasoning_delta", { delta: Schema.String }),
  Schema.TaggedStruct("tool_call", { callId: Schema.String, name: Schema.String, input: Schema.String }),
  Schema.TaggedStruct("tool_result", { callId: Schema.String, output: Schema.String, isError: Schema.Boolean }),
  Schema.TaggedStruct("usage", { usage: UsageFigures }),
  Schema.TaggedStruct("retry", { attempt: Schema.Number, reason: Schema.String, delayMs: Schema.Number }),
  Schema.TaggedStruct("finish", { reason: FinishReason })
])
/** @category models */
export type EngineEvent = typeof EngineEvent.Type

/** @category models */
export interface EngineInfo {
  /** The provider's configured name (`scripted`, `openai`, `local-llama`, …): what views show. */
  readonly provider: string
  /** `scripted`, `openai-compatible` or `anthropic`. */
  readonly kind: string
  /** The provider's default model. */
  readonly model: string
  /** True for engines that do not call a model (scripted): surfaced in banners and summaries. */
  readonly scripted: boolean
}

/** One message of a provider conversation. @category models */
export interface Message {
  readonly role: "user" | "assistant"
  readonly text: string
}

/** Marks assistant text that was cut off, so the model reads it as such. */
const interruptedMark = "\n\n[interrupted]"

/**
 * The conversation a request stands for, after the profile's system prompt: the bounded history's user and
 * assistant entries (reasoning, tool and error entries left out; interrupted assistant text kept and marked as
 * such; empty text dropped), then the input. Roles alternate and the conversation starts with the user, as strict
 * chat templates and APIs require: consecutive messages of one role (a failed run leaves a user message without a
 * reply) are joined, and assistant text before the first user message (the history window's cut) is dropped.
 * @category constructors
 */
export const messages = (request: EngineRequest): ReadonlyArray<Message> => {
  const out: Array<{ role: Message["role"]; text: string }> = []
  const add = (role: Message["role"], text: string) => {
    const last = out.at(-1)
    if (last === undefined && role === "assistant") return
    if (last !== undefined && last.role === role) last.text = `${last.text}\n\n${text}`
    else out.push({ role, text })
  }
  for (const entry of request.history) {
    if (entry.kind !== "user" && entry.kind !== "assistant") continue
    if (entry.text.length === 0) continue
    add(
      entry.kind,
      entry.kind === "assistant" && entry.interrupted === true ? entry.text + interruptedMark : entry.text
    )
  }
  add("user", request.input)
  return out
}

/** @category services */
export class LlmEngine extends Context.Service<LlmEngine, {
  readonly info: EngineInfo
  stream(request: EngineRequest): Stream.Stream<EngineEvent, EngineFailure>
}>()("@yoi/domain/LlmEngine") {}
