/**
 * The runtime process as one layer: a filesystem-backed Runtime, `Server` on a Node HTTP server, a startup banner,
 * graceful shutdown and, when the `OTEL_*` variables ask for it, OTLP export of traces and logs (`OtlpExport`).
 * `run` refuses unsafe configurations before anything starts, and turns every reason the process cannot start (port
 * in use, data directory held by another process, …) into one `StartupError` whose message is one line for people.
 *
 * **Details** Shutdown order follows layer order in reverse: on SIGTERM/SIGINT the Runtime first refuses new
 * commands (`RuntimeStopping`) and lets runs finish for the grace period, cancelling the rest; then the HTTP server
 * closes; then the Runtime's scope releases this instance's allocations; the OTLP exporters go last, so the stop's
 * own spans and logs are exported, each flush within `OtlpExport.shutdownTimeout`. Every acknowledged write was
 * already durable. Nothing printed here contains a path or the token; the original failure stays on
 * `StartupError.cause` for `--log-level debug`.
 *
 * Deliberately not here: printing and exit codes (the CLI does both) and reading flags or the environment, but for
 * the standard `OTEL_*` variables `OtlpExport.layerConfig` reads.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { type Errors, Ids } from "@yoi/domain"
import { Runtime, RuntimePresets, type RuntimeSettings } from "@yoi/runtime"
import { Console, Data, Effect, Layer, type Redacted } from "effect"
import { HttpServer, type HttpServerError } from "effect/http"
import { createServer } from "node:http"
import * as CliExit from "./CliExit.ts"
import * as OtlpExport from "./OtlpExport.ts"
import * as Server from "./Server.ts"

/**
 * Why the process does not start: `message` is one line for people (no path, no token); `cause` is the original
 * failure, if any, for debugging.
 * @category errors
 */
export class StartupError extends Data.TaggedError("StartupError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** @category models */
export interface Options {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly allocationDir: string
  readonly runtimeId: string
  readonly displayName?: string | undefined
  readonly graceSeconds: number
  readonly token?: Redacted.Redacted<string> | undefined
  /** Providers and profiles (`RuntimeSettings.scripted` for none). */
  readonly settings: RuntimeSettings.Settings
}

/** @category constructors */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host)

const Banner = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const runtime = yield* Runtime.Runtime
  const summary = yield* runtime.getRuntime
  yield* Console.log(
    `yoi-runtime ${summary.displayName} (${summary.runtimeId}) listening on ${HttpServer.formatAddress(server.address)}`
  )
  yield* Console.log(`workers: ${summary.counts.total} restored (${summary.counts.idle} idle)`)
  if (summary.providers.length === 1 && summary.providers[0]!.scripted) {
    yield* Console.log(
      "engine: scripted — no LLM provider is configured, so replies come from the deterministic offline scripted " +
        "engine. Configure one with --provider/--base-url/--model or --config (see docs/providers.md)."
    )
  } else {
    // names, kinds and models only: a provider's URL and key never appear here
    for (const p of summary.providers) {
      yield* Console.log(`provider ${p.name} (${p.kind}): model ${p.model}${p.isDefault ? " [default]" : ""}`)
    }
  }
  for (const d of summary.diagnostics) yield* Console.log(`diagnostic ${d.level} ${d.code}: ${d.message}`)
})

/**
 * The whole process.
 * @category layers
 */
export const layer = (options: Options, configured: RuntimePresets.MemoryOptions = {}) => {
  const runtime = RuntimePresets.layerFileSystem({
    ...configured,
    directory: options.dataDir,
    allocationDirectory: options.allocationDir,
    runtimeId: options.runtimeId,
    displayName: options.displayName,
    implementation: "process"
  })
  const http = Server.layer({ token: options.token }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        host: options.host,
        port: options.port,
        gracefulShutdownTimeout: "2 seconds"
      })
    )
  )
  const lifecycle = Layer.effectDiscard(Effect.gen(function*() {
    const rt = yield* Runtime.Runtime
    yield* Effect.addFinalizer(() =>
      Console.log("shutting down: refusing new commands, letting runs finish").pipe(
        Effect.andThen(rt.shutdown(`${options.graceSeconds} seconds`)),
        Effect.andThen(Console.log("runs settled; closing"))
      )
    )
    yield* Banner
  }))
  return lifecycle.pipe(
    Layer.provideMerge(http),
    Layer.provideMerge(runtime),
    // built first and released last: everything above runs with the exporters' tracer and logger
    Layer.provide(OtlpExport.layerConfig)
  )
}

/** One line saying why the process could not start. */
const startupFailure = (options: Options) =>
(
  error: StartupError | Errors.StoreFailure | HttpServerError.ServeError | RuntimeSettings.InvalidConfig
): StartupError => {
  switch (error._tag) {
    case "StartupError":
      return error
    case "InvalidConfig":
      return new StartupError({ message: `invalid configuration: ${error.field} ${error.message}`, cause: error })
    case "ServeError":
      return new StartupError({ message: CliExit.listenFailure(options.host, options.port, error), cause: error })
    case "StoreFailure":
      // a StoreFailure's message never contains a path (the store's contract)
      return new StartupError({ message: error.message, cause: error })
  }
}

/**
 * Validates the options and runs the process until interrupted; fails with a `StartupError` if it cannot start.
 * @category constructors
 */
export const run = (options: Options) =>
  Effect.gen(function*() {
    if (!isLoopback(options.host) && options.token === undefined) {
      return yield* new StartupError({
        message: "refusing to listen on a non-loopback address without a token: set YOI_RUNTIME_TOKEN or --token-file"
      })
    }
    yield* Ids.parse(Ids.RuntimeId, "runtimeId", options.runtimeId).pipe(
      Effect.mapError((e) => new StartupError({ message: `invalid --runtime-id: ${e.message}` }))
    )
    if (!Number.isInteger(options.graceSeconds) || options.graceSeconds < 0) {
      return yield* new StartupError({ message: "--grace must be a non-negative number of seconds" })
    }
    const configured = yield* RuntimePresets.fromSettings(options.settings)
    return yield* Layer.launch(layer(options, configured))
  }).pipe(Effect.mapError(startupFailure(options)))
