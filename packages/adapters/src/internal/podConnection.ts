/**
 * The control connection to one legacy pod's Unix socket: the connect (retried every 50 ms while the socket is not
 * there yet, `ENOENT` / `ECONNREFUSED`), one reader fiber that splits JSON Lines (blank lines skipped, a line over
 * `maxLine` characters dropped whole, a non-JSON line or one without a string `event` ignored) and publishes every
 * event to the binding's subscribers, and a writer behind a one-permit semaphore whose every write is bounded (3 s)
 * and raced with the process's exit, because an `effect/socket` write with no live connection suspends forever.
 *
 * A crash and a clean close look the same on the socket (both end the pull with close code 1000), so the
 * connection only reports `closed`; the binding tells them apart by the process's exit.
 *
 * Deliberately not here: deadlines of the handshake (the caller's), reconnecting (not done yet), the protocol's
 * meaning (`podRun.ts`).
 */
import type { Errors } from "@yoi/domain"
import { Deferred, Effect, Exit, PubSub, Schedule, Scope, Semaphore } from "effect"
import { Socket } from "effect/socket"
import { LegacyPodSocket } from "../LegacyPodSocket.ts"
import { failure } from "./podFailure.ts"

/** One event the pod sent. @category models */
export interface PodEvent {
  readonly event: string
  readonly data: Readonly<Record<string, unknown>>
}

/** @category models */
export interface PodConnection {
  /** Events from now on (subscribe before writing what they answer). */
  readonly subscribe: Effect.Effect<PubSub.Subscription<PodEvent>, never, Scope.Scope>
  /** Writes one method line; fails `legacy_pod_write_failed` after 3 s or when `gone` completes first. */
  readonly send: (method: object) => Effect.Effect<void, Errors.EngineFailure>
  /** Completes once the pod closed the connection (or it broke). */
  readonly closed: Effect.Effect<void>
}

const errnoOf = (error: Socket.SocketError): string | undefined => {
  const cause: unknown = "cause" in error.reason ? error.reason.cause : undefined
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined
}

const parse = (line: string): PodEvent | undefined => {
  try {
    const value: unknown = JSON.parse(line)
    if (typeof value !== "object" || value === null || !("event" in value) || typeof value.event !== "string") {
      return undefined
    }
    const data = "data" in value && typeof value.data === "object" && value.data !== null ? value.data : {}
    return { event: value.event, data: data as Record<string, unknown> }
  } catch {
    return undefined
  }
}

/**
 * Connects in the caller's scope (retrying until interrupted: the caller bounds it), starts the reader and waits
 * for the connection's snapshot (alerts before it are dropped; a close before it is `legacy_pod_protocol`).
 * @category constructors
 */
export const connect = (
  path: string,
  options: { readonly maxLine: number; readonly gone: Effect.Effect<unknown> }
): Effect.Effect<PodConnection, Errors.EngineFailure, Scope.Scope | LegacyPodSocket> =>
  Effect.gen(function*() {
    const connector = yield* LegacyPodSocket
    const events = yield* PubSub.unbounded<PodEvent>()
    const closed = yield* Deferred.make<void>()
    const socket = yield* connector.open(path)
    const pull = yield* Socket.readerString(socket).pipe(
      Effect.retry({
        while: (error) => {
          const code = errnoOf(error)
          return code === "ENOENT" || code === "ECONNREFUSED"
        },
        schedule: Schedule.spaced("50 millis")
      }),
      Effect.mapError(() => failure("legacy_pod_protocol"))
    )
    const writer = yield* socket.writer
    // the handshake's own subscription, taken before the reader can publish: alerts are drained until the snapshot
    const handshake = yield* Scope.make()
    const first = yield* PubSub.subscribe(events).pipe(Scope.provide(handshake))

    let partial = ""
    let dropping = false
    const onChunk = (chunk: string) =>
      Effect.gen(function*() {
        let start = 0
        for (let nl = chunk.indexOf("\n"); nl !== -1; nl = chunk.indexOf("\n", start)) {
          const piece = chunk.slice(start, nl)
          start = nl + 1
          if (dropping) {
            dropping = false
            partial = ""
            continue
          }
          const line = partial + piece
          partial = ""
          if (line.trim() === "") continue
          const event = parse(line)
          if (event !== undefined) yield* PubSub.publish(events, event)
        }
        if (dropping) return
        partial += chunk.slice(start)
        if (partial.length > options.maxLine) {
          partial = ""
          dropping = true
        }
      })
    yield* pull.pipe(
      Effect.flatMap(Effect.forEach(onChunk, { discard: true })),
      Effect.forever,
      Effect.ignore,
      Effect.ensuring(Deferred.succeed(closed, undefined)),
      Effect.forkScoped
    )

    yield* PubSub.take(first).pipe(
      Effect.repeat({ until: (event) => event.event === "snapshot" }),
      Effect.raceFirst(Effect.andThen(Deferred.await(closed), Effect.fail(failure("legacy_pod_protocol")))),
      Effect.ensuring(Scope.close(handshake, Exit.void))
    )

    const lock = yield* Semaphore.make(1)
    const send = (method: object) =>
      lock.withPermit(
        Effect.raceFirst(
          writer.write(`${JSON.stringify(method)}\n`).pipe(
            Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.fail(undefined) }),
            Effect.mapError(() => failure("legacy_pod_write_failed"))
          ),
          Effect.andThen(options.gone, Effect.fail(failure("legacy_pod_write_failed")))
        )
      )
    return {
      subscribe: PubSub.subscribe(events),
      send,
      closed: Deferred.await(closed)
    } satisfies PodConnection
  })
