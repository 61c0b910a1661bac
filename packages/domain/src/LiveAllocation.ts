/**
 * Port: the live Workers' scope claims on a host, so two Workers never hold overlapping write scopes.
 * Adapters: `MemoryLiveAllocation` (one process), `FileSystemLiveAllocation` (every Runtime process of a host).
 * Conflict rules are `Allocation.findConflict` and the error a refused claim fails with is `checkClaim`'s; adapters
 * decide storage and locking only.
 */
import { Context, type Effect, Option, Result } from "effect"
import { type Allocation, findConflict } from "./Allocation.ts"
import { ScopeConflict, type StoreFailure } from "./Errors.ts"
import type { WorkerRef } from "./Ids.ts"
import type { ScopeRule } from "./Worker.ts"

/** @category services */
export class LiveAllocation extends Context.Service<LiveAllocation, {
  /**
   * Claims `rules` for `owner`, replacing any claim it held, atomically: either the whole claim is recorded or it
   * fails with the first conflicting live owner and nothing changed. An empty `rules` releases.
   */
  claim(owner: WorkerRef, rules: ReadonlyArray<ScopeRule>): Effect.Effect<void, ScopeConflict | StoreFailure>
  /** Releases `owner`'s claim; releasing twice is fine. */
  release(owner: WorkerRef): Effect.Effect<void, StoreFailure>
  /** The live claims (stale ones excluded). */
  readonly list: Effect.Effect<ReadonlyArray<Allocation>, StoreFailure>
}>()("@yoi/domain/LiveAllocation") {}

/**
 * Whether `owner` may claim `rules` next to the `live` claims: success, or the `ScopeConflict` `claim` fails with
 * (the competitor `Allocation.findConflict` picks, and the index of the rule it conflicts with). Pure: an adapter
 * calls it inside its own atomic step and records the claim only on success.
 * @category constructors
 */
export const checkClaim = (
  live: Iterable<Allocation>,
  owner: WorkerRef,
  rules: ReadonlyArray<ScopeRule>
): Result.Result<void, ScopeConflict> => {
  const conflict = findConflict(live, owner, rules)
  if (Option.isNone(conflict)) return Result.void
  const { owner: competitor, ruleIndex } = conflict.value
  return Result.fail(
    new ScopeConflict({ conflictsWith: { runtimeId: competitor.runtimeId, workerId: competitor.workerId }, ruleIndex })
  )
}
