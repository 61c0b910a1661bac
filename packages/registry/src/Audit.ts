/**
 * Port: a record of every command the registry routes — who, what, on which Worker, and how it ended.
 *
 * `layerMemory` keeps the most recent entries in memory (bounded) and logs each one; a backend that needs a
 * durable audit trail provides its own implementation.
 */
import { Context, Effect, Layer } from "effect"
import type { Action } from "./Policy.ts"

/** @category models */
export interface Entry {
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
  record(entry: Entry): Effect.Effect<void>
  /** The retained entries, oldest first. */
  readonly entries: Effect.Effect<ReadonlyArray<Entry>>
}>()("@yoi/registry/Audit") {}

/** @category layers */
export const layerMemory = (options?: { readonly capacity?: number }): Layer.Layer<Audit> =>
  Layer.sync(Audit, () => {
    const capacity = options?.capacity ?? 10_000
    let entries: Array<Entry> = []
    return Audit.of({
      record: (entry) =>
        Effect.andThen(
          Effect.sync(() => {
            entries.push(entry)
            if (entries.length > capacity * 2) entries = entries.slice(-capacity)
          }),
          Effect.logDebug("audit", entry.viewer, entry.action, entry.runtimeId, entry.workerId ?? "-", entry.outcome)
        ),
      entries: Effect.sync(() => entries.slice(-capacity))
    })
  })
