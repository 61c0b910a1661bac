/**
 * Test support: the fixture pod (`test/fixtures/legacyPod.ts`) as a real child process, and a plain client for its
 * Unix socket (node:net), for tests that check the fixture itself or drive it beside an adapter. `spawn` runs it with
 * `effect/process` under a short private temp dir (`/tmp/yfp-…`: socket paths over ~107 bytes fail) with an explicit
 * environment, keeps every stderr line, and kills its group with the scope (SIGTERM, SIGKILL after 1 s). `connect`
 * retries ENOENT/ECONNREFUSED every 50 ms, splits lines on bytes (so a character cut across reads survives) and keeps
 * every line and read. Every wait is bounded and uses the live clock, so it also works under `TestClock`.
 *
 * Deliberately not here: the protocol's rules (the adapter's job; these helpers parse nothing beyond JSON lines) and
 * assertions (the tests').
 */
import { Clock, Data, Deferred, type Duration, Effect, Fiber, FileSystem, Schedule, type Scope, Stream } from "effect"
import { ChildProcess, type ChildProcessSpawner } from "effect/process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as NodePath from "node:path"

/** The fixture program, run as `node <program> …`. */
export const program = NodePath.join(import.meta.dirname, "..", "fixtures", "legacyPod.ts")

/** Running, or stopped: a zombie (state `Z`, not yet reaped by its new parent) counts as gone. */
export const alive = (pid: number): boolean => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
}

/** @category errors */
export class FixturePodError extends Data.TaggedError("FixturePodError")<{
  readonly reason: "exited_early" | "malformed_ready" | "timeout" | "closed" | "connect"
  readonly message: string
}> {}

const live = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Clock.Clock, Clock.Clock.defaultValue())

const bounded = <A, E, R>(effect: Effect.Effect<A, E, R>, timeout: Duration.Input, what: () => string) =>
  live(Effect.timeoutOrElse(effect, {
    duration: timeout,
    orElse: () => Effect.fail(new FixturePodError({ reason: "timeout", message: what() }))
  }))

/** Waits until `poll` returns a value, re-polling whenever `listeners` are told something changed. */
const waitFor = <A>(listeners: Set<() => void>, poll: () => A | undefined) =>
  Effect.callback<A>((resume) => {
    const check = () => {
      const value = poll()
      if (value === undefined) return
      listeners.delete(check)
      resume(Effect.succeed(value))
    }
    listeners.add(check)
    check()
    return Effect.sync(() => listeners.delete(check))
  })
const tell = (listeners: Set<() => void>) => {
  for (const listener of Array.from(listeners)) listener()
}

/** @category models */
export interface SpawnOptions {
  readonly dialect?: "pod" | "worker"
  readonly name?: string
  /** Behaviour tokens (`name` or `name=value`). */
  readonly behaviour?: ReadonlyArray<string>
  /** The default script of every run (`legacyPodTurns.ts`). */
  readonly script?: Record<string, unknown>
  readonly session?: string
  readonly extraArgs?: ReadonlyArray<string>
  /**
   * The directory holding the workspace, runtime and data dirs and the journal (default: a fresh temp dir). Pods
   * spawned into one directory share the journal: its records carry their `pid`.
   */
  readonly directory?: string
}

/** How the process ended. @category models */
export type Ended = { readonly _tag: "code"; readonly code: number } | {
  readonly _tag: "signal"
  readonly signal: string
}

/** @category models */
export interface FixturePod {
  readonly name: string
  readonly dialect: "pod" | "worker"
  readonly workspace: string
  /** `YOI_RUNTIME_DIR`; the pod's own directory is `podDir`. */
  readonly runtimeDir: string
  readonly podDir: string
  readonly dataDir: string
  readonly socketPath: string
  /** The directory `spawn` put everything in (pass it as `directory` to start another pod on the same disk). */
  readonly directory: string
  readonly pid: number
  readonly handle: ChildProcessSpawner.ChildProcessHandle
  readonly stderr: Effect.Effect<ReadonlyArray<string>>
  /** The first stderr line (so far or later) matching `pattern`. */
  readonly waitForStderr: (pattern: RegExp, timeout?: Duration.Input) => Effect.Effect<string, FixturePodError>
  /** The READY line, checked: three tab-separated fields, our name, an absolute path; fails if the pod exits first. */
  readonly ready: (timeout?: Duration.Input) => Effect.Effect<{ readonly socket: string }, FixturePodError>
  readonly ended: (timeout?: Duration.Input) => Effect.Effect<Ended, FixturePodError>
  /** The journal's records so far (`launch`, `method`, `connect`, …). */
  readonly journal: Effect.Effect<ReadonlyArray<Record<string, unknown>>>
  /** The methods received so far, in order. */
  readonly methods: Effect.Effect<ReadonlyArray<string>>
}

const signalOf = /signal: '(\w+)'/

/**
 * Starts the fixture; the scope kills its group.
 *
 * @category constructors
 */
export const spawn = (
  options: SpawnOptions = {}
): Effect.Effect<
  FixturePod,
  never,
  Scope.Scope | ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const base = options.directory ??
      (yield* Effect.orDie(fs.makeTempDirectoryScoped({ directory: "/tmp", prefix: "yfp-" })))
    const workspace = NodePath.join(base, "ws")
    yield* Effect.orDie(fs.makeDirectory(workspace, { recursive: true }))
    const name = options.name ?? "w_fixture"
    const dialect = options.dialect ?? "pod"
    const runtimeDir = NodePath.join(base, "run")
    const journalPath = NodePath.join(base, "journal.jsonl")
    const args = [program, "--workspace", workspace]
      .concat(options.session === undefined ? [] : ["--session", options.session])
      .concat([`--${dialect}`, name], options.extraArgs ?? [])
    const handle = yield* Effect.orDie(ChildProcess.make(process.execPath, args, {
      cwd: workspace,
      extendEnv: false,
      env: {
        PATH: process.env["PATH"],
        HOME: base,
        YOI_RUNTIME_DIR: runtimeDir,
        YOI_DATA_DIR: NodePath.join(base, "data"),
        YOI_FIXTURE_POD_JOURNAL: journalPath,
        YOI_FIXTURE_POD_BEHAVIOUR: ["lifetime=60000", ...(options.behaviour ?? [])].join(","),
        ...(options.script === undefined ? {} : { YOI_FIXTURE_POD_SCRIPT: JSON.stringify(options.script) })
      },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      forceKillAfter: "1 second"
    }))

    const lines: Array<string> = []
    const listeners = new Set<() => void>()
    const stderrDone = yield* Deferred.make<void>()
    yield* handle.stderr.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) =>
        Effect.sync(() => {
          lines.push(line)
          tell(listeners)
        })
      ),
      Effect.ignore,
      Effect.ensuring(Deferred.succeed(stderrDone, undefined)),
      Effect.forkScoped
    )
    const exit = yield* handle.exitCode.pipe(
      Effect.map((code): Ended => ({ _tag: "code", code: Number(code) })),
      Effect.catch((error) =>
        Effect.succeed<Ended>({
          _tag: "signal",
          signal: signalOf.exec(`${error.message} ${String(error.cause)}`)?.[1] ?? "?"
        })
      ),
      Effect.forkScoped
    )
    const tail = () => lines.slice(-10).join("\n")
    const waitForStderr = (pattern: RegExp, timeout: Duration.Input = "10 seconds") =>
      bounded(
        waitFor(listeners, () => lines.find((line) => pattern.test(line))),
        timeout,
        () => `no stderr line matched ${pattern}:\n${tail()}`
      )
    const ended = (timeout: Duration.Input = "10 seconds") =>
      bounded(
        Fiber.join(exit),
        timeout,
        () => `the fixture did not exit:\n${tail()}`
      )

    const ready = (timeout: Duration.Input = "10 seconds") =>
      Effect.gen(function*() {
        const early = ended("1 hour").pipe(
          Effect.andThen((how) => Deferred.await(stderrDone).pipe(Effect.as(how))),
          Effect.flatMap((how) =>
            Effect.fail(new FixturePodError({ reason: "exited_early", message: `${JSON.stringify(how)}\n${tail()}` }))
          )
        )
        const line = yield* Effect.raceFirst(waitForStderr(/^YOI-READY/, timeout), early)
        const fields = line.split("\t")
        if (fields.length !== 3 || fields[1] !== name || !NodePath.isAbsolute(fields[2] ?? "")) {
          return yield* new FixturePodError({ reason: "malformed_ready", message: JSON.stringify(line) })
        }
        return { socket: fields[2]! }
      })

    const journal = fs.readFileString(journalPath).pipe(
      Effect.map((text) =>
        text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)
      ),
      Effect.orElseSucceed(() => [])
    )
    return {
      name,
      dialect,
      workspace,
      runtimeDir,
      podDir: NodePath.join(runtimeDir, name),
      dataDir: NodePath.join(base, "data"),
      socketPath: NodePath.join(runtimeDir, name, "sock"),
      directory: base,
      pid: Number(handle.pid),
      handle,
      stderr: Effect.sync(() => [...lines]),
      waitForStderr,
      ready,
      ended,
      journal,
      methods: Effect.map(
        journal,
        (records) => records.flatMap((r) => r["at"] === "method" ? [String(r["method"])] : [])
      )
    } satisfies FixturePod
  })

/** One line the pod wrote: its text (without `\n`), its size in bytes, and its `event` / `data` when it is JSON. */
export interface Line {
  readonly raw: string
  readonly bytes: number
  readonly event?: string
  readonly data: Readonly<Record<string, unknown>>
}

/** @category models */
export interface Connection {
  readonly send: (message: string | object) => Effect.Effect<void, FixturePodError>
  /** The next non-blank line after the ones already taken. */
  readonly next: (timeout?: Duration.Input) => Effect.Effect<Line, FixturePodError>
  /** The next non-blank lines up to and including the first that matches. */
  readonly until: (
    done: (line: Line) => boolean,
    timeout?: Duration.Input
  ) => Effect.Effect<ReadonlyArray<Line>, FixturePodError>
  /** Every line so far, blank ones included. */
  readonly lines: Effect.Effect<ReadonlyArray<Line>>
  /** How many reads the socket delivered. */
  readonly reads: Effect.Effect<number>
  /** Waits until the pod has closed this connection. */
  readonly closed: (timeout?: Duration.Input) => Effect.Effect<void, FixturePodError>
}

const parseLine = (raw: string, bytes: number): Line => {
  try {
    const value: unknown = JSON.parse(raw)
    if (typeof value === "object" && value !== null && "event" in value && typeof value.event === "string") {
      const data = "data" in value && typeof value.data === "object" && value.data !== null ? value.data : {}
      return { raw, bytes, event: value.event, data: data as Record<string, unknown> }
    }
  } catch {
    // not JSON: kept as raw text
  }
  return { raw, bytes, data: {} }
}

const open = (path: string) =>
  Effect.callback<Net.Socket, { readonly code: string }>((resume) => {
    const socket = Net.createConnection(path)
    const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail({ code: error.code ?? "?" }))
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  })

/**
 * Connects to a pod's socket (retrying while it is not there yet); the scope closes the connection.
 *
 * @category constructors
 */
export const connect = (path: string, timeout: Duration.Input = "5 seconds") =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      bounded(
        open(path).pipe(Effect.retry({
          while: (e) => e.code === "ENOENT" || e.code === "ECONNREFUSED",
          schedule: Schedule.spaced("50 millis")
        })),
        timeout,
        () => `no connection to the pod's socket`
      ).pipe(
        Effect.mapError((e) =>
          e instanceof FixturePodError ? e : new FixturePodError({ reason: "connect", message: e.code })
        )
      ),
      (s) => Effect.sync(() => s.destroy())
    )
    const received: Array<Line> = []
    const listeners = new Set<() => void>()
    let reads = 0
    let isClosed = false
    let buffered = Buffer.alloc(0)
    socket.on("data", (chunk: Buffer) => {
      reads++
      buffered = Buffer.concat([buffered, chunk])
      for (let nl = buffered.indexOf(10); nl !== -1; nl = buffered.indexOf(10)) {
        received.push(parseLine(buffered.subarray(0, nl).toString("utf8"), nl))
        buffered = buffered.subarray(nl + 1)
      }
      tell(listeners)
    })
    socket.on("error", () => undefined)
    socket.on("close", () => {
      isClosed = true
      tell(listeners)
    })
    let cursor = 0
    const take = (): Line | "closed" | undefined => {
      while (cursor < received.length) {
        const line = received[cursor++]!
        if (line.raw.trim() !== "") return line
      }
      return isClosed ? "closed" : undefined
    }
    const next = (wait: Duration.Input = "5 seconds") =>
      bounded(waitFor(listeners, take), wait, () => `no line from the pod; last: ${received.at(-1)?.raw.slice(0, 200)}`)
        .pipe(
          Effect.flatMap((line) =>
            line === "closed"
              ? Effect.fail(new FixturePodError({ reason: "closed", message: "the pod closed the connection" }))
              : Effect.succeed(line)
          )
        )
    return {
      send: (message) =>
        Effect.callback<void, FixturePodError>((resume) => {
          const text = typeof message === "string" ? message : `${JSON.stringify(message)}\n`
          socket.write(text, (error) =>
            resume(
              error == null
                ? Effect.void
                : Effect.fail(new FixturePodError({ reason: "closed", message: String(error) }))
            ))
        }),
      next,
      until: (done, wait = "10 seconds") =>
        Effect.gen(function*() {
          const taken: Array<Line> = []
          while (true) {
            const line = yield* next(wait)
            taken.push(line)
            if (done(line)) return taken
          }
        }),
      lines: Effect.sync(() => [...received]),
      reads: Effect.sync(() => reads),
      closed: (wait = "5 seconds") =>
        bounded(waitFor(listeners, () => isClosed || undefined), wait, () => "the pod kept the connection open")
    } satisfies Connection
  })

/** A `run` of one text segment, as the adapter sends it. */
export const run = (text: string) => ({ method: "run", params: { input: [{ kind: "text", content: text }] } })
