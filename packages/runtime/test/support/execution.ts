/**
 * A `WorkerExecution` for the Runtime's tests: each bind makes a host that a test can inspect (its target, how often
 * it was stopped, whether its scope was closed) and lose (`lose`), and whose runs stream a scripted engine. Binds can
 * be made to fail; a failing bind acquires something first, so a test sees that its scope is closed too.
 *
 * Hosts record a `BindingRecord` (`{ kind: "test", state: { host: n } }`, n counting binds of this execution), as a
 * process-backed host would, unless `records: false`.
 *
 * Deliberately not here: a real host (the adapters' tests) and the Runtime itself (`harness.ts`).
 */
import { ScriptedLlmEngine } from "@yoi/adapters"
import { Errors, WorkerExecution } from "@yoi/domain"
import { Deferred, Effect } from "effect"

/** One bound host. */
export interface Host {
  readonly n: number
  readonly target: WorkerExecution.BindTarget
  readonly record: WorkerExecution.BindingRecord | undefined
  /** How often `stop(grace)` was called. */
  stops: number
  /** Whether the binding's scope has been closed. */
  closed: boolean
  /** Completes the binding's `lost`. */
  lose(lost?: WorkerExecution.ExecutionLost): Effect.Effect<void>
}

export interface TestExecution {
  readonly execution: WorkerExecution.WorkerExecution["Service"]
  /** Every bound host, in bind order. */
  readonly hosts: Array<Host>
  /** Every bind attempted (failed ones too), in order. */
  readonly attempts: Array<WorkerExecution.BindTarget>
  /** Scopes of failed binds that were closed. */
  readonly failedClosed: { count: number }
  /** While set, binds fail with `EngineFailure { launch_failed }`. */
  failBinds: boolean
}

export interface Options {
  /** The engine the hosts' runs stream (default: the scripted engine with its defaults). */
  readonly engine?: ScriptedLlmEngine.Options | undefined
  /** Whether hosts record a `BindingRecord` (default true). */
  readonly records?: boolean | undefined
}

/** The loss a test reports unless it names one. */
export const defaultLoss = new WorkerExecution.ExecutionLost({
  code: "host_exited",
  message: "the execution host exited"
})

/** The failure of a bind while `failBinds` is set. */
export const bindFailure = new Errors.EngineFailure({
  provider: "test",
  code: "launch_failed",
  message: "the test host could not start"
})

/** A test execution; each call is a fresh one. */
export const make = (options: Options = {}): TestExecution => {
  const engine = ScriptedLlmEngine.make(options.engine)
  const test: TestExecution = {
    hosts: [],
    attempts: [],
    failedClosed: { count: 0 },
    failBinds: false,
    execution: WorkerExecution.WorkerExecution.of({
      bind: (target) =>
        Effect.gen(function*() {
          test.attempts.push(target)
          if (test.failBinds) {
            yield* Effect.addFinalizer(() => Effect.sync(() => test.failedClosed.count++))
            return yield* bindFailure
          }
          const lost = yield* Deferred.make<WorkerExecution.ExecutionLost>()
          const n = test.hosts.length + 1
          const host: Host = {
            n,
            target,
            record: options.records === false
              ? undefined
              : new WorkerExecution.BindingRecord({ kind: "test", state: { host: n } }),
            stops: 0,
            closed: false,
            lose: (loss = defaultLoss) => Effect.asVoid(Deferred.succeed(lost, loss))
          }
          yield* Effect.addFinalizer(() => Effect.sync(() => host.closed = true))
          test.hosts.push(host)
          return {
            record: host.record,
            run: (request) => engine.stream(request),
            lost: Deferred.await(lost),
            stop: () => Effect.sync(() => host.stops++)
          }
        })
    })
  }
  return test
}
