/**
 * How the `yoi-runtime` process (and a backend built like the example one) ends: the documented exit codes, the
 * one way a command reports a failure — one `error:` line on stderr, the full cause only at `--log-level debug`,
 * then a failure that carries the exit code to `NodeRuntime.runMain`'s teardown and that the runtime does not report
 * again — and the one line for a server that cannot listen.
 *
 * Deliberately not here: wording of particular errors (the commands and `ServerMain` own it) and anything that
 * could print a token or a path — callers pass lines that are sanitized by construction.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Data, Effect, Exit, Predicate, Runtime } from "effect"

/**
 * The exit codes (see `docs/cli.md`):
 * - `0`: done (for `send`: the run finished; for `serve` and `watch`: stopped by SIGINT/SIGTERM);
 * - `1`: refused — a typed error from the runtime, an invalid invocation or setting, or a refused start;
 * - `2`: `send`: the run failed;
 * - `3`: `send`: the run was cancelled;
 * - `4`: the runtime could not be reached or answered outside the protocol;
 * - `130`: `send` interrupted (Ctrl-C) — the run goes on in the runtime.
 * @category models
 */
export const ExitCode = {
  refused: 1,
  runFailed: 2,
  runCancelled: 3,
  unreachable: 4,
  interrupted: 130
} as const

/** A failure already reported as one line; `exitCode` becomes the process's. @category errors */
export class Reported extends Data.TaggedError("Reported")<{ readonly exitCode: number }> {
  override readonly [Runtime.errorReported] = false
  override get [Runtime.errorExitCode]() {
    return this.exitCode
  }
}

/**
 * Prints `error: <line>`, logs `cause` at debug level (shown with `--log-level debug`), and fails with `exitCode`.
 * @category constructors
 */
export const fail = (line: string, exitCode: number, cause?: unknown): Effect.Effect<never, Reported> =>
  Console.error(`error: ${line}`).pipe(
    Effect.andThen(cause === undefined ? Effect.void : Effect.logDebug(cause)),
    Effect.andThen(Effect.fail(new Reported({ exitCode })))
  )

/** The first system error code (`EADDRINUSE`, …) on an error's cause chain. @category constructors */
export const systemCode = (error: unknown): string | undefined => {
  let current = error
  for (let depth = 0; depth < 8 && Predicate.isObject(current); depth++) {
    if (Predicate.isString(current["code"])) return current["code"]
    current = current["cause"]
  }
  return undefined
}

const listenProblems: Record<string, string> = {
  EADDRINUSE: "the address is already in use (another process listens there; pick another --port)",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "the address is not one of this host's (check --host)",
  ENOTFOUND: "the host name does not resolve (check --host)"
}

/** Why a server could not listen on `host:port`, as one line. @category constructors */
export const listenFailure = (host: string, port: number, error: unknown): string => {
  const code = systemCode(error)
  const problem = code === undefined ? "the server failed to start" : listenProblems[code] ?? code
  return `cannot listen on ${host}:${port}: ${problem}`
}

/**
 * The process's exit code from how it ended: a failure carries its own (a `Reported` one its `exitCode`); an
 * interruption (SIGINT/SIGTERM) is a clean stop, `0`, unless the command set another (`send` sets 130).
 * @category constructors
 */
export const teardown: Runtime.Teardown = (exit, onExit) => {
  if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
    return onExit(typeof process.exitCode === "number" ? process.exitCode : 0)
  }
  return Runtime.defaultTeardown(exit, onExit)
}

const absorb = () => {}

/**
 * Runs the program as the process's main fiber with `teardown`, as `NodeRuntime.runMain` does, and absorbs signals
 * after the first: the first SIGINT/SIGTERM interrupts the program (a clean stop, bounded by its grace period);
 * later ones are ignored.
 *
 * **Details** `npm start` forwards the terminal's Ctrl-C to a process that already got it from the terminal, and once
 * `runMain` removes its listeners at the very end, that late copy would take the default action: death by SIGINT
 * instead of the exit code, which npm then reports as a failure.
 * @category constructors
 */
export const runMain = <E, A>(program: Effect.Effect<A, E>): void => {
  process.on("SIGINT", absorb)
  process.on("SIGTERM", absorb)
  NodeRuntime.runMain(program, { teardown })
}
