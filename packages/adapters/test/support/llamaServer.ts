/**
 * Test support: a real llama.cpp `llama-server` on 127.0.0.1 with the tiny model of `scripts/make-tiny-gguf.mjs` (any
 * prompt streams "Hello from a real llama.cpp server."; a last user message `/loop` streams " tick tock ..." until
 * `max_tokens`, past the context thanks to `--context-shift`), for the engine tests and the server's end-to-end tests.
 * `start` installs it when needed (`scripts/llama-server-setup`), writes the model once (content-addressed in
 * `.tools/llama/models/`), waits until `/health` answers 200, keeps every line it prints and kills it with its scope.
 * Its own waits use the live clock, so it also works under `TestClock`. Lines relied on, as llama.cpp 0.7.0 (Debian sid
 * 1:0.7.0+dfsg-2, build 11669) prints them after a timestamp and a level letter:
 *   `srv  llama_server: listening on http://127.0.0.1:36639`             the port (started with --port 0)
 *   `srv          stop: cancel task, id_task = 9`                       a client went away mid-stream
 *   `slot      release: id  0 | task 9 | stop processing: n_tokens = 61, truncated = 0`   its slot is free again
 *
 * Deliberately not here: an engine or an HTTP client for the tests (they talk to `baseUrl` themselves), other models,
 * GPU or performance settings, and a pinned llama.cpp (sid moves: match its lines loosely).
 */
import {
  Clock,
  Data,
  Deferred,
  type Duration,
  Effect,
  Exit,
  Fiber,
  FileSystem,
  type PlatformError,
  Ref,
  Schedule,
  Scope,
  Semaphore,
  Stream
} from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { createHash, randomUUID } from "node:crypto"
import * as NodePath from "node:path"

const repoRoot = NodePath.resolve(import.meta.dirname, "../../../..")
const setupScript = NodePath.join(repoRoot, "scripts", "llama-server-setup")
const modelScript = NodePath.join(repoRoot, "scripts", "make-tiny-gguf.mjs")
const modelDir = NodePath.join(repoRoot, ".tools", "llama", "models")

/**
 * The test server could not be installed, started or made healthy, or did not print what a test waited for.
 *
 * @category errors
 */
export class LlamaServerError extends Data.TaggedError("LlamaServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A running (or deliberately killed) llama-server.
 *
 * @category models
 */
export interface LlamaServer {
  /** `http://127.0.0.1:PORT`: `/health`, `/slots`, `/completion`. */
  readonly origin: string
  /** `origin + "/v1"`: the OpenAI-compatible API (`/chat/completions`, `/models`). */
  readonly baseUrl: string
  readonly port: number
  /** Every line the server printed on stdout and stderr so far, across restarts. */
  readonly logs: Effect.Effect<ReadonlyArray<string>>
  /**
   * The first line matching `pattern`, printed already (since the first start) or later; fails after `timeout`
   * (default 10 seconds) with the last lines in the message.
   */
  readonly waitForLog: (
    pattern: RegExp,
    options?: { readonly timeout?: Duration.Input }
  ) => Effect.Effect<string, LlamaServerError>
  /** SIGKILL now and wait for the process to exit; a no-op when it is not running. */
  readonly kill: Effect.Effect<void>
  /** Kills the server if it runs, starts it again on the same port and waits until it is healthy. */
  readonly restart: Effect.Effect<void, LlamaServerError>
}

/**
 * How `start` runs the server.
 *
 * @category models
 */
export interface StartOptions {
  /** Defaults to 0: a free port, chosen by the server itself (read from its log), kept across restarts. */
  readonly port?: number
  /** `--parallel`, the number of slots (concurrent requests); defaults to 1, so a stuck request blocks the next. */
  readonly parallel?: number
}

const live = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Clock.Clock, Clock.Clock.defaultValue())

const text = (stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>) =>
  Stream.mkString(Stream.decodeText(stream))

const linesOf = (stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>) =>
  stream.pipe(Stream.decodeText(), Stream.splitLines)

/** `RegExp.test` from the start of `line`, also for a global or sticky `pattern`. */
const matches = (pattern: RegExp, line: string) => {
  pattern.lastIndex = 0
  return pattern.test(line)
}

/** Runs a command to completion and returns its stdout; fails with its last line on stderr. */
const run = (label: string, command: ChildProcess.Command) =>
  Effect.scoped(Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const handle = yield* spawner.spawn(command)
    const [stdout, stderr, code] = yield* Effect.all([
      text(handle.stdout),
      text(handle.stderr),
      handle.exitCode.pipe(Effect.map(Number), Effect.orElseSucceed(() => undefined))
    ], { concurrency: "unbounded" })
    if (code === 0) return stdout
    const reason = stderr.trim().split("\n").at(-1)?.trim()
    return yield* new LlamaServerError({ message: `${label} failed (exit ${code ?? "by signal"}): ${reason}` })
  }))

const lastLine = (output: string) => output.trim().split("\n").at(-1) ?? ""

/** The wrapper `scripts/llama-server-setup` installs (quick and quiet once installed; serialized by its lock). */
const install = run("scripts/llama-server-setup", ChildProcess.make(setupScript, [], { stdin: "ignore" })).pipe(
  Effect.map(lastLine),
  Effect.catchTag(
    "PlatformError",
    (cause) => Effect.fail(new LlamaServerError({ message: "cannot run scripts/llama-server-setup", cause }))
  )
)

/** The tiny model, written once per version of its generator (atomically: concurrent test files race for it). */
const model = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const source = yield* fs.readFileString(modelScript)
  const file = NodePath.join(modelDir, `tiny-${createHash("sha256").update(source).digest("hex").slice(0, 16)}.gguf`)
  if (yield* fs.exists(file)) return file
  yield* fs.makeDirectory(modelDir, { recursive: true })
  const partial = `${file}.${randomUUID()}.tmp`
  yield* run(
    "scripts/make-tiny-gguf.mjs",
    ChildProcess.make(process.execPath, [modelScript, partial], { stdin: "ignore" })
  )
  yield* fs.rename(partial, file)
  return file
}).pipe(
  Effect.catchTag(
    "PlatformError",
    (cause) => Effect.fail(new LlamaServerError({ message: "cannot write the tiny model", cause }))
  )
)

const listening = /listening on https?:\/\/[^\s/]+:(\d+)/

/**
 * Starts a llama-server (installing it first when needed) and waits until it is healthy; the scope stops it (SIGTERM,
 * SIGKILL after 2 seconds).
 *
 * @category constructors
 */
export const start = (
  options: StartOptions = {}
): Effect.Effect<
  LlamaServer,
  LlamaServerError,
  Scope.Scope | ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem
> =>
  live(Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const outer = yield* Scope.Scope
    const [wrapper, modelFile] = yield* Effect.all([install, model], { concurrency: "unbounded" })

    // The log of every incarnation. A waiter checks the lines seen and registers in one synchronous step.
    const lines: Array<string> = []
    const waiters = new Set<{ readonly pattern: RegExp; readonly done: Deferred.Deferred<string> }>()
    const record = (line: string) =>
      Effect.sync(() => {
        lines.push(line)
        for (const waiter of waiters) {
          if (matches(waiter.pattern, line)) {
            waiters.delete(waiter)
            Deferred.doneUnsafe(waiter.done, Exit.succeed(line))
          }
        }
      })
    const awaitLine = (pattern: RegExp, from: number) =>
      Effect.suspend(() => {
        const seen = lines.slice(from).find((line) => matches(pattern, line))
        if (seen !== undefined) return Effect.succeed(seen)
        const waiter = { pattern, done: Deferred.makeUnsafe<string>() }
        waiters.add(waiter)
        return Deferred.await(waiter.done).pipe(Effect.ensuring(Effect.sync(() => waiters.delete(waiter))))
      })
    const tail = () => lines.slice(-20).join("\n")

    interface Running {
      readonly scope: Scope.Closeable
      readonly handle: ChildProcessSpawner.ChildProcessHandle
      /** Records its lines until both pipes close. */
      readonly reader: Fiber.Fiber<void>
    }
    const current = yield* Ref.make<Running | undefined>(undefined)
    const lock = yield* Semaphore.make(1)

    /** One process on `port` (0: any), running once it says where it listens; returns that port. */
    const spawn = (port: number) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(outer)
        const from = lines.length
        // --context-shift: /loop runs past the 4096-token context, so only max_tokens or the client ends it
        const args = ["-m", modelFile, "--host", "127.0.0.1", "--port", String(port), "-c", "4096", "-t", "2"]
        const command = ChildProcess.make(
          wrapper,
          [...args, "--parallel", String(options.parallel ?? 1), "--context-shift"],
          { stdin: "ignore", killSignal: "SIGTERM", forceKillAfter: "2 seconds" }
        )
        return yield* Effect.gen(function*() {
          const handle = yield* spawner.spawn(command).pipe(
            Scope.provide(scope),
            Effect.mapError((cause) => new LlamaServerError({ message: `cannot start ${wrapper}`, cause }))
          )
          const reader = yield* Stream.merge(linesOf(handle.stdout), linesOf(handle.stderr)).pipe(
            Stream.runForEach(record),
            Effect.ignore,
            Effect.forkIn(scope)
          )
          const exited = handle.exitCode.pipe(
            Effect.exit,
            Effect.andThen(Fiber.await(reader)),
            Effect.andThen(() => Effect.fail(new LlamaServerError({ message: `llama-server exited:\n${tail()}` })))
          )
          const line = yield* awaitLine(listening, from).pipe(
            Effect.raceFirst(exited),
            Effect.timeoutOrElse({
              duration: "30 seconds",
              orElse: () => Effect.fail(new LlamaServerError({ message: `llama-server did not listen:\n${tail()}` }))
            })
          )
          yield* Ref.set(current, { scope, handle, reader })
          return Number(listening.exec(line)?.[1])
        }).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
      })

    const healthy = (origin: string) =>
      Effect.tryPromise({
        try: (signal) => fetch(`${origin}/health`, { signal }),
        catch: (cause) => new LlamaServerError({ message: `GET ${origin}/health failed`, cause })
      }).pipe(
        Effect.flatMap((response) =>
          Effect.tryPromise({
            try: () => response.arrayBuffer(),
            catch: (cause) => new LlamaServerError({ message: `GET ${origin}/health broke off`, cause })
          }).pipe(Effect.andThen(() =>
            response.status === 200 ?
              Effect.void :
              Effect.fail(new LlamaServerError({ message: `GET ${origin}/health answered ${response.status}` }))
          ))
        ),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeoutOrElse({
          duration: "10 seconds",
          orElse: () =>
            Effect.fail(new LlamaServerError({ message: `${origin}/health never answered 200:\n${tail()}` }))
        })
      )

    const stop = Effect.gen(function*() {
      const running = yield* Ref.getAndSet(current, undefined)
      if (running === undefined) return
      yield* Effect.ignore(running.handle.kill({ killSignal: "SIGKILL" }))
      // the last lines it printed are still in the pipes
      yield* Fiber.await(running.reader).pipe(Effect.timeout("1 second"), Effect.ignore)
      yield* Scope.close(running.scope, Exit.void)
    })

    const port = yield* spawn(options.port ?? 0)
    const origin = `http://127.0.0.1:${port}`
    yield* healthy(origin)

    return {
      origin,
      baseUrl: `${origin}/v1`,
      port,
      logs: Effect.sync(() => [...lines]),
      waitForLog: (pattern, waitOptions) =>
        live(
          awaitLine(pattern, 0).pipe(
            Effect.timeoutOrElse({
              duration: waitOptions?.timeout ?? "10 seconds",
              orElse: () => Effect.fail(new LlamaServerError({ message: `no log line matched ${pattern}:\n${tail()}` }))
            })
          )
        ),
      kill: live(lock.withPermits(1)(stop)),
      restart: live(lock.withPermits(1)(stop.pipe(Effect.andThen(spawn(port)), Effect.andThen(healthy(origin)))))
    } satisfies LlamaServer
  }))
