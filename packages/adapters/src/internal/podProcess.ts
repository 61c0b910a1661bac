/**
 * One legacy pod process: spawned with `effect/process` in the caller's scope (its own process group, `extendEnv:
 * false`, stdin and stdout ignored, `forceKillAfter` always, so closing the scope SIGTERMs the group and SIGKILLs it
 * after the grace), its stderr drained for its whole life into a bounded tail (the last 20 lines, each cut at 512
 * characters) kept server-side only, the `YOI-READY` line picked out of it, and its exit watched.
 *
 * READY must be exactly `YOI-READY\t<our name>\t<absolute path>` (a trailing `\r` is not stripped: it is malformed);
 * any other line starting with `YOI-READY` is a protocol failure, every other line progress. A launch that fails
 * (ENOENT, EACCES…) is `legacy_pod_launch_failed`; the cause is dropped, since its message holds the command line.
 *
 * Deliberately not here: deadlines (the caller races `ready` with `exited` under one), the socket.
 */
import type { Errors } from "@yoi/domain"
import { Deferred, type Duration, Effect, Path, type Scope, Stream } from "effect"
import { ChildProcess, type ChildProcessSpawner } from "effect/process"
import { failure } from "./podFailure.ts"

/** How the process ended: an exit code, or a signal (`exitCode` fails then). @category models */
export type Ended = { readonly _tag: "code"; readonly code: number } | { readonly _tag: "signal" }

/** @category models */
export interface PodProcess {
  readonly pid: number
  /** Succeeds with the socket path of a well-formed READY; fails `legacy_pod_protocol` on a malformed one. */
  readonly ready: Effect.Effect<string, Errors.EngineFailure>
  /** Completes once the process has exited (awaitable many times). */
  readonly exited: Effect.Effect<Ended>
  readonly isExited: Effect.Effect<boolean>
  /** The last stderr lines (server-side diagnostics only). */
  readonly stderrTail: Effect.Effect<ReadonlyArray<string>>
  /** SIGKILLs the process group now. */
  readonly kill: Effect.Effect<void>
}

/** @category models */
export interface SpawnOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Record<string, string>
  readonly name: string
  readonly forceKillAfter: Duration.Input
}

const tailLines = 20
const tailLineChars = 512

/** @category constructors */
export const spawn = (
  options: SpawnOptions
): Effect.Effect<PodProcess, Errors.EngineFailure, Scope.Scope | ChildProcessSpawner.ChildProcessSpawner | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const handle = yield* ChildProcess.make(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      extendEnv: false,
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      forceKillAfter: options.forceKillAfter
    }).pipe(Effect.mapError(() => failure("legacy_pod_launch_failed")))

    const tail: Array<string> = []
    const ready = yield* Deferred.make<string, Errors.EngineFailure>()
    const onLine = (line: string) =>
      Effect.gen(function*() {
        tail.push(line.slice(0, tailLineChars))
        if (tail.length > tailLines) tail.shift()
        if (!line.startsWith("YOI-READY")) return
        const fields = line.split("\t")
        const socket = fields[2] ?? ""
        yield* fields.length === 3 && fields[0] === "YOI-READY" && fields[1] === options.name && path.isAbsolute(socket)
          ? Deferred.succeed(ready, socket)
          : Deferred.fail(ready, failure("legacy_pod_protocol"))
      })
    yield* handle.stderr.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach(onLine),
      Effect.ignore,
      Effect.forkScoped
    )

    const exited = yield* Deferred.make<Ended>()
    yield* handle.exitCode.pipe(
      Effect.map((code): Ended => ({ _tag: "code", code: Number(code) })),
      Effect.orElseSucceed((): Ended => ({ _tag: "signal" })),
      Effect.flatMap((ended) => Deferred.succeed(exited, ended)),
      Effect.forkScoped
    )

    return {
      pid: Number(handle.pid),
      ready: Deferred.await(ready),
      exited: Deferred.await(exited),
      isExited: Deferred.isDone(exited),
      stderrTail: Effect.sync(() => [...tail]),
      kill: Effect.ignore(handle.kill({ killSignal: "SIGKILL" }))
    } satisfies PodProcess
  })
