/**
 * How the `yoi-runtime` process ends: its documented exit codes, and the one way a command reports a failure —
 * one `error:` line on stderr, the full cause only at `--log-level debug`, then a failure that carries the exit
 * code to `NodeRuntime.runMain`'s teardown and that the runtime does not report again.
 *
 * Deliberately not here: wording of particular errors (the commands and `ServerMain` own it) and anything that
 * could print a token or a path — callers pass lines that are sanitized by construction.
 */
import { Console, Data, Effect, Runtime } from "effect"

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
