/**
 * The Worker event stream as Server-Sent Events: `GET …/workers/{workerId}/events` streams `registry.watchWorker`.
 * Each frame's `event:` is the item's `_tag` and `data:` its JSON; event frames carry `id: <seq>`, the snapshot has
 * no id. `Last-Event-ID` (or `?after=`) resumes after that seq. A `: keep-alive` comment is sent every
 * `heartbeatInterval` (15 s).
 *
 * **Details** Failures before the first item are plain HTTP errors (404, 503, …); a failure after it (e.g.
 * `SubscriberLagged`) ends the stream with a last `event: error` frame, `data: { code, message }`, and the browser
 * reconnects with `Last-Event-ID`. Such a frame reaches `EventSource.addEventListener("error", …)` together with
 * `EventSource`'s own connection errors: tell them apart by `event instanceof MessageEvent`.
 *
 * Deliberately not here: the watch itself (the registry's, and the runtime's behind it).
 */
import { Ids, RuntimeEvent } from "@yoi/domain"
import { Cause, Duration, Effect, Predicate, Result, Schema, Sink, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as BrowserErrors from "../BrowserErrors.ts"
import * as BrowserHttpApi from "../BrowserHttpApi.ts"
import * as BrowserViewer from "../BrowserViewer.ts"
import * as Registry from "../Registry.ts"

const decodeRuntimeId = Schema.decodeUnknownResult(Ids.RuntimeId)
const decodeWorkerId = Schema.decodeUnknownResult(Ids.WorkerId)
const encodeItem = Schema.encodeSync(Schema.fromJsonString(RuntimeEvent.WorkerWatchItem))

/** A seq cursor: a non-negative safe integer in decimal, or `undefined` when absent; a repeated one is invalid. */
const parseCursor = (raw: string | ReadonlyArray<string> | undefined): Result.Result<number | undefined, void> => {
  if (raw === undefined) return Result.succeed(undefined)
  if (!Predicate.isString(raw)) return Result.fail(undefined)
  const text = raw.trim()
  if (text === "") return Result.succeed(undefined)
  const value = Number(text)
  return /^\d{1,16}$/.test(text) && Number.isSafeInteger(value) ? Result.succeed(value) : Result.fail(undefined)
}

const frameOf = (item: RuntimeEvent.WorkerWatchItem): string =>
  Sse.encoder.write({
    _tag: "Event",
    id: item._tag === "snapshot" ? undefined : String(item.seq),
    event: item._tag,
    data: encodeItem(item)
  })

const errorFrame = (code: BrowserErrors.Code): string =>
  Sse.encoder.write({
    _tag: "Event",
    id: undefined,
    event: "error",
    data: JSON.stringify(BrowserErrors.errorBody(code).error)
  })

/**
 * The event route, added to the router beside the `HttpApi`.
 * @category layers
 */
export const layer = (options: { readonly heartbeatInterval?: Duration.Input | undefined }) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const registry = yield* Registry.RuntimeRegistry
    const resolver = yield* BrowserViewer.ViewerResolver
    const heartbeatInterval = Duration.fromInputUnsafe(options.heartbeatInterval ?? "15 seconds")
    yield* router.add(
      "GET",
      BrowserHttpApi.eventsPath,
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const viewer = yield* Effect.result(resolver.resolve(request))
        if (Result.isFailure(viewer)) return BrowserErrors.errorResponse("unauthenticated")
        const params = yield* HttpRouter.params
        const runtimeId = decodeRuntimeId(params["runtimeId"])
        const workerId = decodeWorkerId(params["workerId"])
        if (Result.isFailure(runtimeId) || Result.isFailure(workerId)) return BrowserErrors.errorResponse("invalid_id")
        const search = yield* HttpServerRequest.ParsedSearchParams
        const after = parseCursor(request.headers["last-event-id"] ?? search["after"])
        if (Result.isFailure(after)) return BrowserErrors.errorResponse("invalid_request")

        // The first item decides the status: a stream that cannot start is a plain HTTP error.
        const ref = { runtimeId: runtimeId.success, workerId: workerId.success }
        const peeled = yield* Effect.result(
          Stream.peel(registry.watchWorker(viewer.success, ref, after.success), Sink.take(1))
        )
        if (Result.isFailure(peeled)) return BrowserErrors.errorResponse(BrowserErrors.codeOf(peeled.failure), "worker")
        const [first, rest] = peeled.success

        const frames = Stream.concat(Stream.fromIterable(first), rest).pipe(
          Stream.map(frameOf),
          Stream.catchCause((cause) => {
            if (Cause.hasInterruptsOnly(cause)) return Stream.failCause(cause)
            const error = Cause.findError(cause)
            return Stream.succeed(
              errorFrame(Result.isSuccess(error) ? BrowserErrors.codeOf(error.success) : "runtime_error")
            )
          })
        )
        const heartbeat = Stream.tick(heartbeatInterval).pipe(Stream.map(() => ": keep-alive\n\n"))
        return HttpServerResponse.stream(
          Stream.merge(frames, heartbeat, { haltStrategy: "left" }).pipe(Stream.encodeText),
          {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
          }
        )
      })
    )
  }))
