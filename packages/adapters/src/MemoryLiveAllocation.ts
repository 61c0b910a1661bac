/**
 * Adapter: the `LiveAllocation` port in memory — the claim table of the Runtimes of one process.
 *
 * One `Map` keyed by owner (`runtimeId`, `workerId`) inside the layer. Each method runs synchronously inside one
 * Effect step, so a claim checks for conflicts and records itself with no yield point in between: atomic without a
 * lock, and a rejected claim leaves the table as it was.
 *
 * Deliberately not here: conflict rules and the error they raise (`LiveAllocation.checkClaim`, shared with every
 * adapter), validating or normalizing targets (the Runtime does that with `Allocation.normalizeTarget` before
 * claiming), leases and stale reclaim (an owner cannot die without its process, which takes the table with it),
 * and sharing claims with other processes on the host (that is `FileSystemLiveAllocation`).
 */
import { Allocation, Ids, LiveAllocation, type Worker } from "@yoi/domain"
import { Effect, Layer, Result } from "effect"

/**
 * Builds an empty in-memory claim table. Each evaluation is an independent table.
 * @category constructors
 */
export const make: Effect.Effect<LiveAllocation.LiveAllocation["Service"]> = Effect.sync(() => {
  const table = new Map<string, Allocation.Allocation>()

  const claim = Effect.fn("LiveAllocation.claim")(
    function*(owner: Ids.WorkerRef, rules: ReadonlyArray<Worker.ScopeRule>) {
      const checked = LiveAllocation.checkClaim(table.values(), owner, rules)
      if (Result.isFailure(checked)) return yield* checked.failure
      if (rules.length === 0) table.delete(Ids.refKey(owner))
      else table.set(Ids.refKey(owner), new Allocation.Allocation({ owner, rules }))
    }
  )

  return LiveAllocation.LiveAllocation.of({
    claim,
    release: (owner) =>
      Effect.sync(() => {
        table.delete(Ids.refKey(owner))
      }),
    list: Effect.sync(() => Array.from(table.values()))
  })
})

/**
 * A fresh, empty in-memory `LiveAllocation` per layer build.
 * @category layers
 */
export const layer: Layer.Layer<LiveAllocation.LiveAllocation> = Layer.effect(LiveAllocation.LiveAllocation, make)
