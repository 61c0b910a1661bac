/**
 * Port: runs one LLM turn — history + input → a stream of engine events.
 * Adapters: `ScriptedLlmEngine` (deterministic, offline), provider engines later.
 *
 * An engine streams; it does not persist, number or publish anything (the Runtime does). Cancellation is fiber
 * interruption: an engine must release its request when its stream is interrupted.
 */
import { Context, Schema, type Stream } from "effect"
import type { EngineFailure } from "./Errors.ts"
import type { TranscriptEntry } from "./Transcript.ts"
import { UsageFigures } from "./Worker.ts"

/** The resolved profile a run uses. Tools are granted explicitly; none by default. @category models */
export class Profile extends Schema.Class<Profile>("@yoi/domain/Profile")({
  name: Schema.String,
  description: Schema.String,
  systemPrompt: Schema.String,
  tools: Schema.Array(Schema.String)
}) {}

/** @category models */
export interface EngineRequest {
  readonly workerId: string
  readonly runId: string
  readonly profile: Profile
  /** The most recent transcript entries before this input (bounded by the Runtime). */
  readonly history: ReadonlyArray<TranscriptEntry>
  readonly input: string
}

/** @category schemas */
export const EngineEvent = Schema.Union([
  Schema.TaggedStruct("text_delta", { delta: Schema.String }),
  Schema.TaggedStruct("reasoning_delta", { delta: Schema.String }),
  Schema.TaggedStruct("tool_call", { callId: Schema.String, name: Schema.String, input: Schema.String }),
  Schema.TaggedStruct("tool_result", { callId: Schema.String, output: Schema.String, isError: Schema.Boolean }),
  Schema.TaggedStruct("usage", { usage: UsageFigures }),
  Schema.TaggedStruct("retry", { attempt: Schema.Number, reason: Schema.String, delayMs: Schema.Number })
])
/** @category models */
export type EngineEvent = typeof EngineEvent.Type

/** @category models */
export interface EngineInfo {
  readonly provider: string
  readonly model: string
  /** True for engines that do not call a model (scripted): surfaced in banners and summaries. */
  readonly scripted: boolean
}

/** @category services */
export class LlmEngine extends Context.Service<LlmEngine, {
  readonly info: EngineInfo
  stream(request: EngineRequest): Stream.Stream<EngineEvent, EngineFailure>
}>()("@yoi/domain/LlmEngine") {}
