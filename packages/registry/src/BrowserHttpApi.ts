/**
 * The browser API's contract: an `HttpApi` of runtimes, Workers and the legacy host views over browser-safe
 * `Views`, with its OpenAPI document (served at `openApiPath`). Every endpoint resolves the viewer first
 * (`BrowserViewer.Authentication`). The Worker event stream (`eventsPath`) is no `HttpApi` endpoint (it is
 * Server-Sent Events), so the document gets it by hand, with the id pattern on every id path parameter.
 *
 * **Details** Path ids (`runtimeId`, `workerId`, `hostId`) must match `^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$`.
 *
 * Deliberately not here: the handlers, the error boundary and the event stream (the API's `internal/` modules),
 * and serving (`BrowserApi`).
 */
import { Ids, Requests } from "@yoi/domain"
import { Predicate, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as BrowserErrors from "./BrowserErrors.ts"
import * as BrowserViewer from "./BrowserViewer.ts"
import * as Views from "./Views.ts"

const RuntimeIdParam = Ids.RuntimeId
const WorkerIdParam = Ids.WorkerId
const Cursor = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Limit = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 200 }))
const WorkerStatus = Schema.Literals(["idle", "running", "stopped", "failed"])

/** Every error a registry call can be answered with. */
const CallErrors = [
  BrowserErrors.ApiBadRequest,
  BrowserErrors.ApiNotFound,
  BrowserErrors.ApiConflict,
  BrowserErrors.ApiNotImplemented,
  BrowserErrors.ApiBadGateway,
  BrowserErrors.ApiUnavailable,
  BrowserErrors.ApiGatewayTimeout
] as const

/** …and of a call with a body: the body limit and the content type are checked before it is read. */
const BodyErrors = [...CallErrors, BrowserErrors.ApiPayloadTooLarge, BrowserErrors.ApiUnsupportedMediaType] as const

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
    error: CallErrors
  })
) {}

/** @category schemas */
export class WorkersGroup extends HttpApiGroup.make("workers").add(
  HttpApiEndpoint.get("listWorkers", `${runtimePath}/workers`, {
    params: { runtimeId: RuntimeIdParam },
    query: { status: Schema.optional(WorkerStatus), limit: Schema.optional(Limit) },
    success: Views.WorkerListView,
    error: CallErrors
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
    error: CallErrors
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
    error: CallErrors
  }),
  HttpApiEndpoint.get("getUsage", `${workerPath}/usage`, {
    params: workerParams,
    success: Views.UsageReportView,
    error: CallErrors
  })
) {}

/** The legacy host/worker views, one host per runtime. @category schemas */
export class CompatibilityGroup extends HttpApiGroup.make("compatibility").add(
  HttpApiEndpoint.get("listHosts", "/api/hosts", { success: Schema.Array(Views.HostView) }),
  HttpApiEndpoint.get("listAllWorkers", "/api/workers", {
    query: { status: Schema.optional(WorkerStatus), limit: Schema.optional(Limit) },
    success: Views.WorkerListView,
    error: CallErrors
  }),
  HttpApiEndpoint.get("listHostWorkers", "/api/hosts/:hostId/workers", {
    params: { hostId: RuntimeIdParam },
    query: { status: Schema.optional(WorkerStatus), limit: Schema.optional(Limit) },
    success: Views.WorkerListView,
    error: CallErrors
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
export class BrowserHttpApi extends HttpApi.make("yoi-browser-api")
  .add(RuntimesGroup, WorkersGroup, CompatibilityGroup)
  .middleware(BrowserViewer.Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Yoi Worker Runtime — browser API",
    version: "0.0.0",
    description: "Runtimes and Workers of this backend, as browser-safe views. Errors are " +
      "`{ error: { code, message } }`: also `404` for a path that is no route, `405` (with `Allow`) for a method " +
      "a route does not answer, and `413` for a body over the backend's limit (1 MiB unless configured).",
    transform: completeDocument
  }))
{}
