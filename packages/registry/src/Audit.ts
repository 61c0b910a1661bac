/**
 * Port: a record of every command the registry routes — who, what, on which Worker, and how it ended.
 *
 * `layerMemory` keeps the most recent records in memory (bounded) and logs each one; a backend that needs a
 * durable audit trail provides its own implementation.
 */
import { Context, Effect, Layer } from "effect"
import type { Action } from "./Policy.ts"

/** One routed command and how it ended. @category models */
export interface CommandRecord {
  readonly at: number
  readonly viewer: string
  readonly action: Action
  readonly runtimeId: string
  readonly workerId?: string | undefined
  /** `ok`, or the tag of the error the command ended with. */
  readonly outcome: string
}

/** @category services */
export class Audit extends Context.Service<Audit, {
  record(command: CommandRecord): Effect.Effect<void>
  /** The retained records, oldest first. */
  readonly records: Effect.Effect<ReadonlyArray<CommandRecord>>
}>()("@yoi/registry/Audit") {}

/** @category layers */
export const layerMemory = (options?: { readonly capacity?: number }): Layer.Layer<Audit> =>
  Layer.sync(Audit, () => {
    const capacity = options?.capacity ?? 10_000
    let records: Array<CommandRecord> = []
    return Audit.of({
      record: (command) =>
        Effect.andThen(
          Effect.sync(() => {
            records.push(command)
            if (records.length > capacity * 2) records = records.slice(-capacity)
          }),
          Effect.logDebug(
            "audit",
            command.viewer,
            command.action,
            command.runtimeId,
            command.workerId ?? "-",
            command.outcome
          )
        ),
      records: Effect.sync(() => records.slice(-capacity))
    })
  })
