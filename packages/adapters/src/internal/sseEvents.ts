/**
 * The Server-Sent Events of a response body, for the provider engines: bytes in, `Sse.Event`s out, UTF-8 decoded
 * across network chunks (a character split between two reads arrives whole).
 *
 * Built on `Sse.makeParser` rather than `Sse.decode`: the latter fails the stream with `Retry` on a `retry:` field,
 * which servers may send at any time and which means nothing to a one-shot request. Here it is ignored, as are
 * comments (`: keep-alive`) and an unterminated last event (the WHATWG rule).
 *
 * Deliberately not here: what the events mean (each engine's decoder), timeouts and error mapping (the caller's).
 */
import { Effect, Stream } from "effect"
import { Sse } from "effect/encoding"

/** Events above this size fail the stream (`Sse.SseError`): a provider event is a few kilobytes at most. */
const maxEventSize = 4 * 1024 * 1024

export const sseEvents = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>
): Stream.Stream<Sse.Event, E | Sse.SseError, R> =>
  Stream.suspend(() => {
    const parsed: Array<Sse.Event> = []
    const parser = Sse.makeParser((event) => {
      if (event._tag === "Event") parsed.push(event)
    }, { maxEventSize })
    return bytes.pipe(
      Stream.decodeText(),
      Stream.mapEffect((text) => {
        const error = parser.feed(text)
        return error === undefined ? Effect.succeed(parsed.splice(0)) : Effect.fail(error)
      }),
      Stream.flattenIterable
    )
  })
