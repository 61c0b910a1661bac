/**
 * Who is asking the browser API. The `ViewerResolver` turns a request into a `Policy.Viewer`; `Authentication`, the
 * middleware of every `HttpApi` endpoint, resolves it before the request itself is looked at (401 before 400) and
 * provides it as `CurrentViewer`.
 *
 * **Details** `ViewerResolver.layerHeaders` trusts the `x-yoi-viewer` and `x-yoi-workspace` request headers: it is
 * for development and tests, and a backend replaces it with its own session authentication.
 *
 * Deliberately not here: sessions, CORS and CSRF policy (the backend's), and what a viewer may see (`Policy`).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { HttpServerRequest } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import * as BrowserErrors from "./BrowserErrors.ts"
import type * as Policy from "./Policy.ts"

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
}>()("@yoi/registry/BrowserViewer/ViewerResolver") {
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
  "@yoi/registry/BrowserViewer/CurrentViewer"
) {}

/** Resolves the viewer before the request is decoded. @category services */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentViewer }>()(
  "@yoi/registry/BrowserViewer/Authentication",
  { error: BrowserErrors.ApiUnauthenticated }
) {}

/** @category layers */
export const layerAuthentication: Layer.Layer<Authentication, never, ViewerResolver> = Layer.effect(
  Authentication,
  Effect.map(
    ViewerResolver,
    (resolver) =>
      Authentication.of((httpEffect) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          resolver.resolve(request).pipe(
            Effect.mapError(() => BrowserErrors.apiError("unauthenticated")),
            Effect.flatMap((viewer) => Effect.provideService(httpEffect, CurrentViewer, viewer))
          ))
      )
  )
)
