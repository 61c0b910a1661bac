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
