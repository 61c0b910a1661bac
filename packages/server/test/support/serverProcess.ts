/**
 * Test support: the real `yoi-runtime serve` as a child process. Resolves once the banner says where it listens
 * (no polling, no sleeps); the scope kills it (SIGKILL) if the test did not stop it. Everything the process prints
 * is kept so tests can scan it.
 */
import { Deferred, Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url))

export interface ServerProcess {
  readonly url: string
  readonly pid: number
  /** stdout + stderr so far. */
  readonly output: () => string
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Completes with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

export interface RunResult {
  readonly code: number | null
  readonly output: string
}

const childEnv = (env: Record<string, string | undefined>) => {
  const base: Record<string, string | undefined> = { ...process.env }
  for (const key of Object.keys(base)) if (key.startsWith("YOI_")) delete base[key]
  return { ...base, ...env }
}

/** Spawns `serve` with `args`; fails if it exits before listening. */
export const spawnServer = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<ServerProcess, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const ready = yield* Deferred.make<string, Error>()
      const exit = yield* Deferred.make<{ code: number | null; signal: NodeJS.Signals | null }>()
      let output = ""
      const child: ChildProcess = spawn(process.execPath, [bin, "serve", ...args], {
        env: childEnv(env),
        stdio: ["ignore", "pipe", "pipe"]
      })
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8")
        const match = /listening on (http:\/\/\S+)/.exec(output)
        if (match) Deferred.doneUnsafe(ready, Effect.succeed(match[1]!))
      }
      child.stdout!.on("data", onData)
      child.stderr!.on("data", onData)
      child.on("exit", (code, signal) => {
        Deferred.doneUnsafe(exit, Effect.succeed({ code, signal }))
        Deferred.doneUnsafe(
          ready,
          Effect.fail(new Error(`server exited (${code ?? signal}) before listening:\n${output}`))
        )
      })
      const url = yield* Deferred.await(ready)
      return {
        url,
        pid: child.pid!,
        output: () => output,
        kill: (signal: NodeJS.Signals) => Effect.sync(() => void child.kill(signal)),
        exited: Deferred.await(exit)
      } satisfies ServerProcess
    }),
    (server) => Effect.andThen(server.kill("SIGKILL"), server.exited)
  )

/** Runs `serve` expecting it to refuse to start; returns its exit code and output. */
export const runServerToExit = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<RunResult> =>
  Effect.callback<RunResult>((resume) => {
    let output = ""
    const child = spawn(process.execPath, [bin, "serve", ...args], {
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.on("exit", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

/** Runs a `yoi-runtime` client command to completion. */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }> =>
  Effect.callback((resume) => {
    let stdout = ""
    let stderr = ""
    const child = spawn(process.execPath, [bin, ...args], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("exit", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

export interface Follower {
  readonly output: () => string
  /** Completes once the output matches `pattern`. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<void>
}

/** Starts a long-running client command (e.g. `watch`); the scope kills it. */
export const followCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<Follower, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let output = ""
      const waiters: Array<{ pattern: RegExp; done: Deferred.Deferred<void> }> = []
      const child = spawn(process.execPath, [bin, ...args], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] })
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8")
        for (const waiter of waiters) if (waiter.pattern.test(output)) Deferred.doneUnsafe(waiter.done, Effect.void)
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      const follower: Follower = {
        output: () => output,
        waitFor: (pattern) =>
          Effect.suspend(() => {
            const done = Deferred.makeUnsafe<void>()
            waiters.push({ pattern, done })
            if (pattern.test(output)) Deferred.doneUnsafe(done, Effect.void)
            return Deferred.await(done)
          })
      }
      return { child, follower }
    }),
    ({ child }) => Effect.sync(() => void child.kill("SIGKILL"))
  ).pipe(Effect.map(({ follower }) => follower))

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

/** Starts `node <script> ...args` (any entry point, e.g. the example backend); the scope SIGKILLs it if it runs. */
export const spawnScript = (
  script: string,
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let output = ""
      let stdout = ""
      let stderr = ""
      let ended = false
      const waiters: Array<{ pattern: RegExp; done: Deferred.Deferred<RegExpExecArray, Error> }> = []
      const exit = Deferred.makeUnsafe<{ code: number | null; signal: NodeJS.Signals | null }>()
      const child = spawn(process.execPath, [script, ...args], {
        env: childEnv(env),
        stdio: ["ignore", "pipe", "pipe"]
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
        kill: (signal) => Effect.sync(() => void child.kill(signal)),
        exited: Deferred.await(exit)
      }
      return { child, result }
    }),
    ({ child, result }) =>
      child.exitCode !== null || child.signalCode !== null
        ? Effect.void
        : Effect.andThen(result.kill("SIGKILL"), result.exited)
  ).pipe(Effect.map(({ result }) => result))

/** Starts a `yoi-runtime` command (client or `serve`) as a `Child`. */
export const spawnCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {}
): Effect.Effect<Child, never, Scope.Scope> => spawnScript(bin, args, env)
