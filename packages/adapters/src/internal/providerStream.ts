/**
 * The one request loop of the provider engines, under `ProviderPolicy`: send the request, retry while the reply
 * has not started, then stream its SSE events through the engine's decoder under an idle timeout.
 *
 * An attempt that fails before the provider's first SSE event fails with `Retryable` (retryable status, connection
 * failure, first-event timeout); the loop closes it (aborting its request), emits the port's `retry` event, waits
 * and sends again. After the first event nothing is retried: a break is `stream_broken`, silence `idle_timeout`.
 * Responses are not scoped, so interrupting the stream aborts the HTTP request: that is what cancel means.
 *
 * Provider requests carry no trace span or trace headers (a span holds the URL; the provider is a third party).
 * Every failure message here is fixed text plus, at most, a provider's message run through the request's scrubber.
 * Deliberately not here: the protocols (each engine builds its request and its `Decoder`).
 */
import { Errors, type LlmEngine } from "@yoi/domain"
import { Clock, Data, Duration, Effect, Option, Predicate, Random, Result, Schema, Sink, Stream } from "effect"
import type { Sse } from "effect/encoding"
import { Headers, HttpClient, type HttpClientRequest } from "effect/http"
import type * as ProviderPolicy from "../ProviderPolicy.ts"
import { providerCode } from "./sanitize.ts"
import { sseEvents } from "./sseEvents.ts"

type EngineEvent = LlmEngine.EngineEvent

/** An attempt that failed before its first event and may be sent again. */
export class Retryable extends Data.TaggedError("Retryable")<{
  /** Short, fixed text for the `retry` event (`HTTP 429`, `connection failed`, `first-event timeout`). */
  readonly reason: string
  /** The code and message to fail with when no retry is left. */
  readonly code: string
  readonly message: string
  /** What the server asked to wait, if it did. */
  readonly retryAfterMs: number | undefined
}> {}

/** What one SSE event decodes to. */
export interface Step {
  readonly events: ReadonlyArray<EngineEvent>
  readonly done: boolean
}

/** A protocol's reading of one attempt's events; stateful, so one per attempt. */
export interface Decoder {
  /**
   * The engine events of one SSE event, or the failure it stands for. `done`: it was the provider's terminator,
   * nothing after it is read.
   */
  readonly event: (event: Sse.Event) => Result.Result<Step, Errors.EngineFailure>
  /** What a stream that ended (after its terminator or not) still emits, and how it fails if it does. */
  readonly end: () => {
    readonly events: ReadonlyArray<EngineEvent>
    readonly failure?: Errors.EngineFailure | undefined
  }
}

/** What the loop needs to know of one request. */
export interface Params {
  readonly provider: string
  readonly policy: ProviderPolicy.Policy
  readonly client: HttpClient.HttpClient
  readonly request: HttpClientRequest.HttpClientRequest
  /** Scrubs a provider's message of this request's secrets (see `sanitize.ts`). */
  readonly scrub: (text: string) => string
  /** A fresh decoder for each attempt. */
  readonly decoder: () => Decoder
}

/** HTTP statuses worth sending again: timeouts, too early, rate limits and server errors (529: Anthropic). */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599)

/** `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as an HTTP date; undefined when absent or invalid. */
export const retryAfterMillis = (headers: Headers.Headers, nowMillis: number): number | undefined => {
  const millis = headers["retry-after-ms"]?.trim()
  if (millis !== undefined && /^\d+(?:\.\d+)?$/.test(millis)) return Math.ceil(Number(millis))
  const value = headers["retry-after"]
  if (value === undefined) return undefined
  const parsed = Headers.parseRetryAfter(value)
  return Result.isSuccess(parsed)
    ? Math.ceil(Duration.toMillis(Headers.retryAfterDelay(parsed.success, nowMillis)))
    : undefined
}

/** The wait before retry number `retry` (1, 2, …): `baseDelay · 2^(retry-1)` ±20%, at most `maxDelay`. */
export const backoffMillis = (policy: ProviderPolicy.Policy, retry: number, random: number): number =>
  Math.round(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1) * (0.8 + 0.4 * random)))

const ErrorDetail = Schema.Struct({
  code: Schema.optional(Schema.Unknown),
  type: Schema.optional(Schema.Unknown),
  message: Schema.optional(Schema.Unknown)
})
/** OpenAI `{error: {code, type, message}}`, Anthropic `{type: "error", error: {type, message}}`, `{error: "…"}`. */
const ErrorBody = Schema.Struct({
  error: Schema.optional(Schema.Union([ErrorDetail, Schema.String])),
  ...ErrorDetail.fields
})
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/**
 * The code and message of a provider's error object (a JSON value), each undefined when it has none: the message
 * scrubbed, the code kept only when it looks like one and gives nothing away.
 */
export const errorDetail = (
  value: unknown,
  scrub: (text: string) => string
): { readonly code: string | undefined; readonly message: string | undefined } => {
  const body = decodeErrorBody(value)
  if (Option.isNone(body)) return { code: undefined, message: undefined }
  const { error } = body.value
  const detail = Predicate.isString(error) ? { message: error } : error ?? body.value
  const message = Predicate.isString(detail.message) ? scrub(detail.message) : undefined
  const code = [providerCode(detail.code), providerCode(detail.type)].find((c) => c !== undefined && scrub(c) === c)
  return { code, message: message === "" ? undefined : message }
}

/** The failure an error event in the stream stands for (OpenAI `{error}` chunks, Anthropic `error` events). */
export const streamErrorFailure = (
  error: unknown,
  fail: (code: string, message: string) => Errors.EngineFailure,
  scrub: (text: string) => string
): Errors.EngineFailure => {
  const detail = errorDetail({ error }, scrub)
  const said = detail.message === undefined ? "" : `: ${detail.message}`
  return fail(detail.code ?? "provider_error", scrub(`the provider failed mid-stream${said}`))
}

const parseJson = (text: string): unknown => {
  const parsed = Result.try(() => JSON.parse(text) as unknown)
  return Result.isSuccess(parsed) ? parsed.success : undefined
}

/** The media type of a response (`text/event-stream`), without parameters. */
const contentType = (headers: Headers.Headers) => headers["content-type"]?.match(/^\s*([\w.+-]+\/[\w.+-]+)/)?.[1]

const seconds = (millis: number) => `${Math.round(millis / 100) / 10} s`

/** The stream of engine events for one request, retries included. */
export const stream = (params: Params): Stream.Stream<EngineEvent, Errors.EngineFailure> => {
  const { policy } = params
  const failure = (code: string, message: string) =>
    new Errors.EngineFailure({ provider: params.provider, code, message })

  /** The provider's words about a failed status: `HTTP 400 (code): message`. */
  const statusMessage = (status: number, code: string | undefined, message: string | undefined) =>
    params.scrub(
      `HTTP ${status}${code === undefined ? "" : ` (${code})`}${message === undefined ? "" : `: ${message}`}`
    )

  const send = Effect.gen(function*() {
    // No client span: its attributes hold the provider's URL, and its trace headers would go to a third party.
    const response = yield* params.client.execute(params.request).pipe(
      Effect.provideService(HttpClient.TracerDisabledWhen, () => true),
      Effect.catchTag(
        "HttpClientError",
        (error): Effect.Effect<never, Retryable | Errors.EngineFailure> =>
          error.reason._tag === "TransportError"
            ? Effect.fail(
              new Retryable({
                reason: "connection failed",
                code: "connection_failed",
                message: "could not reach the provider",
                retryAfterMs: undefined
              })
            )
            : Effect.fail(
              failure(
                "request_failed",
                error.reason._tag === "InvalidUrlError"
                  ? "the provider's base URL is not a valid URL"
                  : "the request could not be sent"
              )
            )
      )
    )
    if (response.status >= 200 && response.status < 300) return response
    const { status } = response
    const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    const detail = errorDetail(parseJson(text), params.scrub)
    const code = detail.code ?? (status === 429 ? "rate_limited" : `http_${status}`)
    const message = statusMessage(status, detail.code, detail.message)
    if (!isRetryableStatus(status)) return yield* failure(code, message)
    const now = yield* Clock.currentTimeMillis
    return yield* new Retryable({
      reason: `HTTP ${status}${detail.code === undefined ? "" : ` ${detail.code}`}`,
      code,
      message,
      retryAfterMs: retryAfterMillis(response.headers, now)
    })
  })

  const invalidStream = failure("invalid_stream", "the provider's event stream is malformed")

  /** One request: its SSE events, failing with `Retryable` only before the first. */
  const attempt: Stream.Stream<Sse.Event, Errors.EngineFailure | Retryable> = Stream.unwrap(
    Effect.gen(function*() {
      const response = yield* send
      const type = contentType(response.headers)
      if (type !== undefined && type.toLowerCase() !== "text/event-stream") {
        return yield* failure(
          "invalid_stream",
          params.scrub(`the provider answered with ${type} instead of an event stream`)
        )
      }
      const events = sseEvents(response.stream)
      const [first, rest] = yield* Stream.peel(events, Sink.head()).pipe(
        Effect.mapError((error) =>
          error._tag === "SseError"
            ? invalidStream
            : new Retryable({
              reason: "connection failed",
              code: "connection_failed",
              message: "the connection broke before the reply started",
              retryAfterMs: undefined
            })
        )
      )
      if (Option.isNone(first)) return Stream.empty
      return Stream.concat(
        Stream.succeed(first.value),
        rest.pipe(
          Stream.mapError((error) =>
            error._tag === "SseError"
              ? invalidStream
              : failure("stream_broken", "the connection broke while the reply was streaming")
          ),
          Stream.timeoutOrElse({
            duration: policy.idleTimeoutMs,
            orElse: () =>
              Stream.fail(failure("idle_timeout", `no event from the provider for ${seconds(policy.idleTimeoutMs)}`))
          })
        )
      )
    }).pipe(
      Effect.timeoutOrElse({
        duration: policy.firstEventTimeoutMs,
        orElse: () =>
          Effect.fail(
            new Retryable({
              reason: "first-event timeout",
              code: "first_event_timeout",
              message: `no reply from the provider within ${seconds(policy.firstEventTimeoutMs)}`,
              retryAfterMs: undefined
            })
          )
      })
    )
  )

  const decoded = Stream.suspend(() => {
    const decoder = params.decoder()
    let done = false
    return attempt.pipe(
      // `done` is checked per event: what follows the terminator in the same network read is not decoded
      Stream.mapEffect((event) => {
        if (done) return Effect.succeed({ events: [], done: true })
        const step = decoder.event(event)
        if (Result.isSuccess(step) && step.success.done) done = true
        return Effect.fromResult(step)
      }),
      // The reply ends at its terminator: the rest of the body is not read, and the request is aborted. Reading it
      // to reuse the connection was tried: llama-server closes the connection after each reply while announcing
      // keep-alive, so the next request (a queued input, at once) raced the close and failed as connection_failed.
      Stream.takeUntil((step) => step.done),
      Stream.flatMap((step) => Stream.fromIterable(step.events)),
      Stream.concat(Stream.suspend(() => {
        const end = decoder.end()
        const events = Stream.fromIterable(end.events)
        return end.failure === undefined ? events : Stream.concat(events, Stream.fail(end.failure))
      }))
    )
  })

  const from = (retry: number): Stream.Stream<EngineEvent, Errors.EngineFailure> =>
    decoded.pipe(Stream.catchTag("Retryable", (retryable) =>
      Stream.unwrap(Effect.gen(function*() {
        if (retryable.retryAfterMs !== undefined && retryable.retryAfterMs > policy.maxDelayMs) {
          return Stream.fail(failure(
            "rate_limited",
            `the provider asked to wait ${seconds(retryable.retryAfterMs)} before a retry (${retryable.reason}), ` +
              `longer than the ${seconds(policy.maxDelayMs)} allowed`
          ))
        }
        if (retry >= policy.maxRetries) {
          const attempts = retry + 1
          return Stream.fail(
            failure(
              retryable.code,
              `${retryable.message} (gave up after ${attempts} attempt${attempts > 1 ? "s" : ""})`
            )
          )
        }
        // at least what the server asked for (within the cap, checked above), never less than the backoff
        const backoff = backoffMillis(policy, retry + 1, yield* Random.next)
        const delayMs = Math.min(policy.maxDelayMs, Math.max(retryable.retryAfterMs ?? 0, backoff))
        const notice: EngineEvent = { _tag: "retry", attempt: retry + 1, reason: retryable.reason, delayMs }
        return Stream.concat(
          Stream.succeed(notice),
          Stream.unwrap(Effect.as(Effect.sleep(delayMs), from(retry + 1)))
        )
      }))))

  return from(0)
}
