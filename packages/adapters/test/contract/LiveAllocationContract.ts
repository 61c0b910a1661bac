/**
 * The `LiveAllocation` contract: what every adapter (memory, filesystem, …) must do, as one suite.
 *
 * Each test builds its own table with `Layer.fresh(layer)`, so tests share no state and may run concurrently. A layer
 * whose construction needs a resource (a temp directory from a sub-layer, …) gets a new one per test too, because
 * `Layer.fresh` rebuilds the whole graph. Conflict rules themselves are tested in `domain/test/Allocation.test.ts`;
 * this suite checks that an adapter applies them atomically to its table.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Allocation, Errors, Ids, LiveAllocation, Worker } from "@yoi/domain"
import { Effect, Layer, type Scope } from "effect"

type Table = LiveAllocation.LiveAllocation["Service"]

const ref = (runtimeId: string, workerId: string): Ids.WorkerRef =>
  new Ids.WorkerRef({ runtimeId: Ids.RuntimeId.make(runtimeId), workerId: Ids.WorkerId.make(workerId) })

const write = (target: string, recursive = true): Worker.ScopeRule =>
  new Worker.ScopeRule({ target, permission: "write", recursive })

const read = (target: string, recursive = true): Worker.ScopeRule =>
  new Worker.ScopeRule({ target, permission: "read", recursive })

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
        const rules = [write("/srv/a"), read("/srv/shared", false)]
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
        yield* table.claim(alice, [write("/srv/a")])
        yield* table.claim(bob, [write("/srv/b")])
        yield* table.release(alice)
        yield* table.release(alice)
        assert.deepStrictEqual(yield* listed(table), [claimOf(bob, [write("/srv/b")])])
      }))

    test("claiming again replaces the owner's claim", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/a"), write("/srv/b")])
        yield* table.claim(alice, [write("/srv/c")])
        assert.deepStrictEqual(yield* listed(table), [claimOf(alice, [write("/srv/c")])])
        // the dropped targets are free for others now
        yield* table.claim(bob, [write("/srv/a")])
        assert.strictEqual((yield* table.list).length, 2)
      }))

    test("claiming no rules releases", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/a")])
        yield* table.claim(alice, [])
        assert.deepStrictEqual(yield* table.list, [])
        yield* table.claim(bob, [write("/srv/a")])
        assert.deepStrictEqual(yield* listed(table), [claimOf(bob, [write("/srv/a")])])
      }))

    test("only write rules conflict: read next to write on the same path is fine", (table) =>
      Effect.gen(function*() {
        const carol = ref("rt_1", "w_carol")
        yield* table.claim(alice, [write("/srv/repo")])
        yield* table.claim(bob, [read("/srv/repo")])
        yield* table.claim(carol, [read("/srv/repo/src", false), read("/srv/repo")])
        assert.deepStrictEqual(yield* listed(table), [
          claimOf(alice, [write("/srv/repo")]),
          claimOf(bob, [read("/srv/repo")]),
          claimOf(carol, [read("/srv/repo/src", false), read("/srv/repo")])
        ])
      }))

    test("write claims on disjoint paths coexist (segment boundaries count)", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/a/b")])
        yield* table.claim(bob, [write("/srv/a/bc")])
        assert.strictEqual((yield* table.list).length, 2)
      }))

    test("a conflicting claim fails with ScopeConflict naming the competitor and rule, and changes nothing", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/repo/a")])
        yield* table.claim(bob, [write("/srv/elsewhere")])
        const before = yield* listed(table)

        const conflict = yield* Effect.flip(
          table.claim(bob, [read("/srv/repo"), write("/srv/other"), write("/srv/repo/a/src")])
        )
        assert.instanceOf(conflict, Errors.ScopeConflict)
        assert.deepStrictEqual(conflict.conflictsWith, { runtimeId: alice.runtimeId, workerId: alice.workerId })
        assert.strictEqual(conflict.ruleIndex, 2)

        // the table is as it was, and bob's previous claim is intact
        assert.deepStrictEqual(yield* listed(table), before)
        assert.deepStrictEqual(before, [
          claimOf(alice, [write("/srv/repo/a")]),
          claimOf(bob, [write("/srv/elsewhere")])
        ])
      }))

    test("a first claim that conflicts leaves the owner without a claim", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/repo")])
        const conflict = yield* Effect.flip(table.claim(bob, [write("/srv/repo/x", false)]))
        assert.instanceOf(conflict, Errors.ScopeConflict)
        assert.strictEqual(conflict.ruleIndex, 0)
        assert.deepStrictEqual(yield* listed(table), [claimOf(alice, [write("/srv/repo")])])
      }))

    test("after the winner releases, the other's claim succeeds", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/repo")])
        const conflict = yield* Effect.flip(table.claim(bob, [write("/srv/repo")]))
        assert.instanceOf(conflict, Errors.ScopeConflict)
        yield* table.release(alice)
        yield* table.claim(bob, [write("/srv/repo")])
        assert.deepStrictEqual(yield* listed(table), [claimOf(bob, [write("/srv/repo")])])
        // and now alice is the one refused
        const reverse = yield* Effect.flip(table.claim(alice, [write("/srv/repo/sub")]))
        assert.instanceOf(reverse, Errors.ScopeConflict)
        assert.deepStrictEqual(reverse.conflictsWith, { runtimeId: bob.runtimeId, workerId: bob.workerId })
      }))

    test("an owner never conflicts with itself", (table) =>
      Effect.gen(function*() {
        yield* table.claim(alice, [write("/srv/repo")])
        // replacing with an overlapping claim, and overlapping rules within one claim
        yield* table.claim(alice, [write("/srv/repo/src"), write("/srv/repo", false)])
        assert.deepStrictEqual(yield* listed(table), [
          claimOf(alice, [write("/srv/repo/src"), write("/srv/repo", false)])
        ])
      }))

    test("the same workerId in different runtimes is a different owner", (table) =>
      Effect.gen(function*() {
        const here = ref("rt_1", "w_same")
        const there = ref("rt_2", "w_same")
        yield* table.claim(here, [write("/srv/repo")])

        const conflict = yield* Effect.flip(table.claim(there, [write("/srv/repo/src")]))
        assert.instanceOf(conflict, Errors.ScopeConflict)
        assert.deepStrictEqual(conflict.conflictsWith, { runtimeId: "rt_1", workerId: "w_same" })

        yield* table.claim(there, [write("/srv/other")])
        assert.deepStrictEqual(yield* listed(table), [
          claimOf(here, [write("/srv/repo")]),
          claimOf(there, [write("/srv/other")])
        ])
        yield* table.release(here)
        assert.deepStrictEqual(yield* listed(table), [claimOf(there, [write("/srv/other")])])
      }))
  })
}
