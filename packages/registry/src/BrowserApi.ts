/**
 * The browser-facing HTTP API a backend mounts: the `BrowserHttpApi` routes over the `RuntimeRegistry` (with the
 * OpenAPI document at `/api/openapi.json`) plus the Worker event stream as Server-Sent Events, behind one error
 * boundary. Browsers talk only to this API, never to a Runtime; every response body is a `Views` schema or the one
 * error body (`BrowserErrors`), so nothing here can carry a URL, token or path.
 *
 * **Details** The viewer is resolved (`BrowserViewer`) before the request itself is looked at (401 before 400);
 * only routing (404, 405) and a `Content-Length` over the body limit (413) are answered before it. `layerServe`
 * answers the same 404 body outside `/api` too; `layerRoutes` only ever answers for `/api`, so a backend's own
 * routes and its own 404 stay its own. A backend may add routes of its own under `/api/`, but not on these paths.
 *
 * Deliberately not here: sessions, CORS and CSRF policy (the backend's), and any call to a Runtime that does not go
 * through the registry.
 */
import { type ByteSize, type Duration, type FileSystem, Layer, type Path } from "effect"
import { type Etag, type HttpPlatform, HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as BrowserHttpApi from "./BrowserHttpApi.ts"
import type * as BrowserViewer from "./BrowserViewer.ts"
import * as ErrorBoundary from "./internal/errorBoundary.ts"
import * as Events from "./internal/events.ts"
import * as Handlers from "./internal/handlers.ts"
import type * as Registry from "./Registry.ts"

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
  | BrowserViewer.ViewerResolver
  | HttpRouter.HttpRouter
  | Etag.Generator
  | HttpPlatform.HttpPlatform
  | FileSystem.FileSystem
  | Path.Path
> =>
  Layer.mergeAll(
    HttpApiBuilder.layer(BrowserHttpApi.BrowserHttpApi, { openapiPath: BrowserHttpApi.openApiPath }).pipe(
      Layer.provide(Handlers.layer)
    ),
    Events.layer(options)
  ).pipe(Layer.provide(ErrorBoundary.errorBoundary(options).layer), Layer.merge(ErrorBoundary.unrouted(false)))

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
  HttpRouter.serve(Layer.merge(layerRoutes(options), ErrorBoundary.unrouted(true)), {
    disableLogger: true,
    disableListenLog: true,
    routerConfig
  })
