/**
 * The browser API's errors: every code it answers with, its status and its fixed message, the one error body
 * `{ error: { code, message } }`, and the code of each registry error. A runtime's own message is never echoed, so
 * no body can carry a URL, token or path.
 *
 * **Details** A 404 names the route's subject, not the error: an unknown runtime, an unknown Worker and a Worker the
 * viewer may not see give byte-identical bodies (`worker not found` on Worker routes), so nothing leaks whether
 * something exists. Storage failures, a runtime's answer outside the protocol and defects are `503 runtime_error`:
 * the API never answers 500.
 *
 * Deliberately not here: when each is answered (the routes, the error boundary and the event stream decide).
 */
import { Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as Registry from "./Registry.ts"

/** Every error code the API answers with, its status and its fixed message. @category models */
export const codes = {
  invalid_id: { status: 400, message: "an id in the path is not valid" },
  invalid_request: { status: 400, message: "the request is not valid" },
  invalid_profile: { status: 400, message: "the profile is not known to this runtime" },
  cursor_out_of_range: { status: 400, message: "the cursor is beyond the last event" },
  unauthenticated: { status: 401, message: "authentication required" },
  not_found: { status: 404, message: "not found" },
  method_not_allowed: { status: 405, message: "the method is not allowed on this route" },
  worker_busy: { status: 409, message: "the worker is busy with another run" },
  worker_stopped: { status: 409, message: "the worker takes no input" },
  queue_full: { status: 409, message: "the worker's input queue is full" },
  scope_conflict: { status: 409, message: "the requested scope conflicts with another worker" },
  payload_too_large: { status: 413, message: "the request body is too large" },
  unsupported_media_type: { status: 415, message: "the request body must be application/json" },
  operation_unsupported: { status: 501, message: "the runtime does not support this operation" },
  runtime_rejected: { status: 502, message: "the runtime rejected the backend's credentials" },
  runtime_unavailable: { status: 503, message: "the runtime is unavailable" },
  runtime_stopping: { status: 503, message: "the runtime is shutting down" },
  execution_unavailable: { status: 503, message: "the worker's execution host could not be started" },
  runtime_error: { status: 503, message: "the runtime could not complete the request" },
  subscriber_lagged: { status: 503, message: "the event stream fell behind; reconnect to resume" },
  runtime_timeout: { status: 504, message: "the runtime did not answer in time" }
} as const satisfies Record<string, { readonly status: number; readonly message: string }>

/** @category models */
export type Code = keyof typeof codes

/** What a route is about; names the 404 message. @category models */
export type Subject = "runtime" | "worker" | "host"

/** The one error body of the API. @category schemas */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ code: Schema.String, message: Schema.String })
})
/** @category models */
export type ErrorBody = typeof ErrorBody.Type

/** @category errors */
export class ApiBadRequest extends Schema.Error<ApiBadRequest>("ApiBadRequest")(ErrorBody, { httpApiStatus: 400 }) {}
/** @category errors */
export class ApiUnauthenticated
  extends Schema.Error<ApiUnauthenticated>("ApiUnauthenticated")(ErrorBody, { httpApiStatus: 401 })
{}
/** @category errors */
export class ApiNotFound extends Schema.Error<ApiNotFound>("ApiNotFound")(ErrorBody, { httpApiStatus: 404 }) {}
/** @category errors */
export class ApiConflict extends Schema.Error<ApiConflict>("ApiConflict")(ErrorBody, { httpApiStatus: 409 }) {}
/** @category errors */
export class ApiPayloadTooLarge
  extends Schema.Error<ApiPayloadTooLarge>("ApiPayloadTooLarge")(ErrorBody, { httpApiStatus: 413 })
{}
/** @category errors */
export class ApiUnsupportedMediaType
  extends Schema.Error<ApiUnsupportedMediaType>("ApiUnsupportedMediaType")(ErrorBody, { httpApiStatus: 415 })
{}
/** @category errors */
export class ApiNotImplemented
  extends Schema.Error<ApiNotImplemented>("ApiNotImplemented")(ErrorBody, { httpApiStatus: 501 })
{}
/** @category errors */
export class ApiBadGateway extends Schema.Error<ApiBadGateway>("ApiBadGateway")(ErrorBody, { httpApiStatus: 502 }) {}
/** @category errors */
export class ApiUnavailable extends Schema.Error<ApiUnavailable>("ApiUnavailable")(ErrorBody, { httpApiStatus: 503 }) {}
/** @category errors */
export class ApiGatewayTimeout
  extends Schema.Error<ApiGatewayTimeout>("ApiGatewayTimeout")(ErrorBody, { httpApiStatus: 504 })
{}

/** @category models */
export type ApiError =
  | ApiBadRequest
  | ApiUnauthenticated
  | ApiNotFound
  | ApiConflict
  | ApiPayloadTooLarge
  | ApiUnsupportedMediaType
  | ApiNotImplemented
  | ApiBadGateway
  | ApiUnavailable
  | ApiGatewayTimeout

/** The body for a code; a 404 names its subject. @category constructors */
export const errorBody = (code: Code, subject?: Subject): ErrorBody => ({
  error: {
    code,
    message: code === "not_found" && subject !== undefined ? `${subject} not found` : codes[code].message
  }
})

/** @category constructors */
export const apiError = (code: Code, subject?: Subject): ApiError => {
  const body = errorBody(code, subject)
  switch (codes[code].status) {
    case 400:
      return new ApiBadRequest(body)
    case 401:
      return new ApiUnauthenticated(body)
    case 404:
      return new ApiNotFound(body)
    case 409:
      return new ApiConflict(body)
    case 413:
      return new ApiPayloadTooLarge(body)
    case 415:
      return new ApiUnsupportedMediaType(body)
    case 501:
      return new ApiNotImplemented(body)
    case 502:
      return new ApiBadGateway(body)
    case 504:
      return new ApiGatewayTimeout(body)
    default:
      return new ApiUnavailable(body)
  }
}

/** The response for a code, for routes outside the `HttpApi`. @category constructors */
export const errorResponse = (code: Code, subject?: Subject): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(errorBody(code, subject), { status: codes[code].status })

/**
 * The code of a registry error. Unknown, not found and not visible are one code (`not_found`); a store failure or a
 * runtime's answer outside the protocol is a `runtime_error`, never a 500.
 * @category constructors
 */
export const codeOf = (error: Registry.RegistryError): Code => {
  switch (error._tag) {
    case "InvalidRequest":
      return "invalid_request"
    case "InvalidProfile":
      return "invalid_profile"
    case "CursorOutOfRange":
      return "cursor_out_of_range"
    case "UnknownRuntime":
    case "UnknownWorker":
    case "WorkerNotFound":
    case "WorkerNotVisible":
      return "not_found"
    case "WorkerBusy":
      return "worker_busy"
    case "WorkerStopped":
      return "worker_stopped"
    case "QueueFull":
      return "queue_full"
    case "ScopeConflict":
      return "scope_conflict"
    case "OperationUnsupported":
      return "operation_unsupported"
    case "RuntimeUnavailable":
      return error.reason === "timeout"
        ? "runtime_timeout"
        : error.reason === "unauthorized"
        ? "runtime_rejected"
        : "runtime_unavailable"
    case "RuntimeStopping":
      return "runtime_stopping"
    case "ExecutionUnavailable":
      return "execution_unavailable"
    case "SubscriberLagged":
      return "subscriber_lagged"
    case "StoreFailure":
    case "UnexpectedAnswer":
      return "runtime_error"
  }
}
