/**
 * Adapter: a **scripted** `LlmEngine` — deterministic and offline. It calls no model: it streams a configured (or
 * input-derived) reply split into N deltas, optionally with a per-delta delay driven by the Effect `Clock` (so
 * `TestClock` controls it), usage figures, and injected failures. It is what tests, demos and a server with no
 * provider configured use, and it says so in `info.scripted`.
 *
 * **Details** A per-input script can be given in the input itself, so a Runtime in another process can be driven
 * by tests: an input that starts with `/script {json}` is decoded with `Script`. The prompt follows the JSON
 * object, on the same line (`/script {"deltas":3} hello`) or on the next ones. A malformed script — bad JSON, a
 * field of the wrong type, an unknown key (named in the message) — is an `EngineFailure` `invalid_script`, never a
 * crash.
 */
import { Errors, LlmEngine, Worker } from "@yoi/domain"
import { Duration, Effect, Layer, Predicate, Result, Schema, Stream } from "effect"

/** What one run does. Every field is optional; unset ones fall back to the engine's options. @category schemas */
export const Script = Schema.Struct({
  reply: Schema.optional(Schema.String),
  deltas: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000_000 }))),
  delayMs: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 600_000 }))),
  reasoning: Schema.optional(Schema.String),
  /** `"before"`: fail before the first delta; a number k: fail after k deltas. */
  fail: Schema.optional(Schema.Union([Schema.Literal("before"), Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))]))
})
/** @category models */
export type Script = typeof Script.Type

/** @category models */
export interface Options {
  /** The reply, or a function of the request. Default: `Scripted reply to: <input>`. */
  readonly reply?: string | ((request: LlmEngine.EngineRequest) => string) | undefined
  /** Number of text deltas (default: one per word of the reply). */
  readonly deltas?: number | undefined
  /** Delay before each delta, on the Effect Clock (default: none). */
  readonly delay?: Duration.Input | undefined
  /** Reasoning text streamed before the reply as reasoning deltas (default: none). */
  readonly reasoning?: string | undefined
  /** Usage reported at the end of the run (default: characters / 4). */
  readonly usage?: ((request: LlmEngine.EngineRequest, reply: string) => Worker.UsageFigures) | undefined
  /** Inject a failure: before the first delta, or after k deltas. */
  readonly fail?: "before" | number | undefined
  /** The provider name it is known by (default: `scripted`). */
  readonly name?: string | undefined
  /** Honour `/script {json}` inputs (default: true). */
  readonly inputScripts?: boolean | undefined
}

const scriptPrefix = "/script "
const knownKeys = Object.keys(Script.fields)
const decodeScript = Schema.decodeUnknownResult(Script)

/** Where the JSON object at the start of `text` ends (the index after its `}`), or -1 if it does not close. */
const objectEnd = (text: string): number => {
  if (text[0] !== "{") return -1
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === "\\") i++
      else if (c === "\"") inString = false
    } else if (c === "\"") inString = true
    else if (c === "{" || c === "[") depth++
    else if (c === "}" || c === "]") {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return -1
}

/** A short, printable rendering of user text for a message. */
const quote = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)

/** The script and the prompt of a `/script` input, or why the directive is malformed. */
const parseDirective = (input: string): Result.Result<{ readonly script: Script; readonly prompt: string }, string> => {
  const rest = input.slice(scriptPrefix.length)
  const end = objectEnd(rest)
  if (end === -1) return Result.fail("expected a JSON object after /script")
  const json = Result.try(() => JSON.parse(rest.slice(0, end)) as unknown)
  if (Result.isFailure(json) || !Predicate.isObject(json.success)) return Result.fail("the script is not valid JSON")
  const unknown = Object.keys(json.success).filter((key) => !knownKeys.includes(key))
  if (unknown.length > 0) {
    return Result.fail(
      `unknown key${unknown.length > 1 ? "s" : ""} ${unknown.slice(0, 5).map(quote).join(", ")} (known: ${
        knownKeys.join(", ")
      })`
    )
  }
  const script = decodeScript(json.success)
  if (Result.isFailure(script)) return Result.fail(script.failure.message.replace(/\s+/g, " ").slice(0, 200))
  // The prompt: the rest of the line after the object, or the lines below it.
  const prompt = rest.slice(end).replace(/^[ \t]*\n?/, "")
  return Result.succeed({ script: script.success, prompt })
}

const failure = (message: string, code = "scripted_failure") =>
  new Errors.EngineFailure({ provider: "scripted", code, message })

/** Splits `text` into exactly `n` non-empty pieces (repeating the text when it is shorter than `n`). */
export const splitInto = (text: string, n: number): ReadonlyArray<string> => {
  const source = text.length === 0 ? "." : text
  const padded = source.length >= n ? source : source.repeat(Math.ceil(n / source.length)).slice(0, n)
  const pieces: Array<string> = []
  const size = padded.length / n
  for (let i = 0; i < n; i++) pieces.push(padded.slice(Math.round(i * size), Math.round((i + 1) * size)))
  return pieces
}

const wordPieces = (text: string): ReadonlyArray<string> => text.match(/\S+\s*|\s+/g) ?? [text]

const defaultUsage = (request: LlmEngine.EngineRequest, reply: string) =>
  new Worker.UsageFigures({
    inputTokens: Math.ceil((request.input.length + request.history.reduce((n, e) => n + e.text.length, 0)) / 4),
    outputTokens: Math.ceil(reply.length / 4),
    cacheReadTokens: 0,
    reasoningTokens: 0
  })

/** @category constructors */
export const make = (options: Options = {}): LlmEngine.LlmEngine["Service"] => {
  const run = (request: LlmEngine.EngineRequest, script: Script): Stream.Stream<
    LlmEngine.EngineEvent,
    Errors.EngineFailure
  > => {
    const reply = script.reply ??
      (typeof options.reply === "function"
        ? options.reply(request)
        : options.reply ?? `Scripted reply to: ${request.input}`)
    const n = script.deltas ?? options.deltas
    const pieces = n === undefined ? wordPieces(reply) : splitInto(reply, n)
    const delay = script.delayMs !== undefined ? Duration.millis(script.delayMs) : options.delay
    const reasoning = script.reasoning ?? options.reasoning
    const fail = script.fail ?? options.fail
    const usage = (options.usage ?? defaultUsage)(request, reply)

    const events: Array<LlmEngine.EngineEvent> = []
    if (reasoning !== undefined) {
      for (const delta of wordPieces(reasoning)) events.push({ _tag: "reasoning_delta", delta })
    }
    const before = events.length
    for (const delta of pieces) events.push({ _tag: "text_delta", delta })
    const failAt = fail === "before" ? 0 : fail
    // "before" means nothing streams at all; k counts text deltas (reasoning comes first).
    const emitted = failAt === undefined
      ? events
      : failAt === 0
      ? []
      : events.slice(0, before + Math.min(failAt, pieces.length))

    const paced = delay === undefined || Duration.isZero(Duration.fromInputUnsafe(delay))
      ? Stream.fromArray(emitted)
      : Stream.fromArray(emitted).pipe(Stream.mapEffect((event) => Effect.as(Effect.sleep(delay), event)))
    const ending: Stream.Stream<LlmEngine.EngineEvent, Errors.EngineFailure> = failAt === undefined
      ? Stream.succeed({ _tag: "usage", usage })
      : Stream.fail(failure(failAt === 0 ? "scripted failure before the first delta" : "scripted failure mid-stream"))
    return Stream.concat(paced, ending)
  }

  return LlmEngine.LlmEngine.of({
    info: { provider: options.name ?? "scripted", kind: "scripted", model: "scripted", scripted: true },
    stream: (request) => {
      if ((options.inputScripts ?? true) && request.input.startsWith(scriptPrefix)) {
        const directive = parseDirective(request.input)
        return Result.isFailure(directive)
          ? Stream.fail(failure(`invalid /script directive: ${directive.failure}`, "invalid_script"))
          : run({ ...request, input: directive.success.prompt }, directive.success.script)
      }
      return run(request, {})
    }
  })
}

/** @category layers */
export const layer = (options?: Options): Layer.Layer<LlmEngine.LlmEngine> =>
  Layer.succeed(LlmEngine.LlmEngine, make(options))
