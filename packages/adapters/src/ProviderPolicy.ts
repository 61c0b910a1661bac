/**
 * The request policy every provider engine (`OpenAiCompatLlmEngine`, `AnthropicLlmEngine`) follows, as plain
 * options a preset can build from config: how many times and how long to wait before retrying a request whose
 * reply has not started, how long to wait for the reply's first event, and how long between events once it
 * streams.
 *
 * What is retried: HTTP 408, 425, 429 and 5xx (Anthropic's 529 included), a connection that fails before the first
 * event, and a first-event timeout — never anything once the provider's first event has arrived, since a replayed
 * reply would repeat text already streamed. The wait is jittered exponential backoff (`baseDelay` doubling, at
 * most `maxDelay`), or exactly what the server asks for in `Retry-After` / `retry-after-ms`; a server that asks for
 * longer than `maxDelay` is not waited for at all.
 *
 * **Gotchas** `fetch` (undici) gives up on its own after 300 s without response headers or between body chunks,
 * so a `firstEventTimeout` or `idleTimeout` of 300 s or more would never fire as such: `resolve` refuses them.
 * Deliberately not here: the retry loop itself (the engines' internal stream), and per-provider defaults.
 */
import { Data, Duration, Option, Result } from "effect"

/** @category models */
export interface Options {
  /** Retries after the first attempt (so at most `maxRetries + 1` requests). */
  readonly maxRetries: number
  /** The first backoff wait; each retry doubles it (±20% jitter). */
  readonly baseDelay: Duration.Input
  /** The longest single wait, computed or asked for by the server. */
  readonly maxDelay: Duration.Input
  /** From sending the request to the provider's first event (headers included). */
  readonly firstEventTimeout: Duration.Input
  /** Between two events once the reply streams. */
  readonly idleTimeout: Duration.Input
}

/** @category constructors */
export const defaults: Options = {
  maxRetries: 4,
  baseDelay: "500 millis",
  maxDelay: "30 seconds",
  firstEventTimeout: "60 seconds",
  idleTimeout: "120 seconds"
}

/** `fetch`'s own header and body timeouts: the engines' timeouts must stay below them. @category constructors */
export const fetchTimeoutLimit: Duration.Duration = Duration.seconds(300)

/** A validated policy, in milliseconds. @category models */
export interface Policy {
  readonly maxRetries: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  readonly firstEventTimeoutMs: number
  readonly idleTimeoutMs: number
}

/** An option out of range; `message` names the option and the rule. @category errors */
export class InvalidPolicy extends Data.TaggedError("InvalidPolicy")<{
  readonly option: keyof Options
  readonly message: string
}> {}

const maxRetriesLimit = 100

const millisOf = (
  option: keyof Options,
  input: Duration.Input,
  rule: { readonly positive: boolean; readonly belowFetchLimit: boolean }
): Result.Result<number, InvalidPolicy> => {
  const duration = Duration.fromInput(input)
  const invalid = (message: string) => Result.fail(new InvalidPolicy({ option, message: `${option} ${message}` }))
  if (Option.isNone(duration) || !Duration.isFinite(duration.value)) return invalid("is not a finite duration")
  const millis = Duration.toMillis(duration.value)
  if (millis < 0 || (rule.positive && millis === 0)) {
    return invalid(rule.positive ? "must be above zero" : "must not be negative")
  }
  if (rule.belowFetchLimit && millis >= Duration.toMillis(fetchTimeoutLimit)) {
    return invalid("must be below fetch's own 300 s timeout")
  }
  return Result.succeed(millis)
}

/**
 * The policy of `overrides` over `defaults`, or the first option out of range.
 * @category constructors
 */
export const resolve = (
  overrides: { readonly [K in keyof Options]?: Options[K] | undefined } = {}
): Result.Result<Policy, InvalidPolicy> => {
  const maxRetries = overrides.maxRetries ?? defaults.maxRetries
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > maxRetriesLimit) {
    return Result.fail(
      new InvalidPolicy({ option: "maxRetries", message: `maxRetries must be an integer in 0..${maxRetriesLimit}` })
    )
  }
  return Result.all({
    maxRetries: Result.succeed(maxRetries),
    baseDelayMs: millisOf("baseDelay", overrides.baseDelay ?? defaults.baseDelay, {
      positive: false,
      belowFetchLimit: false
    }),
    maxDelayMs: millisOf("maxDelay", overrides.maxDelay ?? defaults.maxDelay, {
      positive: false,
      belowFetchLimit: false
    }),
    firstEventTimeoutMs: millisOf("firstEventTimeout", overrides.firstEventTimeout ?? defaults.firstEventTimeout, {
      positive: true,
      belowFetchLimit: true
    }),
    idleTimeoutMs: millisOf("idleTimeout", overrides.idleTimeout ?? defaults.idleTimeout, {
      positive: true,
      belowFetchLimit: true
    })
  })
}
