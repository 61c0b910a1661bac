/**
 * Port: the live Workers' scope claims on a host, so two Workers never hold overlapping write scopes.
 * Adapters: `MemoryLiveAllocation` (one process), `FileSystemLiveAllocation` (every Runtime process of a host).
 * Conflict rules are `Allocation.findConflict`; adapters decide storage and locking only.
 */
import { Context, type Effect } from "effect"
import type { Allocation } from "./Allocation.ts"
import type { ScopeConflict, StoreFailure } from "./Errors.ts"
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
