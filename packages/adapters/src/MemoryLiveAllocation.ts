/**
 * Adapter: the `LiveAllocation` port in memory — the claim table of the Runtimes of one process.
 *
 * One `Map` keyed by owner (`runtimeId`, `workerId`) inside the layer. Each method runs synchronously inside one
 * Effect step, so a claim checks for conflicts and records itself with no yield point in between: atomic without a
 * lock, and a rejected claim leaves the table as it was.
 *
 * Deliberately not here: conflict rules (they are `Allocation.findConflict`, shared with every adapter), validating
 * or normalizing targets (the Runtime does that with `Allocation.normalizeTarget` before claiming), leases and stale
 * reclaim (an owner cannot die without its process, which takes the table with it), and sharing claims with other
 * processes on the host (that is `FileSystemLiveAllocation`).
 */
import { Allocation, Errors, type Ids, LiveAllocation, type Worker } from "@yoi/domain"
import { Effect, Layer, Option } from "effect"

const keyOf = (owner: Ids.WorkerRef): string => `${owner.runtimeId}\u0000${owner.workerId}`

/**
 * Builds an empty in-memory claim table. Each evaluation is an independent table.
 * @category constructors
 */
export const make: Effect.Effect<LiveAllocation.LiveAllocation["Service"]> = Effect.sync(() => {
  const table = new Map<string, Allocation.Allocation>()

  const claim = Effect.fn("LiveAllocation.claim")(
    function*(owner: Ids.WorkerRef, rules: ReadonlyArray<Worker.ScopeRule>) {
      const conflict = Allocation.findConflict(table.values(), owner, rules)
      if (Option.isSome(conflict)) {
        const { owner: competitor, ruleIndex } = conflict.value
        return yield* new Errors.ScopeConflict({
          conflictsWith: { runtimeId: competitor.runtimeId, workerId: competitor.workerId },
          ruleIndex
        })
      }
      if (rules.length === 0) table.delete(keyOf(owner))
      else table.set(keyOf(owner), new Allocation.Allocation({ owner, rules }))
    }
  )

  return LiveAllocation.LiveAllocation.of({
    claim,
    release: (owner) =>
      Effect.sync(() => {
        table.delete(keyOf(owner))
      }),
    list: Effect.sync(() => Array.from(table.values()))
  })
})

/**
 * A fresh, empty in-memory `LiveAllocation` per layer build.
 * @category layers
 */
export const layer: Layer.Layer<LiveAllocation.LiveAllocation> = Layer.effect(LiveAllocation.LiveAllocation, make)
