/**
 * The browser API's handlers: each endpoint is one registry call made as the current viewer, its result a view and
 * its failure the API error of its code about the route's subject (`runtime`, `worker`, `host`).
 *
 * Deliberately not here: any decision the registry makes (resolution, policy, health), and request decoding (the
 * `HttpApi` contract and the error boundary).
 */
import { Effect, Layer } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import * as BrowserErrors from "../BrowserErrors.ts"
import * as BrowserHttpApi from "../BrowserHttpApi.ts"
import * as BrowserViewer from "../BrowserViewer.ts"
import type * as Policy from "../Policy.ts"
import * as Registry from "../Registry.ts"
import * as Views from "../Views.ts"

/** Runs a registry call as the current viewer, its errors as API errors about `subject`. */
const asViewer = <A>(
  subject: BrowserErrors.Subject,
  f: (viewer: Policy.Viewer) => Effect.Effect<A, Registry.RegistryError>
): Effect.Effect<A, BrowserErrors.ApiError, BrowserViewer.CurrentViewer> =>
  Effect.flatMap(
    BrowserViewer.CurrentViewer,
    (viewer) => Effect.mapError(f(viewer), (error) => BrowserErrors.apiError(BrowserErrors.codeOf(error), subject))
  )

const RuntimesHandlers = HttpApiBuilder.group(
  BrowserHttpApi.BrowserHttpApi,
  "runtimes",
  Effect.fn(function*(handlers) {
    const registry = yield* Registry.RuntimeRegistry
    return handlers
      .handle("listRuntimes", () => Effect.flatMap(BrowserViewer.CurrentViewer, registry.listRuntimes))
      .handle(
        "getRuntime",
        ({ params }) => asViewer("runtime", (viewer) => registry.getRuntime(viewer, params.runtimeId))
      )
  })
)

const WorkersHandlers = HttpApiBuilder.group(
  BrowserHttpApi.BrowserHttpApi,
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
  BrowserHttpApi.BrowserHttpApi,
  "compatibility",
  Effect.fn(function*(handlers) {
    const registry = yield* Registry.RuntimeRegistry
    return handlers
      .handle("listHosts", () =>
        Effect.flatMap(BrowserViewer.CurrentViewer, registry.listRuntimes).pipe(
          Effect.map((runtimes) => runtimes.map(Views.hostView))
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

/** Every group's handlers, with the viewer resolved by `Authentication`. */
export const layer = Layer.mergeAll(RuntimesHandlers, WorkersHandlers, CompatibilityHandlers).pipe(
  Layer.provide(BrowserViewer.layerAuthentication)
)
