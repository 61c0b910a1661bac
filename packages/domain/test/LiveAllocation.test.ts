import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Allocation } from "../src/Allocation.ts"
import { ScopeConflict } from "../src/Errors.ts"
import * as LiveAllocation from "../src/LiveAllocation.ts"
import { readRule, ref, writeRule } from "./support/fixtures.ts"

const alice = ref("rt_1", "w_alice")
const bob = ref("rt_1", "w_bob")
const carol = ref("rt_0", "w_carol")

describe("LiveAllocation.checkClaim", () => {
  it.effect("a claim that conflicts with nothing is accepted", () =>
    Effect.sync(() => {
      const live = [new Allocation({ owner: alice, rules: [writeRule("/srv/a")] })]
      assert.deepStrictEqual(LiveAllocation.checkClaim(live, bob, [writeRule("/srv/b")]), Result.void)
      assert.deepStrictEqual(LiveAllocation.checkClaim(live, bob, [readRule("/srv/a")]), Result.void)
      assert.deepStrictEqual(LiveAllocation.checkClaim([], bob, [writeRule("/")]), Result.void)
      assert.deepStrictEqual(LiveAllocation.checkClaim(live, bob, []), Result.void, "a release never conflicts")
      assert.deepStrictEqual(LiveAllocation.checkClaim(live, alice, [writeRule("/srv/a")]), Result.void, "its own")
    }))

  it.effect("a conflict is the ScopeConflict naming the smallest competitor and the first conflicting rule", () =>
    Effect.sync(() => {
      const live = [
        new Allocation({ owner: bob, rules: [writeRule("/srv/x")] }),
        new Allocation({ owner: carol, rules: [writeRule("/srv/x/deep")] })
      ]
      const result = LiveAllocation.checkClaim(live, alice, [writeRule("/srv/other"), writeRule("/srv/x/deep/er")])
      assert.isTrue(Result.isFailure(result))
      if (Result.isFailure(result)) {
        assert.instanceOf(result.failure, ScopeConflict)
        assert.deepStrictEqual(result.failure.conflictsWith, { runtimeId: "rt_0", workerId: "w_carol" })
        assert.strictEqual(result.failure.ruleIndex, 1)
      }
    }))

  it.effect("the competitor is plain ref fields (no WorkerRef instance crosses the wire in the error)", () =>
    Effect.sync(() => {
      const live = [new Allocation({ owner: bob, rules: [writeRule("/srv")] })]
      const result = LiveAllocation.checkClaim(live, alice, [writeRule("/srv/a", false)])
      assert.deepStrictEqual(
        result,
        Result.fail(new ScopeConflict({ conflictsWith: { runtimeId: "rt_1", workerId: "w_bob" }, ruleIndex: 0 }))
      )
    }))
})
