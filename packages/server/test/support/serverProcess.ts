/**
 * Test support: `yoi-runtime` (or any other entry point) as a real child process, and the setup the process tests
 * share: the `serve` arguments, scoped temp directories and a port nothing listens on. A process is waited on by
 * what it prints (no polling, no sleeps); the scope SIGKILLs it if the test did not stop it. Everything it prints is
 * kept so tests can scan it.
 */
import { Deferred, Effect, FileSystem, type Scope } from "effect"
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url))

export interface Child {
  readonly pid: number
  /** stdout + stderr so far, interleaved as they arrived. */
  readonly output: () => string
  readonly stdout: () => string
  readonly stderr: () => string
  /** Completes once stdout + stderr match `pattern`; fails if the process exits first. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpExecArray, Error>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Completes with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** A `serve` process that has said where it listens. */
export interface ServerProcess extends Child {
  readonly url: string
}

/** What a command that ran to completion printed, and its exit code. */
export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** stdout + stderr, interleaved as they arrived. */
  readonly output: string
}

/** The directories one `serve` needs. */
export interface ServerDirs {
  readonly dataDir: string
  readonly allocationDir: string
}

export interface ServeOptions extends ServerDirs {
  readonly runtimeId: string
  /** Defaults to 0: any free port. */
  readonly port?: string | number | undefined
  /** `--grace` in seconds; the server's default when absent. */
  readonly grace?: number | undefined
}

/** The arguments of `serve` (after the `serve` word) for `options`. */
export const serveArgs = (options: ServeOptions): ReadonlyArray<string> => [
  "--port",
  String(options.port ?? 0),
  "--data-dir",
  options.dataDir,
  "--allocation-dir",
  options.allocationDir,
  "--runtime-id",
  options.runtimeId,
  ...(options.grace === undefined ? [] : ["--grace", String(options.grace)])
]

/** A fresh temp directory, removed with the scope. */
export const tempDir = Effect.flatMap(
  FileSystem.FileSystem,
  (fs) => fs.makeTempDirectoryScoped({ prefix: "yoi-server-test-" })
)

/** A fresh data directory and allocation directory, removed with the scope. */
export const serverDirs = Effect.all({ dataDir: tempDir, allocationDir: tempDir })

/** A loopback port nothing listens on (a listener on it was just closed). */
export const closedPort = Effect.callback<number>((resume) => {
  const listener = createServer()
  listener.listen(0, "127.0.0.1", () => {
    const address = listener.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    listener.close(() => resume(Effect.succeed(port)))
  })
})

const childEnv = (env: Record<string, string | undefined>) => {
  const base: Record<string, string | undefined> = { ...process.env }
  // the test decides every setting: none leaks in from the developer's shell (OTEL_* would turn on export)
  for (const key of Object.keys(base)) if (key.startsWith("YOI_") || key.startsWith("OTEL_")) delete base[key]
  return { ...base, ...env }
}

/** Starts `node <script> ...args` (any entry point, e.g. the example backend); the scope SIGKILLs it if it runs. */
export const spawnScript = (
  script: string,
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<Child, never, Scope.Scope> => spawnCommand(process.execPath, [script, ...args], env)

/**
 * Starts `command ...args` in `cwd`. With `group`, in a process group of its own, and `kill` signals the whole group
 * as a terminal's Ctrl-C does (npm and the server it runs both get SIGINT).
 */
export const spawnCommand = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {},
  options: { readonly cwd?: string; readonly group?: boolean } = {}
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let output = ""
      let stdout = ""
      let stderr = ""
      let ended = false
      const waiters: Array<{ pattern: RegExp; done: Deferred.Deferred<RegExpExecArray, Error> }> = []
      const exit = Deferred.makeUnsafe<{ code: number | null; signal: NodeJS.Signals | null }>()
      const child = spawn(command, args, {
        env: childEnv(env),
        stdio: ["ignore", "pipe", "pipe"],
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        detached: options.group === true
      })
      const check = () => {
        for (const waiter of waiters) {
          const match = waiter.pattern.exec(output)
          if (match) Deferred.doneUnsafe(waiter.done, Effect.succeed(match))
          else if (ended) {
            Deferred.doneUnsafe(waiter.done, Effect.fail(new Error(`exited before ${waiter.pattern}:\n${output}`)))
          }
        }
      }
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
        output += chunk.toString("utf8")
        check()
      })
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
        output += chunk.toString("utf8")
        check()
      })
      // "close" comes after the last output of both pipes, so a waiter never misses output printed just before exit
      child.on("close", (code, signal) => {
        ended = true
        check()
        Deferred.doneUnsafe(exit, Effect.succeed({ code, signal }))
      })
      const result: Child = {
        pid: child.pid!,
        output: () => output,
        stdout: () => stdout,
        stderr: () => stderr,
        waitFor: (pattern) =>
          Effect.suspend(() => {
            const done = Deferred.makeUnsafe<RegExpExecArray, Error>()
            waiters.push({ pattern, done })
            check()
            return Deferred.await(done)
          }),
        kill: (signal) =>
          Effect.sync(() => {
            if (options.group === true) process.kill(-child.pid!, signal)
            else child.kill(signal)
          }),
        exited: Deferred.await(exit)
      }
      return { child, result }
    }),
    ({ child, result }) =>
      child.exitCode !== null || child.signalCode !== null
        ? Effect.void
        : Effect.andThen(result.kill("SIGKILL"), result.exited)
  ).pipe(Effect.map(({ result }) => result))

/** Starts a `yoi-runtime` command (client or `serve`) as a `Child`, e.g. a long-running `watch`. */
export const spawnCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<Child, never, Scope.Scope> => spawnScript(bin, args, env)

/** Runs a `yoi-runtime` command (client or `serve`) to completion. */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<CliResult> =>
  Effect.scoped(
    Effect.flatMap(spawnCli(args, env), (child) =>
      Effect.map(child.exited, ({ code }) => ({
        code,
        stdout: child.stdout(),
        stderr: child.stderr(),
        output: child.output()
      })))
  )

/** Spawns `serve` with `args`; resolves once the banner says where it listens, fails if it exits first. */
export const spawnServer = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<ServerProcess, Error, Scope.Scope> =>
  Effect.flatMap(
    spawnCli(["serve", ...args], env),
    (child) => Effect.map(child.waitFor(/listening on (http:\/\/\S+)/), ([, url]) => ({ ...child, url: url! }))
  )
