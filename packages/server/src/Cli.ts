/**
 * `yoi-runtime`: the runtime process (`serve`) and client commands against a running one (`status`, `workers
 * list|create|show`, `send`, `watch`, `transcript`, `cancel`, `stop`).
 *
 * Flags fall back to environment variables (`YOI_RUNTIME_*`); the token only ever comes from `YOI_RUNTIME_TOKEN` or
 * a token file, is held as `Redacted`, and is never printed. Client commands use the same remote client as the
 * registry. Typed errors are printed as one line (`error: WorkerBusy …`) with exit code 1.
 */
import { RuntimeClient, type RuntimeEvent } from "@yoi/domain"
import { RemoteRuntime } from "@yoi/registry"
import { Cause, Config, Console, Effect, Exit, FileSystem, Option, Redacted, Runtime, Schedule, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { tmpdir } from "node:os"
import * as ServerMain from "./ServerMain.ts"

// ---- shared ----------------------------------------------------------------------------------------------------

const tokenFile = Flag.Path("token-file").pipe(
  Flag.withDescription("File holding the bearer token (else YOI_RUNTIME_TOKEN)"),
  Flag.optional
)

/** The token: from a file (trimmed), else YOI_RUNTIME_TOKEN, else none. */
const loadToken = (file: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(file)) {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs.readFileString(file.value).pipe(
        Effect.mapError(() => new ServerMain.StartupError({ message: "the token file cannot be read" }))
      )
      const token = text.trim()
      if (token.length === 0) return yield* new ServerMain.StartupError({ message: "the token file is empty" })
      return Option.some(Redacted.make(token))
    }
    const fromEnv = yield* Config.option(Config.Redacted("YOI_RUNTIME_TOKEN"))
    return Option.filter(fromEnv, (token) => Redacted.value(token).trim().length > 0)
  })

// ---- serve -----------------------------------------------------------------------------------------------------

const serve = Command.make(
  "serve",
  {
    host: Flag.String("host").pipe(
      Flag.withDescription("Address to listen on (a non-loopback address requires a token)"),
      Flag.withFallbackConfig(Config.String("YOI_RUNTIME_HOST")),
      Flag.withDefault("127.0.0.1")
    ),
    port: Flag.Int("port").pipe(
      Flag.withDescription("Port to listen on (0 picks a free one)"),
      Flag.withFallbackConfig(Config.Int("YOI_RUNTIME_PORT")),
      Flag.withDefault(38800)
    ),
    dataDir: Flag.String("data-dir").pipe(
      Flag.withDescription("Directory of the Runtime's durable state"),
      Flag.withFallbackConfig(Config.String("YOI_DATA_DIR")),
      Flag.withDefault(".yoi-data")
    ),
    allocationDir: Flag.String("allocation-dir").pipe(
      Flag.withDescription("Host-wide directory of live scope allocations, shared by every runtime process"),
      Flag.withFallbackConfig(Config.String("YOI_ALLOCATION_DIR")),
      Flag.withDefault(`${tmpdir()}/yoi-runtime-allocations`)
    ),
    runtimeId: Flag.String("runtime-id").pipe(
      Flag.withDescription("This Runtime's id"),
      Flag.withFallbackConfig(Config.String("YOI_RUNTIME_ID")),
      Flag.withDefault("local")
    ),
    displayName: Flag.String("display-name").pipe(
      Flag.withDescription("This Runtime's display name"),
      Flag.withFallbackConfig(Config.String("YOI_RUNTIME_DISPLAY_NAME")),
      Flag.optional
    ),
    grace: Flag.Int("grace").pipe(
      Flag.withDescription("Seconds runs may take to finish on SIGTERM/SIGINT before they are cancelled"),
      Flag.withFallbackConfig(Config.Int("YOI_SHUTDOWN_GRACE")),
      Flag.withDefault(10)
    ),
    tokenFile
  },
  Effect.fnUntraced(function*(flags) {
    const token = yield* loadToken(flags.tokenFile)
    yield* ServerMain.run({
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      allocationDir: flags.allocationDir,
      runtimeId: flags.runtimeId,
      displayName: Option.getOrUndefined(flags.displayName),
      graceSeconds: flags.grace,
      token: Option.getOrUndefined(token)
    })
  })
).pipe(Command.withDescription("Run a runtime process serving RuntimeRpcs over HTTP"))

// ---- client commands -------------------------------------------------------------------------------------------

const root = Command.make("yoi-runtime").pipe(
  Command.withSharedFlags({
    url: Flag.String("url").pipe(
      Flag.withDescription("Base URL of the runtime process (client commands)"),
      Flag.withFallbackConfig(Config.String("YOI_RUNTIME_URL")),
      Flag.withDefault("http://127.0.0.1:38800")
    ),
    clientTokenFile: Flag.Path("client-token-file").pipe(
      Flag.withDescription("File holding the bearer token for client commands (else YOI_RUNTIME_TOKEN)"),
      Flag.optional
    )
  }),
  Command.withDescription("The Yoi Worker Runtime")
)

/** Runs `body` with a remote client for the root flags; typed errors become one printed line and exit code 1. */
const withClient = <A, E>(body: (client: RuntimeClient.RuntimeClientApi) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const flags = yield* root
    const token = yield* loadToken(flags.clientTokenFile)
    return yield* Effect.flatMap(RuntimeClient.RuntimeClient, body).pipe(
      Effect.provide(RemoteRuntime.layer({ url: flags.url, token: Option.getOrUndefined(token) }))
    )
  }).pipe(Effect.catch((error) => reportError(error)))

const reportError = (error: unknown) =>
  Effect.andThen(
    Console.error(`error: ${describeError(error)}`),
    Effect.sync(() => {
      process.exitCode = 1
    })
  )

const describeError = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const { _tag, ...fields } = error as { readonly _tag: string }
    if (_tag === "RpcClientError") return "RpcClientError: the runtime could not be reached or answered badly"
    const message = "message" in error && typeof error.message === "string" ? { message: error.message } : {}
    const details = Object.entries({ ...fields, ...message })
      .filter(([key, value]) => key !== "stack" && key !== "cause" && value !== "")
      .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    return [_tag, ...details].join(" ")
  }
  return String(error)
}

const workerIdArg = Argument.String("worker-id").pipe(Argument.withDescription("The Worker's id"))

const status = Command.make("status", {}, () =>
  withClient((client) =>
    Effect.gen(function*() {
      const summary = yield* client.GetRuntime()
      yield* Console.log(`${summary.displayName} (${summary.runtimeId}) — ${summary.status}`)
      yield* Console.log(`engine: ${summary.engine}`)
      const c = summary.counts
      yield* Console.log(
        `workers: ${c.total} (idle ${c.idle}, running ${c.running}, stopped ${c.stopped}, failed ${c.failed})`
      )
      for (const d of summary.diagnostics) yield* Console.log(`diagnostic ${d.level} ${d.code}: ${d.message}`)
    })
  )).pipe(Command.withDescription("Show the runtime's summary"))

const list = Command.make("list", {
  status: Flag.Literals("status", ["idle", "running", "stopped", "failed"]).pipe(Flag.optional),
  limit: Flag.Int("limit").pipe(Flag.withDefault(50))
}, (flags) =>
  withClient((client) =>
    Effect.gen(function*() {
      const page = yield* client.ListWorkers({
        limit: flags.limit,
        ...(Option.isSome(flags.status) ? { status: flags.status.value } : {})
      })
      for (const w of page.workers) {
        yield* Console.log(`${w.ref.workerId}  ${w.status.padEnd(8)} ${w.displayName} (${w.profileName})`)
      }
      if (page.nextCursor !== undefined) yield* Console.log(`… more after ${page.nextCursor}`)
    })
  )).pipe(Command.withDescription("List Workers"))

const create = Command.make("create", {
  name: Flag.String("name").pipe(Flag.withDescription("Display name"), Flag.optional),
  profile: Flag.String("profile").pipe(
    Flag.withDescription("Builtin profile (default: runtime default)"),
    Flag.optional
  )
}, (flags) =>
  withClient((client) =>
    Effect.gen(function*() {
      const created = yield* client.CreateWorker({
        ...(Option.isSome(flags.name) ? { displayName: flags.name.value } : {}),
        ...(Option.isSome(flags.profile) ? { profile: { kind: "builtin", name: flags.profile.value } } : {})
      })
      yield* Console.log(created.worker.ref.workerId)
    })
  )).pipe(Command.withDescription("Create a Worker; prints its id"))

const show = Command.make(
  "show",
  { workerId: workerIdArg },
  ({ workerId }) =>
    withClient((client) =>
      Effect.gen(function*() {
        const w = yield* client.GetWorker({ workerId })
        yield* Console.log(`${w.displayRef}  ${w.ref.workerId}`)
        yield* Console.log(
          `status ${w.status}, profile ${w.profileName}, queue ${w.queueLength}, last seq ${w.lastSeq}`
        )
        if (w.currentRun !== undefined) yield* Console.log(`running ${w.currentRun.runId}`)
        yield* Console.log(
          `usage: ${w.usage.runs} runs, ${w.usage.inputTokens} in / ${w.usage.outputTokens} out, ${w.usage.failures} failed`
        )
        if (w.lastError !== undefined) yield* Console.log(`last error: ${w.lastError.code}: ${w.lastError.message}`)
      })
    )
).pipe(Command.withDescription("Show one Worker"))

const workers = Command.make("workers").pipe(
  Command.withSubcommands([list, create, show]),
  Command.withDescription("Manage Workers")
)

const isRunEnd = (runId: string) => (item: RuntimeEvent.WorkerWatchItem) =>
  (item._tag === "run_finished" || item._tag === "run_cancelled" || item._tag === "run_failed") &&
  item.runId === runId

const write = (text: string) => Effect.sync(() => process.stdout.write(text))

const send = Command.make("send", {
  workerId: workerIdArg,
  text: Argument.String("text").pipe(Argument.variadic(), Argument.withDescription("The message")),
  whenBusy: Flag.Literals("when-busy", ["reject", "enqueue", "interrupt"]).pipe(Flag.withDefault("reject"))
}, (flags) =>
  withClient((client) =>
    Effect.gen(function*() {
      const before = yield* client.GetWorker({ workerId: flags.workerId })
      const accepted = yield* client.SendInput({
        workerId: flags.workerId,
        input: { kind: "user", text: flags.text.join(" ") },
        whenBusy: flags.whenBusy
      })
      if (accepted.status === "queued") yield* Console.log(`(queued as ${accepted.inputId})`)
      yield* client.WatchWorker({ workerId: flags.workerId, after: before.lastSeq }).pipe(
        Stream.takeUntil(isRunEnd(accepted.runId)),
        Stream.runForEach((item) => {
          if (item._tag === "text_delta" && item.runId === accepted.runId) return write(item.delta)
          if (item._tag === "run_failed" && item.runId === accepted.runId) {
            return Console.error(`\nrun failed: ${item.code}: ${item.message}`)
          }
          if (item._tag === "run_cancelled" && item.runId === accepted.runId) return Console.error("\n(cancelled)")
          return Effect.void
        })
      )
      yield* write("\n")
    })
  )).pipe(Command.withDescription("Send a message and print the reply as it streams"))

const describeItem = (item: RuntimeEvent.WorkerWatchItem): string => {
  switch (item._tag) {
    case "snapshot":
      return `snapshot: ${item.status}, last seq ${item.lastSeq}${item.run ? `, running ${item.run.runId}` : ""}`
    case "text_delta":
      return `#${item.seq} text: ${JSON.stringify(item.delta)}`
    case "status_changed":
      return `#${item.seq} status ${item.from} → ${item.to}`
    default: {
      const { _tag, seq, at: _at, ...rest } = item
      return `#${seq} ${_tag} ${JSON.stringify(rest)}`
    }
  }
}

const watch = Command.make("watch", {
  workerId: workerIdArg,
  after: Flag.Int("after").pipe(Flag.withDescription("Resume after this seq"), Flag.withDefault(0))
}, (flags) =>
  withClient((client) =>
    Effect.gen(function*() {
      let last = flags.after
      // Resume from the last seq seen after a disconnect or a lag, so nothing is lost or repeated.
      const once = Effect.suspend(() =>
        client.WatchWorker({ workerId: flags.workerId, after: last }).pipe(
          Stream.runForEach((item) =>
            Effect.andThen(
              Console.log(describeItem(item)),
              Effect.sync(() => {
                if (item._tag !== "snapshot") last = item.seq
              })
            )
          )
        )
      )
      yield* once.pipe(
        Effect.tapError((error) => Console.error(`(disconnected: ${describeError(error)}; resuming after #${last})`)),
        Effect.retry({
          while: (error) => error._tag === "RpcClientError" || error._tag === "SubscriberLagged",
          schedule: Schedule.spaced("1 second")
        })
      )
    })
  )).pipe(Command.withDescription("Follow a Worker's events; reconnects and resumes from the last seen seq"))

const transcript = Command.make("transcript", {
  workerId: workerIdArg,
  limit: Flag.Int("limit").pipe(Flag.withDefault(50)),
  before: Flag.Int("before").pipe(Flag.optional),
  after: Flag.Int("after").pipe(Flag.optional)
}, (flags) =>
  withClient((client) =>
    Effect.gen(function*() {
      const page = yield* client.GetTranscript({
        workerId: flags.workerId,
        limit: flags.limit,
        ...(Option.isSome(flags.before) ? { before: flags.before.value } : {}),
        ...(Option.isSome(flags.after) ? { after: flags.after.value } : {})
      })
      for (const e of page.entries) {
        yield* Console.log(`#${e.seq} ${e.kind}${e.interrupted ? " (interrupted)" : ""}: ${e.text}`)
      }
      yield* Console.log(`(${page.entries.length} of ${page.total}${page.hasMore ? ", more available" : ""})`)
    })
  )).pipe(Command.withDescription("Print a page of a Worker's transcript"))

const cancel = Command.make(
  "cancel",
  { workerId: workerIdArg },
  ({ workerId }) =>
    withClient((client) =>
      Effect.flatMap(
        client.CancelRun({ workerId }),
        (result) => Console.log(result.outcome === "cancelled" ? `cancelled ${result.runId}` : "not running")
      )
    )
).pipe(Command.withDescription("Cancel the Worker's current run"))

const stop = Command.make(
  "stop",
  { workerId: workerIdArg },
  ({ workerId }) =>
    withClient((client) => Effect.flatMap(client.StopWorker({ workerId }), (result) => Console.log(result.outcome)))
)
  .pipe(Command.withDescription("Stop a Worker (terminal; its data stays readable)"))

/** The whole CLI. @category constructors */
export const cli = root.pipe(
  Command.withSubcommands([serve, status, workers, send, watch, transcript, cancel, stop])
)

/** Runs the CLI with the process arguments. @category constructors */
export const run = Command.run(cli, { version: "0.0.0" })

/**
 * Exit codes: a graceful stop on SIGTERM/SIGINT is 0; a client command that printed a typed error is 1; a refused
 * start or a defect follows Effect's default (1).
 * @category constructors
 */
export const teardown: Runtime.Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit)) return onExit(typeof process.exitCode === "number" ? process.exitCode : 0)
  if (Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
  return Runtime.defaultTeardown(exit, onExit)
}
