/**
 * The request log: one Debug line per HTTP request the runtime server answers — method, route, status and duration,
 * e.g. `http GET /healthz 200 0.4ms`. Shown with `yoi-runtime serve --log-level debug`, and exported with the other
 * logs when OTLP export is on (`OtlpExport`).
 *
 * **Details** The route is the served path without its query, or `(unrouted)` for a path the server does not serve,
 * since an arbitrary path, the query, a header or a body could carry what no log may hold (a token, a path). The
 * duration ends when the response starts, so a streamed answer (`WatchWorker`) is logged as it begins. Below Debug
 * the middleware costs one log-level check per request and reads no clock.
 *
 * Deliberately not here: access logs for auditing (who asked: the runtime has no notion of callers) and spans (the
 * RPC server names one per RPC).
 */
import { Clock, Context, Effect, LogLevel, References } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"

/**
 * The middleware for a server whose routes are `paths` (every other path is logged as `(unrouted)`).
 * @category layers
 */
export const layer = (paths: ReadonlySet<string>) =>
  HttpRouter.middleware((app) =>
    Effect.withFiber((fiber) => {
      if (LogLevel.isGreaterThan(fiber.getRef(References.MinimumLogLevel), "Debug")) return app
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      // the router ignores a trailing slash (effect's RPC client posts to `/rpc/`)
      const path = request.url.split("?")[0]!.replace(/(.)\/$/, "$1")
      const route = paths.has(path) ? path : "(unrouted)"
      const clock = fiber.getRef(Clock.Clock)
      const start = clock.monotonicTimeNanosUnsafe()
      return Effect.onExit(app, (exit) => {
        const status = exit._tag === "Success"
          ? exit.value.status
          : HttpServerError.causeResponseStripped(exit.cause)[0].status
        const ms = Number(clock.monotonicTimeNanosUnsafe() - start) / 1e6
        return Effect.logDebug(`http ${request.method} ${route} ${status} ${ms.toFixed(1)}ms`)
      })
    }), { global: true })
