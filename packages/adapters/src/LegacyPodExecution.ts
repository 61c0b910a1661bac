/**
 * `WorkerExecution` on legacy pod processes: each Worker gets its own `yoi pod` (or, in the `worker` dialect, `yoi
 * worker`) child, spawned at bind in the binding's scope as `<command> <args…> --workspace <root> --pod|--worker
 * <workerId> <extraArgs…>` (cwd the
 * workspace root, an explicit environment: the allowlisted variables, `YOI_RUNTIME_DIR`, a private `YOI_DATA_DIR`
 * under `dataRoot` so the metadata projection never lists it, and `env`), then READY, the connect, the alerts and the
 * one snapshot under one deadline (`readyTimeout`). Runs go through `internal/podRun.ts`; `lost` completes when the
 * process exits unless the binding is stopping (a dropped connection kills the pod: no reconnect yet); `stop(grace)` sends `shutdown` and waits up to the grace for the
 * exit, after which the scope SIGTERMs the group and SIGKILLs it after `stopGrace`.
 *
 * Decisions on the reference's open points: the pod name is the WorkerId (already `[A-Za-z0-9_:-]`, else
 * `legacy_pod_invalid_name`); READY must name it exactly; the socket path (`<runtimeRoot>/<name>/sock`) must fit in
 * 100 bytes, checked before spawning; one deadline covers READY to snapshot; a failed bind leaves nothing (its child
 * scope is closed); unit methods are sent without `params`; `history` is not sent (the pod keeps its session).
 *
 * The dialects differ only in that flag here: READY stays `YOI-READY`, and the names that change (`worker_name`,
 * `worker_event`, …) are in messages this adapter does not read.
 *
 * Deliberately not here yet: reconnect with the snapshot's `in_flight`, `restore` (a stale
 * record is ignored: a new pod is started) and reclaiming orphans, foreign runs.
 */
import { type LlmEngine, WorkerExecution } from "@yoi/domain"
import { Context, Deferred, type Duration, Effect, Exit, FileSystem, Layer, Path, Scope } from "effect"
import type { ChildProcessSpawner } from "effect/process"
import * as PodConnection from "./internal/podConnection.ts"
import { failure } from "./internal/podFailure.ts"
import * as PodProcess from "./internal/podProcess.ts"
import * as PodRun from "./internal/podRun.ts"
import type { LegacyPodSocket } from "./LegacyPodSocket.ts"

/** @category models */
export interface Options {
  /** The pod program, and the arguments that come before the protocol's (e.g. a script for an interpreter). */
  readonly command: string
  /** `pod` (`--pod <name>`, the default) or `worker` (`--worker <name>`, after the upstream rename). */
  readonly dialect?: "pod" | "worker" | undefined
  readonly args?: ReadonlyArray<string> | undefined
  /** Arguments after the protocol's. */
  readonly extraArgs?: ReadonlyArray<string> | undefined
  readonly workspaceRoot: string
  /** A short private directory (made 0700): the pods' runtime dirs and sockets go under it. */
  readonly runtimeRoot: string
  /** Each Worker's pod gets `<dataRoot>/<name>` as its data dir. */
  readonly dataRoot: string
  /** READY to snapshot (default 20 s). */
  readonly readyTimeout?: Duration.Input | undefined
  /** SIGTERM to SIGKILL of the group when the scope closes (default 2 s). */
  readonly stopGrace?: Duration.Input | undefined
  /** How long a cancel waits for the run's end before the group is killed (default 2 s). */
  readonly cancelGrace?: Duration.Input | undefined
  /** Variables taken from this process's environment (default `PATH`, `HOME`). */
  readonly envAllowlist?: ReadonlyArray<string> | undefined
  /** Variables set for every pod. */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/** What the record's `state` holds (never shown). @category models */
export interface RecordState {
  readonly podName: string
  readonly dialect: "pod" | "worker"
  readonly pid: number
  /** `/proc/<pid>/stat` field 22 (clock ticks since boot), `null` where unreadable. */
  readonly startTime: string | null
  readonly runtimeDir: string
}

const maxSocketPath = 100
const maxLine = 8 * 1024 * 1024
const namePattern = /^[A-Za-z0-9_:-]{1,120}$/

const lost = new WorkerExecution.ExecutionLost({
  code: "legacy_pod_exited",
  message: "the legacy pod process exited"
})

const startTimeOf = (fs: FileSystem.FileSystem, pid: number) =>
  fs.readFileString(`/proc/${pid}/stat`).pipe(
    Effect.map((stat) => stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null),
    Effect.orElseSucceed(() => null)
  )

/** @category constructors */
export const make = (
  options: Options
): Effect.Effect<
  WorkerExecution.WorkerExecution["Service"],
  never,
  ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem | Path.Path | LegacyPodSocket
> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<
      ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem | Path.Path | LegacyPodSocket
    >()
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const readyTimeout = options.readyTimeout ?? "20 seconds"
    const stopGrace = options.stopGrace ?? "2 seconds"
    const cancelGrace = options.cancelGrace ?? "2 seconds"

    const bindIn = (target: WorkerExecution.BindTarget, scope: Scope.Scope) =>
      Effect.gen(function*() {
        const name = target.workerId
        if (!namePattern.test(name)) return yield* Effect.fail(failure("legacy_pod_invalid_name"))
        const runtimeDir = path.join(options.runtimeRoot, name)
        if (Buffer.byteLength(path.join(runtimeDir, "sock")) > maxSocketPath) {
          return yield* Effect.fail(failure("legacy_pod_socket_path_too_long"))
        }
        const dataDir = path.join(options.dataRoot, name)
        yield* Effect.all([
          fs.makeDirectory(options.runtimeRoot, { recursive: true, mode: 0o700 }),
          fs.makeDirectory(dataDir, { recursive: true, mode: 0o700 })
        ]).pipe(Effect.mapError(() => failure("legacy_pod_launch_failed")))

        const env: Record<string, string> = {}
        for (const key of options.envAllowlist ?? ["PATH", "HOME"]) {
          const value = process.env[key]
          if (value !== undefined) env[key] = value
        }
        Object.assign(env, options.env, { YOI_RUNTIME_DIR: options.runtimeRoot, YOI_DATA_DIR: dataDir })
        const pod = yield* PodProcess.spawn({
          command: options.command,
          args: [
            ...(options.args ?? []),
            "--workspace",
            options.workspaceRoot,
            `--${options.dialect ?? "pod"}`,
            name,
            ...(options.extraArgs ?? [])
          ],
          cwd: options.workspaceRoot,
          env,
          name,
          forceKillAfter: stopGrace
        }).pipe(Scope.provide(scope))

        const connection = yield* Effect.gen(function*() {
          const exitedEarly = Effect.andThen(pod.exited, Effect.fail(failure("legacy_pod_exited_early")))
          const socketPath = yield* Effect.raceFirst(pod.ready, exitedEarly)
          if (Buffer.byteLength(socketPath) > maxSocketPath) {
            return yield* Effect.fail(failure("legacy_pod_protocol"))
          }
          const connected = PodConnection.connect(socketPath, { maxLine, gone: pod.exited }).pipe(
            Scope.provide(scope)
          )
          return yield* Effect.raceFirst(connected, exitedEarly)
        }).pipe(
          Effect.timeoutOrElse({ duration: readyTimeout, orElse: () => Effect.fail(failure("legacy_pod_timeout")) })
        )
        return { pod, connection, runtimeDir, name }
      })

    const execution = WorkerExecution.WorkerExecution.of({
      bind: (target) => Effect.flatMap(Effect.service(Scope.Scope), (parent) => bindUnder(target, parent))
    })

    // the services captured at `make` are provided to the binding's work, but never its scope: that is the caller's
    const bindUnder = (target: WorkerExecution.BindTarget, parent: Scope.Scope) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(parent)
        const bound = yield* bindIn(target, scope).pipe(
          Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))
        )
        const { connection, pod } = bound
        const lostSignal = yield* Deferred.make<WorkerExecution.ExecutionLost>()
        let stopping = false
        yield* pod.exited.pipe(
          Effect.andThen(Effect.suspend(() => stopping ? Effect.void : Deferred.succeed(lostSignal, lost))),
          Effect.forkIn(scope)
        )
        // no reconnect yet: a control connection the pod drops while it lives would leave runs waiting forever, so
        // the pod is killed and the binding lost (a crash also closes the socket: the exit then wins, same outcome)
        yield* connection.closed.pipe(
          Effect.andThen(Effect.suspend(() => stopping ? Effect.void : pod.kill)),
          Effect.forkIn(scope)
        )
        const startTime = yield* startTimeOf(fs, pod.pid)
        const state: RecordState = {
          podName: bound.name,
          dialect: options.dialect ?? "pod",
          pid: pod.pid,
          startTime,
          runtimeDir: bound.runtimeDir
        }
        return {
          record: new WorkerExecution.BindingRecord({ kind: "legacy_pod", state: { ...state } }),
          run: (request: LlmEngine.EngineRequest) => PodRun.run(connection, request, { cancelGrace, kill: pod.kill }),
          lost: Deferred.await(lostSignal),
          stop: (grace) =>
            Effect.suspend(() => {
              stopping = true
              return connection.send({ method: "shutdown" }).pipe(
                Effect.ignore,
                Effect.andThen(pod.exited),
                Effect.timeout(grace),
                Effect.ignore
              )
            })
        } satisfies WorkerExecution.Binding
      }).pipe(Effect.provide(Context.omit(Scope.Scope)(context)))
    return execution
  })

/** @category layers */
export const layer = (
  options: Options
): Layer.Layer<
  WorkerExecution.WorkerExecution,
  never,
  ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem | Path.Path | LegacyPodSocket
> => Layer.effect(WorkerExecution.WorkerExecution, make(options))
