/**
 * What the OTLP exporters send names no path. Effect's OTLP tracer and logger attach a failure's message and stack
 * to a failed span or to a log record with a cause: stack frames are file paths of the install, and a platform
 * error's message names its file. Before a span ends or a record is exported, each failure is replaced by its tag
 * alone (`WorkerBusy`, `StoreFailure`, `PlatformError`; a defect is `Defect`), with no stack; interruptions stay
 * as they are. The process's own log (stderr) keeps the whole cause for whoever runs it.
 *
 * Deliberately not here: choosing what is traced or logged, and span attributes (the Runtime and the RPC server put
 * no path in one).
 */
import { Cause, Exit, Logger, Tracer } from "effect"

const tagOf = (reason: Cause.Fail<unknown> | Cause.Die): string => {
  if (Cause.isDieReason(reason)) return "Defect"
  const error = reason.error
  if (typeof error === "object" && error !== null) {
    if ("_tag" in error && typeof error._tag === "string") return error._tag
    if (error instanceof Error) return error.name
  }
  return "Error"
}

/** `cause` with every failure and defect reduced to its tag: a plain object, so no stack is rendered from it. */
export const redactCause = <E>(cause: Cause.Cause<E>): Cause.Cause<unknown> =>
  cause.reasons.every(Cause.isInterruptReason) ?
    cause :
    Cause.fromReasons(
      cause.reasons.map((reason) =>
        Cause.isInterruptReason(reason) ? reason : Cause.makeFailReason({ name: tagOf(reason), message: tagOf(reason) })
      )
    )

/** `inner`, its spans ending with their failures redacted. */
export const tracer = (inner: Tracer.Tracer): Tracer.Tracer =>
  Tracer.make({
    span(options) {
      const span = inner.span(options)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => end(endTime, Exit.isFailure(exit) ? Exit.failCause(redactCause(exit.cause)) : exit)
      return span
    },
    ...(inner.context === undefined ? {} : { context: inner.context })
  })

/** `inner`, fed records whose cause is redacted. */
export const logger = <Output>(inner: Logger.Logger<unknown, Output>): Logger.Logger<unknown, Output> =>
  Logger.make((options) => inner.log({ ...options, cause: redactCause(options.cause) }))
