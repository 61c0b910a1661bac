/**
 * The `LiveAllocation` contract: what every adapter (memory, filesystem, …) must do, as one suite.
 *
 * Each test builds its own table with `Layer.fresh(layer)`, so tests share no state and may run concurrently. A layer
 * whose construction needs a resource (a temp directory from a sub-layer, …) gets a new one per test too, because
 * `Layer.fresh` rebuilds the whole graph. Conflict rules themselves are tested in `domain/test/Allocation.test.ts`;
 * this suite checks that an adapter applies them atomically to its table.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Allocation, Errors, type Ids, LiveAllocation, type Worker } from "@yoi/domain"
import { readRule, ref, writeRule } from "@yoi/domain/test/support/fixtures"
import { Effect, Layer, type Scope } from "effect"

type Table = LiveAllocation.LiveAllocation["Service"]

const alice = ref("rt_1", "w_alice")
const bob = ref("rt_1", "w_bob")

interface Claim {
  readonly runtimeId: string
  readonly workerId: string
  readonly rules: ReadonlyArray<{ readonly target: string; readonly permission: string; readonly recursive: boolean }>
}

/** A table as plain data in a stable order, so adapters may list in any order. */
const plain = (allocations: ReadonlyArray<Allocation.Allocation>): Array<Claim> =>
  allocations
    .map((a) => ({
      runtimeId: a.owner.runtimeId,
      workerId: a.owner.workerId,
      rules: a.rules.map((r) => ({ target: r.target, permission: r.permission, recursive: r.recursive }))
    }))
    .sort((a, b) => `${a.runtimeId} ${a.workerId}`.localeCompare(`${b.runtimeId} ${b.workerId}`))

const listed = (table: Table) => Effect.map(table.list, plain)

const claimOf = (owner: Ids.WorkerRef, rules: ReadonlyArray<Worker.ScopeRule>): Claim => ({
  runtimeId: owner.runtimeId,
  workerId: owner.workerId,
  rules: rules.map((r) => ({ target: r.target, permission: r.permission, recursive: r.recursive }))
})

/**
 * Registers the `LiveAllocation` contract suite for one adapter.
 *
 * `layer` may need a `Scope` and may fail to build; it is rebuilt for every test.
 * @category testing
 */
export const liveAllocationContract = (
  name: string,
  layer: Layer.Layer<LiveAllocation.LiveAllocation, unknown, Scope.Scope>
): void => {
  const test = (title: string, body: (table: Table) => Effect.Effect<void, unknown, Scope.Scope>) =>
    it.effect(title, () =>
      Effect.gen(function*() {
        yield* body(yield* LiveAllocation.LiveAllocation)
      }).pipe(Effect.provide(Layer.fresh(layer))))

  describe(`LiveAllocation contract: ${name}`, () => {
    test("a fresh table is empty", (table) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* table.list, [])
      }))

    test("claim, list, release", (table) =>
      Effect.gen(function*() {
        const rules = [writeRule("/srv/a"), readRule("/srv/shared", false)]
        yield* table.claim(alice, rules)
        const allocations = yield* table.list
        assert.strictEqual(allocations.length, 1)
        assert.strictEqual(allocations[0]!.owner.runtimeId, alice.runtimeId)
        assert.strictEqual(allocations[0]!.owner.workerId, alice.workerId)
        assert.deepStrictEqual(plain(allocations), [claimOf(alice, rules)])

        yield* table.release(alice)
        assert.deepStrictEqual(yield* table.list, [])
      }))

    test("releasing twice, or releasing an owner that holds nothing, is fine", (table) =>
      Effect.gen(function*() {
        yield* table.release(alice)
        yield* table.claim(alice, [writeRule("/srv/a")])
        yield* table.claim(bob, [writeRule("/srv/b")])
        yield* table.release(alice)
        yield* table.release(alice)
        assert.deepStrictEqual(yield* listed(table), [claimOf(bob, [writeRule("/srv/b")])])
      }))

    test("claiming again replaces the owner's claim", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/a"), writeRule("/srv/b")])
        yield* table.claim(alice, [writeRule("/srv/c")])
        assert.deepStrictEqual(yield* listed(table), [claimOf(alice, [writeRule("/srv/c")])])
        // the dropped targets are free for others now
        yield* table.claim(bob, [writeRule("/srv/a")])
        assert.strictEqual((yield* table.list).length, 2)
      }))

    test("claiming no rules releases", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/a")])
        yield* table.claim(alice, [])
        assert.deepStrictEqual(yield* table.list, [])
        yield* table.claim(bob, [writeRule("/srv/a")])
        assert.deepStrictEqual(yield* listed(table), [claimOf(bob, [writeRule("/srv/a")])])
      }))

    test("only write rules conflict: read next to write on the same path is fine", (table) =>
      Effect.gen(function*() {
        const carol = ref("rt_1", "w_carol")
        yield* table.claim(alice, [writeRule("/srv/repo")])
        yield* table.claim(bob, [readRule("/srv/repo")])
        yield* table.claim(carol, [readRule("/srv/repo/src", false), readRule("/srv/repo")])
        assert.deepStrictEqual(yield* listed(table), [
          claimOf(alice, [writeRule("/srv/repo")]),
          claimOf(bob, [readRule("/srv/repo")]),
          claimOf(carol, [readRule("/srv/repo/src", false), readRule("/srv/repo")])
        ])
      }))

    test("write claims on disjoint paths coexist (segment boundaries count)", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/a/b")])
        yield* table.claim(bob, [writeRule("/srv/a/bc")])
        assert.strictEqual((yield* table.list).length, 2)
      }))

    test("a conflicting claim fails with ScopeConflict naming the competitor and rule, and changes nothing", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/repo/a")])
        yield* table.claim(bob, [writeRule("/srv/elsewhere")])
        const before = yield* listed(table)

        const conflict = yield* Effect.flip(
          table.claim(bob, [readRule("/srv/repo"), writeRule("/srv/other"), writeRule("/srv/repo/a/src")])
        )
        assert.instanceOf(conflict, Errors.ScopeConflict)
        assert.deepStrictEqual(conflict.conflictsWith, { runtimeId: alice.runtimeId, workerId: alice.workerId })
        assert.strictEqual(conflict.ruleIndex, 2)

        // the table is as it was, and bob's previous claim is intact
        assert.deepStrictEqual(yield* listed(table), before)
        assert.deepStrictEqual(before, [
          claimOf(alice, [writeRule("/srv/repo/a")]),
          claimOf(bob, [writeRule("/srv/elsewhere")])
        ])
      }))

    test("a first claim that conflicts leaves the owner without a claim", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/repo")])
        const conflict = yield* Effect.flip(table.claim(bob, [writeRule("/srv/repo/x", false)]))
        assert.instanceOf(conflict, Errors.ScopeConflict)
        assert.strictEqual(conflict.ruleIndex, 0)
        assert.deepStrictEqual(yield* listed(table), [claimOf(alice, [writeRule("/srv/repo")])])
      }))

    test("after the winner releases, the other's claim succeeds", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/repo")])
        const conflict = yield* Effect.flip(table.claim(bob, [writeRule("/srv/repo")]))
        assert.instanceOf(conflict, Errors.ScopeConflict)
        yield* table.release(alice)
        yield* table.claim(bob, [writeRule("/srv/repo")])
        assert.deepStrictEqual(yield* listed(table), [claimOf(bob, [writeRule("/srv/repo")])])
        // and now alice is the one refused
        const reverse = yield* Effect.flip(table.claim(alice, [writeRule("/srv/repo/sub")]))
        assert.instanceOf(reverse, Errors.ScopeConflict)
        assert.deepStrictEqual(reverse.conflictsWith, { runtimeId: bob.runtimeId, workerId: bob.workerId })
      }))

    test("an owner never conflicts with itself", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [writeRule("/srv/repo")])
        // replacing with an overlapping claim, and overlapping rules within one claim
        yield* table.claim(alice, [writeRule("/srv/repo/src"), writeRule("/srv/repo", false)])
        assert.deepStrictEqual(yield* listed(table), [
          claimOf(alice, [writeRule("/srv/repo/src"), writeRule("/srv/repo", false)])
        ])
      }))

    test("the same workerId in different runtimes is a different owner", (table) =>
      Effect.gen(function*() {
        const here = ref("rt_1", "w_same")
        const there = ref("rt_2", "w_same")
        yield* table.claim(here, [writeRule("/srv/repo")])

        const conflict = yield* Effect.flip(table.claim(there, [writeRule("/srv/repo/src")]))
        assert.instanceOf(conflict, Errors.ScopeConflict)
        assert.deepStrictEqual(conflict.conflictsWith, { runtimeId: "rt_1", workerId: "w_same" })

        yield* table.claim(there, [writeRule("/srv/other")])
        assert.deepStrictEqual(yield* listed(table), [
          claimOf(here, [writeRule("/srv/repo")]),
          claimOf(there, [writeRule("/srv/other")])
        ])
        yield* table.release(here)
        assert.deepStrictEqual(yield* listed(table), [claimOf(there, [writeRule("/srv/other")])])
      }))
  })
}
