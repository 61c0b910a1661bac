/**
 * The browser-facing HTTP API a backend mounts: an `HttpApi` (with its OpenAPI document at `/api/openapi.json`)
 * over the `RuntimeRegistry`, plus the Worker event stream as Server-Sent Events. Browsers talk only to this API,
 * never to a Runtime; every response body is a `Views` schema, so nothing here can carry a URL, token or path.
 *
 * **Details**
 * - Who is asking is the `ViewerResolver`'s business. `ViewerResolver.layerHeaders` trusts the `x-yoi-viewer` and
 *   `x-yoi-workspace` request headers: it is for development and tests, and a backend replaces it with its own
 *   session authentication. The viewer is resolved before the request itself is looked at (401 before 400); only
 *   routing (404, 405) and a `Content-Length` over the body limit (413) are answered before it.
 * - Path ids (`runtimeId`, `workerId`, `hostId`) must match `^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$`; anything else,
 *   malformed percent-encoding (`%zz`) included, is `400 invalid_id`, never 404 or 500.
 * - Bodies: at most `maxBodySize` (1 MiB) is read; a larger body is `413 payload_too_large`, at once when its
 *   `Content-Length` says so, else when reading crosses the limit; the rest is not read (the platform discards at
 *   most 256 KiB of it to keep the connection, else closes it).
 * - Routing: a path no route has is `404 not_found`; a route asked with a method it does not answer is
 *   `405 method_not_allowed` with `Allow`, the methods taken from the `HttpApi` definition itself. `layerServe`
 *   answers the same 404 body outside `/api` too; `layerRoutes` only ever answers for `/api`, so a backend's own
 *   routes and its own 404 stay its own.
 * - Errors: the body is always `{ error: { code, message } }` with a fixed message per code — a runtime's own
 *   message is never echoed. A 404 names the route's subject, not the error: an unknown runtime, an unknown Worker
 *   and a Worker the viewer may not see give byte-identical bodies (`worker not found` on Worker routes), so
 *   nothing leaks whether something exists. Storage failures, a runtime's answer outside the protocol and defects
 *   are `503 runtime_error`: the API never answers 500. Status per error: see `codes` and `codeOf`.
 * - Events: `GET /api/runtimes/{runtimeId}/workers/{workerId}/events` streams `registry.watchWorker` as SSE. Each
 *   frame's `event:` is the item's `_tag` and `data:` its JSON; event frames carry `id: <seq>`, the snapshot has no
 *   id. `Last-Event-ID` (or `?after=`) resumes after that seq. A `: keep-alive` comment is sent every
 *   `heartbeatInterval` (15 s). Failures before the first item are plain HTTP errors (404, 503, …); a failure
 *   after it (e.g. `SubscriberLagged`) ends the stream with a last `event: error` frame, `data: { code, message }`,
 *   and the browser reconnects with `Last-Event-ID`.
 *
 * **Gotchas** A frame named `error` reaches `EventSource.addEventListener("error", …)` together with the
 * connection errors of `EventSource` itself: tell them apart by `event instanceof MessageEvent`. A backend may add
 * routes of its own under `/api/`, but not on these paths (they would answer instead of the 405).
 *
 * Deliberately not here: sessions, CORS and CSRF policy (the backend's), and any call to a Runtime that does not go
 * through the registry.
 */
import { Ids, Requests, RuntimeEvent } from "@yoi/domain"
import {
  ByteSize,
  Cause,
  Context,
  Duration,
  Effect,
  type FileSystem,
  Layer,
  Option,
  type Path,
  Predicate,
  Result,
  Schema,
  Sink,
  Stream,
  type Types
} from "effect"
import { Sse } from "effect/encoding"
import {
  type Etag,
  HttpIncomingMessage,
  type HttpPlatform,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiError,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  OpenApi
} from "effect/http-api"
import type * as Policy from "./Policy.ts"
import * as Registry from "./Registry.ts"
import * as Views from "./Views.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors

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
    case "SubscriberLagged":
      return "subscriber_lagged"
    case "StoreFailure":
    case "UnexpectedAnswer":
      return "runtime_error"
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Viewer

/** The request carries no (usable) identity. @category errors */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {}) {}

const headerValue = (request: HttpServerRequest.HttpServerRequest, name: string): string | undefined => {
  const value = request.headers[name]?.trim()
  return value === undefined || value.length === 0 || value.length > 200 ? undefined : value
}

/**
 * Who is asking, from the request. The default `layerHeaders` trusts two request headers and is meant for
 * development and tests only: a backend provides its own resolver over its session authentication.
 * @category services
 */
export class ViewerResolver extends Context.Service<ViewerResolver, {
  resolve(request: HttpServerRequest.HttpServerRequest): Effect.Effect<Policy.Viewer, Unauthenticated>
}>()("@yoi/registry/BrowserApi/ViewerResolver") {
  /**
   * The viewer from `x-yoi-viewer` (id) and `x-yoi-workspace`; either missing, empty or over 200 characters →
   * `Unauthenticated`. **Not authentication**: anyone can send these headers.
   */
  static readonly layerHeaders: Layer.Layer<ViewerResolver> = Layer.succeed(
    ViewerResolver,
    ViewerResolver.of({
      resolve: (request) => {
        const id = headerValue(request, "x-yoi-viewer")
        const workspace = headerValue(request, "x-yoi-workspace")
        return id === undefined || workspace === undefined
          ? Effect.fail(new Unauthenticated())
          : Effect.succeed({ id, workspace })
      }
    })
  )
}

/** The resolved viewer, inside `HttpApi` handlers. @category services */
export class CurrentViewer extends Context.Service<CurrentViewer, Policy.Viewer>()(
  "@yoi/registry/BrowserApi/CurrentViewer"
) {}

/** Resolves the viewer before the request is decoded. @category services */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentViewer }>()(
  "@yoi/registry/BrowserApi/Authentication",
  { error: ApiUnauthenticated }
) {}

const layerAuthentication: Layer.Layer<Authentication, never, ViewerResolver> = Layer.effect(
  Authentication,
  Effect.map(
    ViewerResolver,
    (resolver) =>
      Authentication.of((httpEffect) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          resolver.resolve(request).pipe(
            Effect.mapError(() => apiError("unauthenticated")),
            Effect.flatMap((viewer) => Effect.provideService(httpEffect, CurrentViewer, viewer))
          ))
      )
  )
)

// ---------------------------------------------------------------------------------------------------------------
// The API

const RuntimeIdParam = Ids.RuntimeId
const WorkerIdParam = Ids.WorkerId
const Cursor = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Limit = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 200 }))
const WorkerStatus = Schema.Literals(["idle", "running", "stopped", "failed"])

/** Every error a registry call can be answered with. */
const RegistryErrors = [
  ApiBadRequest,
  ApiNotFound,
  ApiConflict,
  ApiNotImplemented,
  ApiBadGateway,
  ApiUnavailable,
  ApiGatewayTimeout
] as const

/** …and of a call with a body: the body limit and the content type are checked before it is read. */
const BodyErrors = [...RegistryErrors, ApiPayloadTooLarge, ApiUnsupportedMediaType] as const

const runtimePath = "/api/runtimes/:runtimeId"
const workerPath = "/api/runtimes/:runtimeId/workers/:workerId"
const workerParams = { runtimeId: RuntimeIdParam, workerId: WorkerIdParam }

/** `POST …/input`. @category schemas */
export const SendInputBody = Schema.Struct({
  text: Schema.String,
  whenBusy: Schema.optional(Schema.Literals(["reject", "enqueue", "interrupt"])),
  idempotencyKey: Schema.optional(Schema.String)
})

/** `POST …/cancel` and `POST …/stop`. @category schemas */
export const ReasonBody = Schema.Struct({ reason: Schema.optional(Schema.String) })

/** An empty body decodes as `null` only when `null` is one of the payload schemas. */
const OptionalReasonBody = [ReasonBody, Schema.Null] as const

/** @category schemas */
export class RuntimesGroup extends HttpApiGroup.make("runtimes").add(
  HttpApiEndpoint.get("listRuntimes", "/api/runtimes", { success: Schema.Array(Views.RuntimeView) }),
  HttpApiEndpoint.get("getRuntime", runtimePath, {
    params: { runtimeId: RuntimeIdParam },
    success: Views.RuntimeView,
    error: RegistryErrors
  })
) {}

/** @category schemas */
export class WorkersGroup extends HttpApiGroup.make("workers").add(
  HttpApiEndpoint.get("listWorkers", `${runtimePath}/workers`, {
    params: { runtimeId: RuntimeIdParam },
    query: { status: Schema.optional(WorkerStatus), limit: Schema.optional(Limit) },
    success: Views.WorkerListView,
    error: RegistryErrors
  }),
  HttpApiEndpoint.post("createWorker", `${runtimePath}/workers`, {
    params: { runtimeId: RuntimeIdParam },
    payload: Requests.CreateWorkerRequest,
    success: Views.CreatedWorkerView.pipe(HttpApiSchema.status(201)),
    error: BodyErrors
  }),
  HttpApiEndpoint.get("getWorker", workerPath, {
    params: workerParams,
    success: Views.WorkerView,
    error: RegistryErrors
  }),
  HttpApiEndpoint.post("sendInput", `${workerPath}/input`, {
    params: workerParams,
    payload: SendInputBody,
    success: Views.InputAcceptedView.pipe(HttpApiSchema.status(202)),
    error: BodyErrors
  }),
  HttpApiEndpoint.post("cancelRun", `${workerPath}/cancel`, {
    params: workerParams,
    payload: OptionalReasonBody,
    success: Views.CancelView,
    error: BodyErrors
  }),
  HttpApiEndpoint.post("stopWorker", `${workerPath}/stop`, {
    params: workerParams,
    payload: OptionalReasonBody,
    success: Views.StopView,
    error: BodyErrors
  }),
  HttpApiEndpoint.get("getTranscript", `${workerPath}/transcript`, {
    params: workerParams,
    query: { before: Schema.optional(Cursor), after: Schema.optional(Cursor), limit: Schema.optional(Limit) },
    success: Views.TranscriptView,
    error: RegistryErrors
  }),
  HttpApiEndpoint.get("getUsage", `${workerPath}/usage`, {
    params: workerParams,
    success: Views.UsageReportView,
    error: RegistryErrors
  })
) {}

/** The legacy host/worker views, one host per runtime. @category schemas */
export class CompatibilityGroup extends HttpApiGroup.make("compatibility").add(
  HttpApiEndpoint.get("listHosts", "/api/hosts", { success: Schema.Array(Views.HostView) }),
  HttpApiEndpoint.get("listAllWorkers", "/api/workers", {
    query: { status: Schema.optional(WorkerStatus), limit: Schema.optional(Limit) },
    success: Views.WorkerListView,
    error: RegistryErrors
  }),
  HttpApiEndpoint.get("listHostWorkers", "/api/hosts/:hostId/workers", {
    params: { hostId: RuntimeIdParam },
    query: { status: Schema.optional(WorkerStatus), limit: Schema.optional(Limit) },
    success: Views.WorkerListView,
    error: RegistryErrors
  })
) {}

/** Where the OpenAPI document is served. @category constructors */
export const openApiPath = "/api/openapi.json"

/** The SSE route (outside the `HttpApi`, so it is added to the OpenAPI document by hand). @category constructors */
export const eventsPath = `${workerPath}/events` as const

const idPattern = "^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$"
const idParameters = new Set(["runtimeId", "workerId", "hostId"])

const mapValues = (value: unknown, f: (entry: unknown) => unknown): Record<string, unknown> =>
  Predicate.isObject(value) ? Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, f(entry)])) : {}

/** The id pattern on every id path parameter (the generated document only says `string`). */
const withIdPattern = (parameter: unknown): unknown =>
  Predicate.isObject(parameter) && parameter["in"] === "path" && Predicate.isString(parameter["name"]) &&
    idParameters.has(parameter["name"]) && Predicate.isObject(parameter["schema"])
    ? { ...parameter, schema: { ...parameter["schema"], pattern: idPattern } }
    : parameter

const errorSchema = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: { code: { type: "string" }, message: { type: "string" } },
      required: ["code", "message"]
    }
  },
  required: ["error"]
}

const eventsOperation = {
  tags: ["workers"],
  operationId: "workers.watchWorker",
  summary: "The Worker's events as Server-Sent Events",
  description: "A `snapshot` frame (no id), then every event after the cursor (`id:` = seq, `event:` = the event's " +
    "`_tag`, `data:` = its JSON), then live events. `Last-Event-ID` or `after` resumes. `: keep-alive` comments keep " +
    "idle connections open; a failure after the first frame ends the stream with an `error` frame whose data is " +
    "`{ code, message }`; one before it is an HTTP error.",
  parameters: [
    { name: "runtimeId", in: "path", required: true, schema: { type: "string", pattern: idPattern } },
    { name: "workerId", in: "path", required: true, schema: { type: "string", pattern: idPattern } },
    { name: "after", in: "query", required: false, schema: { type: "integer", minimum: 0 } },
    { name: "Last-Event-ID", in: "header", required: false, schema: { type: "integer", minimum: 0 } }
  ],
  responses: {
    "200": { description: "The event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
    ...Object.fromEntries(
      [400, 401, 404, 501, 502, 503, 504].map((status) => [
        String(status),
        { description: "Error", content: { "application/json": { schema: errorSchema } } }
      ])
    )
  }
}

/** Completes the generated document: id patterns, and the SSE route (which is not an `HttpApi` endpoint). */
const completeDocument = (spec: Record<string, unknown>): Record<string, unknown> => ({
  ...spec,
  paths: {
    ...mapValues(
      spec["paths"],
      (item) =>
        mapValues(item, (operation) =>
          Predicate.isObject(operation) && Array.isArray(operation["parameters"])
            ? { ...operation, parameters: operation["parameters"].map(withIdPattern) }
            : operation)
    ),
    "/api/runtimes/{runtimeId}/workers/{workerId}/events": { get: eventsOperation }
  }
})

/**
 * The browser API. Every endpoint resolves the viewer first (`Authentication`).
 * @category schemas
 */
export class BrowserApi extends HttpApi.make("yoi-browser-api")
  .add(RuntimesGroup, WorkersGroup, CompatibilityGroup)
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Yoi Worker Runtime — browser API",
    version: "0.0.0",
    description: "Runtimes and Workers of this backend, as browser-safe views. Errors are " +
      "`{ error: { code, message } }`: also `404` for a path that is no route, `405` (with `Allow`) for a method " +
      "a route does not answer, and `413` for a body over the backend's limit (1 MiB unless configured).",
    transform: completeDocument
  }))
{}

// ---------------------------------------------------------------------------------------------------------------
// Handlers

const hostKinds = {
  embedded: "embedded-worker-runtime-host",
  remote: "remote-worker-runtime-host",
  legacy_compatibility: "local-pod-host"
} as const satisfies Record<Views.Implementation, Views.HostView["kind"]>

/** The legacy host view of a runtime. @category constructors */
export const hostView = (runtime: Views.RuntimeView): Views.HostView => ({
  hostId: runtime.runtimeId,
  displayName: runtime.displayName,
  kind: hostKinds[runtime.implementation],
  state: runtime.state
})

/** Runs a registry call as the current viewer, its errors as API errors about `subject`. */
const asViewer = <A>(
  subject: Subject,
  f: (viewer: Policy.Viewer) => Effect.Effect<A, Registry.RegistryError>
): Effect.Effect<A, ApiError, CurrentViewer> =>
  Effect.flatMap(
    CurrentViewer,
    (viewer) => Effect.mapError(f(viewer), (error) => apiError(codeOf(error), subject))
  )

const RuntimesHandlers = HttpApiBuilder.group(
  BrowserApi,
  "runtimes",
  Effect.fn(function*(handlers) {
    const registry = yield* Registry.RuntimeRegistry
    return handlers
      .handle("listRuntimes", () => Effect.flatMap(CurrentViewer, registry.listRuntimes))
      .handle(
        "getRuntime",
        ({ params }) => asViewer("runtime", (viewer) => registry.getRuntime(viewer, params.runtimeId))
      )
  })
)

const WorkersHandlers = HttpApiBuilder.group(
  BrowserApi,
  "workers",
  Effect.fn(function*(handlers) {
    const registry = yield* Registry.RuntimeRegistry
    return handlers
      .handle(
        "listWorkers",
        ({ params, query }) =>
          asViewer(
            "runtime",
            (viewer) =>
              registry.listWorkers(viewer, { runtimeId: params.runtimeId, status: query.status, limit: query.limit })
          )
      )
      .handle(
        "createWorker",
        ({ params, payload }) =>
          asViewer("runtime", (viewer) => registry.createWorker(viewer, params.runtimeId, payload))
      )
      .handle("getWorker", ({ params }) => asViewer("worker", (viewer) => registry.getWorker(viewer, params)))
      .handle("sendInput", ({ params, payload }) =>
        asViewer("worker", (viewer) =>
          registry.sendInput(viewer, params, {
            text: payload.text,
            whenBusy: payload.whenBusy,
            idempotencyKey: payload.idempotencyKey
          })))
      .handle(
        "cancelRun",
        ({ params, payload }) => asViewer("worker", (viewer) => registry.cancelRun(viewer, params, payload?.reason))
      )
      .handle(
        "stopWorker",
        ({ params, payload }) => asViewer("worker", (viewer) => registry.stopWorker(viewer, params, payload?.reason))
      )
      .handle(
        "getTranscript",
        ({ params, query }) =>
          asViewer(
            "worker",
            (viewer) =>
              registry.getTranscript(viewer, params, { before: query.before, after: query.after, limit: query.limit })
          )
      )
      .handle("getUsage", ({ params }) => asViewer("worker", (viewer) => registry.getUsage(viewer, params)))
  })
)

const CompatibilityHandlers = HttpApiBuilder.group(
  BrowserApi,
  "compatibility",
  Effect.fn(function*(handlers) {
    const registry = yield* Registry.RuntimeRegistry
    return handlers
      .handle("listHosts", () =>
        Effect.flatMap(CurrentViewer, registry.listRuntimes).pipe(
          Effect.map((runtimes) => runtimes.map(hostView))
        ))
      .handle(
        "listAllWorkers",
        ({ query }) =>
          asViewer("worker", (viewer) => registry.listWorkers(viewer, { status: query.status, limit: query.limit }))
      )
      .handle(
        "listHostWorkers",
        ({ params, query }) =>
          asViewer(
            "host",
            (viewer) =>
              registry.listWorkers(viewer, { runtimeId: params.hostId, status: query.status, limit: query.limit })
          )
      )
  })
)

// ---------------------------------------------------------------------------------------------------------------
// Options

/** @category models */
export interface Options {
  /** Time between `: keep-alive` comments on an event stream (default 15 seconds). */
  readonly heartbeatInterval?: Duration.Input | undefined
  /**
   * Largest request body read (default 1 MiB); a larger one is answered `413 payload_too_large` without reading the
   * rest: at once when its `Content-Length` says so, else as soon as the limit is crossed.
   */
  readonly maxBodySize?: ByteSize.Input | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Error boundary: what the `HttpApi` answers on its own (empty 400s, a text 415, defects) in the one error body.

const requestSchemaError = (defect: unknown): boolean =>
  HttpApiError.HttpApiSchemaError.is(defect) && defect.kind !== "Body" && defect.kind !== "ResponseHeaders"

/** The platform's failure to read a body past `MaxBodySize` (a defect by then: `HttpApi` reads bodies `orDie`). */
const bodyTooLarge = (defect: unknown): boolean =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError" &&
  defect.reason.reason === "BodyTooLarge"

/**
 * Route middleware of every route here: a body over `maxBodySize` → `413` (by its `Content-Length` before
 * anything is read, else once reading crosses the limit), request decoding failures → `400 invalid_request`
 * (`invalid_id` for path parameters), an unsupported content type → `415`, and anything else that went wrong →
 * `503 runtime_error` (logged), so no response is a 500 or has another body shape.
 */
const errorBoundary = (options: Options) => {
  const maxBodySize = options.maxBodySize === undefined
    ? ByteSize.mebibytes(1)
    : ByteSize.fromInputUnsafe(options.maxBodySize)
  const limit = ByteSize.toNumberUnsafe(maxBodySize)
  return HttpRouter.middleware((httpEffect): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    Types.unhandled,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (Number(request.headers["content-length"] ?? 0) > limit) {
        return Effect.succeed(errorResponse("payload_too_large"))
      }
      return httpEffect.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
        Effect.map((response) => response.status === 415 ? errorResponse("unsupported_media_type") : response),
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          const defect = Cause.squash(cause)
          if (bodyTooLarge(defect)) return Effect.succeed(errorResponse("payload_too_large"))
          if (requestSchemaError(defect)) {
            return Effect.succeed(
              errorResponse(
                HttpApiError.HttpApiSchemaError.is(defect) && defect.kind === "Params"
                  ? "invalid_id"
                  : "invalid_request"
              )
            )
          }
          return Effect.as(
            Effect.logError("browser API request failed", cause),
            errorResponse("runtime_error")
          )
        })
      )
    })
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Events (SSE)

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

const errorFrame = (code: Code): string =>
  Sse.encoder.write({ _tag: "Event", id: undefined, event: "error", data: JSON.stringify(errorBody(code).error) })

const EventsRoute = (options: Options) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const registry = yield* Registry.RuntimeRegistry
    const resolver = yield* ViewerResolver
    const heartbeatInterval = Duration.fromInputUnsafe(options.heartbeatInterval ?? "15 seconds")
    yield* router.add(
      "GET",
      eventsPath,
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const viewer = yield* Effect.result(resolver.resolve(request))
        if (Result.isFailure(viewer)) return errorResponse("unauthenticated")
        const params = yield* HttpRouter.params
        const runtimeId = decodeRuntimeId(params["runtimeId"])
        const workerId = decodeWorkerId(params["workerId"])
        if (Result.isFailure(runtimeId) || Result.isFailure(workerId)) return errorResponse("invalid_id")
        const search = yield* HttpServerRequest.ParsedSearchParams
        const after = parseCursor(request.headers["last-event-id"] ?? search["after"])
        if (Result.isFailure(after)) return errorResponse("invalid_request")

        // The first item decides the status: a stream that cannot start is a plain HTTP error.
        const ref = { runtimeId: runtimeId.success, workerId: workerId.success }
        const peeled = yield* Effect.result(
          Stream.peel(registry.watchWorker(viewer.success, ref, after.success), Sink.take(1))
        )
        if (Result.isFailure(peeled)) return errorResponse(codeOf(peeled.failure), "worker")
        const [first, rest] = peeled.success

        const frames = Stream.concat(Stream.fromIterable(first), rest).pipe(
          Stream.map(frameOf),
          Stream.catchCause((cause) => {
            if (Cause.hasInterruptsOnly(cause)) return Stream.failCause(cause)
            const error = Cause.findError(cause)
            return Stream.succeed(errorFrame(Result.isSuccess(error) ? codeOf(error.success) : "runtime_error"))
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

// ---------------------------------------------------------------------------------------------------------------
// Layers

/** Every route here with the methods it answers, from the `HttpApi` itself plus the two routes outside it. */
const routeTable: ReadonlyArray<{ readonly segments: ReadonlyArray<string>; readonly methods: ReadonlyArray<string> }> =
  (() => {
    const methods = new Map<string, Set<string>>([[eventsPath, new Set(["GET"])], [openApiPath, new Set(["GET"])]])
    HttpApi.reflect(BrowserApi, {
      onGroup: () => {},
      onEndpoint: ({ endpoint }) => {
        const set = methods.get(endpoint.path) ?? new Set()
        methods.set(endpoint.path, set.add(endpoint.method))
      }
    })
    return [...methods].map(([path, set]) => ({ segments: path.split("/").filter(Boolean), methods: [...set] }))
  })()

const idDecoders: Record<string, (segment: string) => boolean> = {
  runtimeId: (id) => Result.isSuccess(decodeRuntimeId(id)),
  hostId: (id) => Result.isSuccess(decodeRuntimeId(id)),
  workerId: (id) => Result.isSuccess(decodeWorkerId(id))
}

/** A raw path segment in an id position: decodable percent-encoding and a valid id once decoded. */
const isId = (name: string, segment: string): boolean => {
  const decoded = Result.try(() => decodeURIComponent(segment))
  return Result.isSuccess(decoded) && (idDecoders[name]?.(decoded.success) ?? false)
}

/**
 * The answer to a request under `/api` that no route took. The router gives up on a path it cannot route — no
 * such route, another method, an id it cannot decode (`%zz`) or longer than its `maxParamLength` — so the path is
 * matched here, segment by segment, against the route table: a route whose id segments are not ids is
 * `400 invalid_id`, a route that does not answer this method is `405` with `Allow`, anything else `404`.
 */
const unroutedApiResponse = (method: string, url: string): HttpServerResponse.HttpServerResponse => {
  const segments = (url.split("?")[0] ?? "").split("/").filter(Boolean)
  const route = routeTable.find((candidate) =>
    candidate.segments.length === segments.length &&
    candidate.segments.every((pattern, i) => pattern.startsWith(":") || pattern === segments[i])
  )
  if (route === undefined) return errorResponse("not_found")
  const idsValid = route.segments.every((pattern, i) =>
    !pattern.startsWith(":") || isId(pattern.slice(1), segments[i]!)
  )
  if (!idsValid) return errorResponse("invalid_id")
  if (route.methods.includes(method === "HEAD" ? "GET" : method)) return errorResponse("not_found")
  return HttpServerResponse.setHeader(errorResponse("method_not_allowed"), "allow", route.methods.join(", "))
}

const isApiPath = (url: string): boolean => /^\/api(?:[/?]|$)/.test(url)

/**
 * Global middleware: a request the router could not route gets the error body — under `/api` only, or everywhere.
 * Global because the router fails such a request before any route (or route middleware) is involved; requests it
 * did route, and unrouted ones outside its reach, pass through untouched.
 */
const unrouted = (everywhere: boolean) =>
  HttpRouter.middleware(
    (httpEffect): Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled> =>
      Effect.catchCause(httpEffect, (cause) => {
        const error = Cause.findErrorOption(cause)
        if (
          Option.isSome(error) && HttpServerError.isHttpServerError(error.value) &&
          error.value.reason._tag === "RouteNotFound"
        ) {
          const request = error.value.reason.request
          if (isApiPath(request.url)) return Effect.succeed(unroutedApiResponse(request.method, request.url))
          if (everywhere) return Effect.succeed(errorResponse("not_found"))
        }
        return Effect.failCause(cause)
      }),
    { global: true }
  )

/**
 * Router settings these routes need: a Worker id may be 120 characters, more than the router's default
 * `maxParamLength` (100). Pass it to `HttpRouter.serve(..., { routerConfig })`.
 * @category constructors
 */
export const routerConfig = { maxParamLength: 256 } as const

/**
 * The routes, to be served by the backend with `HttpRouter.serve(...)` (or `layerServe`) next to its own. Serve
 * them with `routerConfig`, or ids of 101-120 characters are not routed.
 * @category layers
 */
export const layerRoutes = (options: Options = {}): Layer.Layer<
  never,
  never,
  | Registry.RuntimeRegistry
  | ViewerResolver
  | HttpRouter.HttpRouter
  | Etag.Generator
  | HttpPlatform.HttpPlatform
  | FileSystem.FileSystem
  | Path.Path
> =>
  Layer.mergeAll(
    HttpApiBuilder.layer(BrowserApi, { openapiPath: openApiPath }).pipe(
      Layer.provide(
        Layer.mergeAll(RuntimesHandlers, WorkersHandlers, CompatibilityHandlers).pipe(
          Layer.provide(layerAuthentication)
        )
      )
    ),
    EventsRoute(options)
  ).pipe(Layer.provide(errorBoundary(options).layer), Layer.merge(unrouted(false)))

/**
 * The routes with the default options.
 * @category layers
 */
export const layer = layerRoutes()

/**
 * The routes served on the provided `HttpServer` (e.g. `NodeHttpServer.layer`), without request logging.
 * @category layers
 */
export const layerServe = (options: Options = {}) =>
  HttpRouter.serve(Layer.merge(layerRoutes(options), unrouted(true)), {
    disableLogger: true,
    disableListenLog: true,
    routerConfig
  })
