/**
 * The `yoi-runtime` client commands — `status`, `workers list|create|show`, `send`, `watch`, `transcript`,
 * `cancel`, `stop` — as separate processes against a running runtime, written to be scripted: results on stdout,
 * everything else on stderr, and an exit code per outcome (`CliExit.ts`, `docs/cli.md`).
 *
 * **Details**
 * - Every client command has its own `--url` and `--token-file` (nothing shared with `serve`), and talks through the
 *   HTTP transport of `RuntimeClient` (`HttpRuntimeClient`, in `@yoi/domain`). A transport failure names the URL and
 *   the reason (`HttpRuntimeClient.describe`), never the token.
 * - `send` streams the reply and exits by how the run ended; Ctrl-C leaves the run going and says how to follow or
 *   cancel it. `watch` resumes after the last seq it printed, reconnecting with capped exponential backoff and
 *   jitter: one line when the runtime goes away, one when it is back (each attempt only at `--log-level debug`).
 *
 * Deliberately not here: a retry for anything but `watch` (a command that changes state is not replayed), and any
 * output of the token, a data directory or a URL's credentials.
 */
import { Errors, HttpRuntimeClient, RuntimeClient, type RuntimeEvent } from "@yoi/domain"
import { Console, Data, DateTime, Duration, Effect, Option, Predicate, Schedule, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { RpcClientError } from "effect/rpc"
import * as CliExit from "../CliExit.ts"
import * as CliSettings from "../CliSettings.ts"
import * as Token from "./token.ts"

const clientFlags = {
  url: CliSettings.string("url", {
    description: "Base URL of the runtime process",
    variable: "YOI_RUNTIME_URL",
    default: "http://127.0.0.1:38800"
  }),
  tokenFile: Token.tokenFileFlag("for the runtime process")
}

interface ClientFlags {
  readonly url: string
  readonly tokenFile: Option.Option<string>
}

/** A typed error as one line: its tag and fields (`WorkerStopped workerId=… status=stopped`). */
const describeError = (error: { readonly _tag: string }): string => {
  const message = Predicate.hasProperty(error, "message") && Predicate.isString(error.message)
    ? { message: error.message }
    : {}
  const details = Object.entries({ ...error, ...message })
    .filter(([key, value]) => key !== "_tag" && key !== "stack" && key !== "cause" && value !== "")
    .map(([key, value]) => `${key}=${Predicate.isString(value) ? value : JSON.stringify(value)}`)
  return [error._tag, ...details].join(" ")
}

/** What the person sees for a failure of a client command, and the exit code it ends with. */
const report = (url: string) => (error: { readonly _tag: string }): Effect.Effect<never, CliExit.Reported> => {
  if (error instanceof CliExit.Reported) return Effect.fail(error)
  if (error instanceof RpcClientError.RpcClientError) {
    return CliExit.fail(HttpRuntimeClient.describe(url, error), CliExit.ExitCode.unreachable, error)
  }
  if (error instanceof Errors.WorkerBusy) {
    return CliExit.fail(
      `WorkerBusy workerId=${error.workerId} runId=${error.runId} startedAt=${
        DateTime.formatIso(DateTime.makeUnsafe(error.startedAt))
      } (the Worker is running; --when-busy enqueue queues the message, --when-busy interrupt cancels the run)`,
      CliExit.ExitCode.refused
    )
  }
  return CliExit.fail(describeError(error), CliExit.ExitCode.refused)
}

/** Runs `body` with a remote client for the command's `--url` and token; every failure is reported once. */
const withClient = <A, E extends { readonly _tag: string }>(
  flags: ClientFlags,
  body: (client: RuntimeClient.RuntimeClientApi) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const token = yield* Token.load(flags.tokenFile)
    return yield* Effect.flatMap(RuntimeClient.RuntimeClient, body).pipe(
      Effect.provide(HttpRuntimeClient.layer({ url: flags.url, token: Option.getOrUndefined(token) }))
    )
  }).pipe(Effect.catch(report(flags.url)))

const workerIdArg = Argument.String("worker-id").pipe(Argument.withDescription("The Worker's id"))

const status = Command.make("status", clientFlags, (flags) =>
  withClient(flags, (client) =>
    Effect.gen(function*() {
      const summary = yield* client.GetRuntime()
      yield* Console.log(`${summary.displayName} (${summary.runtimeId}) — ${summary.status}`)
      yield* Console.log(`engine: ${summary.engine}`)
      for (const p of summary.providers) {
        yield* Console.log(`provider ${p.name} (${p.kind}): model ${p.model}${p.isDefault ? " [default]" : ""}`)
      }
      const c = summary.counts
      yield* Console.log(
        `workers: ${c.total} (idle ${c.idle}, running ${c.running}, stopped ${c.stopped}, failed ${c.failed})`
      )
      for (const d of summary.diagnostics) yield* Console.log(`diagnostic ${d.level} ${d.code}: ${d.message}`)
    }))).pipe(Command.withDescription("Show the runtime's summary"))

const list = Command.make("list", {
  ...clientFlags,
  status: Flag.Literals("status", ["idle", "running", "stopped", "failed"]).pipe(
    Flag.withDescription("Only Workers in this status (default all)"),
    Flag.optional
  ),
  limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (default 50)"), Flag.withDefault(50))
}, (flags) =>
  withClient(flags, (client) =>
    Effect.gen(function*() {
      const page = yield* client.ListWorkers({
        limit: flags.limit,
        ...(Option.isSome(flags.status) ? { status: flags.status.value } : {})
      })
      for (const w of page.workers) {
        yield* Console.log(`${w.ref.workerId}  ${w.status.padEnd(8)} ${w.displayName} (${w.profileName})`)
      }
      if (page.nextCursor !== undefined) yield* Console.error(`… more after ${page.nextCursor}`)
    }))).pipe(Command.withDescription("List Workers"))

const create = Command.make("create", {
  ...clientFlags,
  name: Flag.String("name").pipe(Flag.withDescription("Display name (default generated)"), Flag.optional),
  profile: Flag.String("profile").pipe(
    Flag.withDescription("A builtin profile, or named:<name> for a named one (default the runtime's default)"),
    Flag.optional
  )
}, (flags) =>
  withClient(flags, (client) =>
    Effect.gen(function*() {
      const created = yield* client.CreateWorker({
        ...(Option.isSome(flags.name) ? { displayName: flags.name.value } : {}),
        ...(Option.isSome(flags.profile)
          ? {
            profile: flags.profile.value.startsWith("named:")
              ? { kind: "named", name: flags.profile.value.slice("named:".length) }
              : { kind: "builtin", name: flags.profile.value }
          }
          : {})
      })
      yield* Console.log(created.worker.ref.workerId)
    }))).pipe(Command.withDescription("Create a Worker; prints its id"))

const show = Command.make(
  "show",
  { ...clientFlags, workerId: workerIdArg },
  (flags) =>
    withClient(flags, (client) =>
      Effect.gen(function*() {
        const w = yield* client.GetWorker({ workerId: flags.workerId })
        yield* Console.log(`${w.displayRef}  ${w.ref.workerId}`)
        yield* Console.log(
          `status ${w.status}, profile ${w.profileName}, queue ${w.queueLength}, last seq ${w.lastSeq}`
        )
        yield* Console.log(`provider ${w.provider}, model ${w.model}`)
        if (w.currentRun !== undefined) yield* Console.log(`running ${w.currentRun.runId}`)
        yield* Console.log(
          `usage: ${w.usage.runs} runs, ${w.usage.inputTokens} in / ${w.usage.outputTokens} out, ` +
            `${w.usage.failures} failed`
        )
        if (w.lastError !== undefined) yield* Console.log(`last error: ${w.lastError.code}: ${w.lastError.message}`)
      }))
).pipe(Command.withDescription("Show one Worker"))

const workers = Command.make("workers").pipe(
  Command.withSubcommands([list, create, show]),
  Command.withDescription("Manage Workers")
)

type RunEnd = RuntimeEvent.WorkerWatchItem & { readonly _tag: "run_finished" | "run_cancelled" | "run_failed" }

const isRunEnd = (runId: string) => (item: RuntimeEvent.WorkerWatchItem): item is RunEnd =>
  (item._tag === "run_finished" || item._tag === "run_cancelled" || item._tag === "run_failed") &&
  item.runId === runId

const write = (text: string) => Effect.sync(() => process.stdout.write(text))

/** How to pick a run up again from another terminal. */
const followHint = (workerId: string, after: number) =>
  `follow it with \`yoi-runtime watch ${workerId} --after ${after}\` ` +
  `or cancel it with \`yoi-runtime cancel ${workerId}\``

const send = Command.make("send", {
  ...clientFlags,
  workerId: workerIdArg,
  text: Argument.String("text").pipe(Argument.variadic(), Argument.withDescription("The message")),
  whenBusy: Flag.Literals("when-busy", ["reject", "enqueue", "interrupt"]).pipe(
    Flag.withDescription(
      "If a run is in flight: fail (WorkerBusy), queue the message, or cancel the run (default reject)"
    ),
    Flag.withDefault("reject")
  )
}, (flags) =>
  withClient(flags, (client) =>
    Effect.gen(function*() {
      const before = yield* client.GetWorker({ workerId: flags.workerId })
      const accepted = yield* client.SendInput({
        workerId: flags.workerId,
        input: { kind: "user", text: flags.text.join(" ") },
        whenBusy: flags.whenBusy
      })
      if (accepted.status === "queued") yield* Console.error(`(queued as ${accepted.inputId})`)
      let seen = before.lastSeq
      const end = yield* client.WatchWorker({ workerId: flags.workerId, after: before.lastSeq }).pipe(
        Stream.tap((item) => {
          if (item._tag !== "snapshot") seen = item.seq
          return item._tag === "text_delta" && item.runId === accepted.runId ? write(item.delta) : Effect.void
        }),
        Stream.filter(isRunEnd(accepted.runId)),
        Stream.runHead,
        Effect.onInterrupt(() =>
          Console.error(
            `\n(interrupted: run ${accepted.runId} goes on in the runtime; ${followHint(flags.workerId, seen)})`
          )
        )
      )
      yield* write("\n")
      if (Option.isNone(end)) {
        return yield* CliExit.fail(
          `the runtime closed the event stream before run ${accepted.runId} ended; ${followHint(flags.workerId, seen)}`,
          CliExit.ExitCode.unreachable
        )
      }
      const ending = end.value
      if (ending._tag === "run_failed") {
        return yield* CliExit.fail(
          `run ${ending.runId} failed: ${ending.code}: ${ending.message}`,
          CliExit.ExitCode.runFailed
        )
      }
      if (ending._tag === "run_cancelled") {
        return yield* CliExit.fail(
          `run ${ending.runId} was cancelled (${ending.reason})`,
          CliExit.ExitCode.runCancelled
        )
      }
    })).pipe(
      // Ctrl-C is an interruption, not a failure: the exit code goes through the teardown
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          process.exitCode = CliExit.ExitCode.interrupted
        })
      )
    )).pipe(
    Command.withDescription("Send a message and print the reply as it streams; the exit code says how the run ended")
  )

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

/** The connection to the runtime failed or ended (a transport failure, or the runtime closed the stream). */
class Dropped extends Data.TaggedError("Dropped")<{ readonly description: string }> {}

/**
 * Capped exponential backoff with jitter between attempts of one outage: ~0.25 s, 0.5 s, 1 s … at most ~10 s.
 * Each attempt is logged at debug level with its reason.
 */
const reconnectSchedule = Schedule.min([Schedule.exponential("250 millis"), Schedule.spaced("10 seconds")]).pipe(
  Schedule.jittered,
  Schedule.setInputType<unknown>(),
  Schedule.tap(({ attempt, duration, input }) =>
    Effect.logDebug(
      `watch: ${input instanceof Dropped ? input.description : "failed"}; ` +
        `reconnecting in ${Math.round(Duration.toMillis(duration))} ms (attempt ${attempt})`
    )
  )
)

const watch = Command.make("watch", {
  ...clientFlags,
  workerId: workerIdArg,
  after: Flag.Int("after").pipe(
    Flag.withDescription("Start after this seq (default 0: from the beginning)"),
    Flag.withDefault(0)
  )
}, (flags) =>
  withClient(flags, (client) =>
    Effect.gen(function*() {
      let last = flags.after
      let down = false
      let received = false
      const subscription = Effect.suspend(() => {
        received = false
        return client.WatchWorker({ workerId: flags.workerId, after: last }).pipe(
          Stream.runForEach((item) =>
            Effect.gen(function*() {
              received = true
              if (down) {
                down = false
                yield* Console.error(`(reconnected; resuming after #${last})`)
              }
              yield* Console.log(describeItem(item))
              if (item._tag !== "snapshot") last = item.seq
            })
          )
        )
      }).pipe(
        Effect.catchTag(
          "RpcClientError",
          (error) => Effect.fail(new Dropped({ description: HttpRuntimeClient.describe(flags.url, error) }))
        ),
        Effect.andThen(Effect.fail(new Dropped({ description: "the runtime closed the event stream" }))),
        Effect.catchTag("SubscriberLagged", () => Console.error(`(fell behind; resuming after #${last})`)),
        Effect.catchTag("Dropped", (dropped) => {
          // a connection that delivered something was no outage yet: reconnect at once, then back off
          if (received) return Effect.logDebug(`watch: ${dropped.description}; reconnecting`)
          if (down) return Effect.fail(dropped)
          down = true
          return Console.error(`(${dropped.description}; reconnecting, then resuming after #${last})`).pipe(
            Effect.andThen(Effect.fail(dropped))
          )
        })
      )
      return yield* subscription.pipe(
        Effect.retry({ while: (error) => error._tag === "Dropped", schedule: reconnectSchedule }),
        Effect.forever
      )
    }))).pipe(
    Command.withDescription(
      "Follow a Worker's events; on a lost connection, reconnects with backoff and resumes after the last seq seen"
    )
  )

const transcript = Command.make("transcript", {
  ...clientFlags,
  workerId: workerIdArg,
  limit: Flag.Int("limit").pipe(
    Flag.withDescription("Entries per page (default 50, at most 200)"),
    Flag.withDefault(50)
  ),
  before: Flag.Int("before").pipe(Flag.withDescription("Only entries before this seq"), Flag.optional),
  after: Flag.Int("after").pipe(Flag.withDescription("Only entries after this seq"), Flag.optional)
}, (flags) =>
  withClient(flags, (client) =>
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
      yield* Console.error(`(${page.entries.length} of ${page.total}${page.hasMore ? ", more available" : ""})`)
    }))).pipe(Command.withDescription("Print a page of a Worker's transcript"))

const cancel = Command.make(
  "cancel",
  { ...clientFlags, workerId: workerIdArg },
  (flags) =>
    withClient(flags, (client) =>
      Effect.flatMap(
        client.CancelRun({ workerId: flags.workerId }),
        (result) => Console.log(result.outcome === "cancelled" ? `cancelled ${result.runId}` : "not running")
      ))
).pipe(Command.withDescription("Cancel the Worker's current run"))

const stop = Command.make("stop", { ...clientFlags, workerId: workerIdArg }, (flags) =>
  withClient(
    flags,
    (client) => Effect.flatMap(client.StopWorker({ workerId: flags.workerId }), (result) => Console.log(result.outcome))
  )).pipe(Command.withDescription("Stop a Worker (terminal; its data stays readable)"))

/** The client commands, in the order help lists them. @category constructors */
export const commands = [status, workers, send, watch, transcript, cancel, stop] as const
