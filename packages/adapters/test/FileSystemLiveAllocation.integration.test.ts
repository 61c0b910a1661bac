/**
 * `FileSystemLiveAllocation` on a real temp directory: the shared contract, then what only a host-wide table does —
 * several instances (standing in for Runtime processes) on one directory, dead owners, leases, the lock file.
 *
 * Time is `TestClock`. Lock waits and renewals mix test time with real file IO, which `TestClock.adjust` does not
 * wait for, so tests that need both move the clock in small steps and hop the event loop in between (`drive`,
 * `waitFor`) instead of sleeping.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Errors, type Ids, LiveAllocation } from "@yoi/domain"
import { ref, writeRule } from "@yoi/domain/test/support/fixtures"
import { Clock, Context, Effect, Exit, Fiber, FileSystem, Layer, Path, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as FileSystemLiveAllocation from "../src/FileSystemLiveAllocation.ts"
import { liveAllocationContract } from "./contract/LiveAllocationContract.ts"
import { onTempDirectory } from "./support/fixtures.ts"

liveAllocationContract(
  "filesystem",
  onTempDirectory("yoi-allocation-contract-", (directory) => FileSystemLiveAllocation.layer({ directory }))
)

const alice = ref("rt_a", "w_alice")
const bob = ref("rt_b", "w_bob")

const PID_A = 1_000_001
const PID_B = 1_000_002
const LEASE_MS = 15_000
/**
 * For tests that `drive`: the clock keeps moving while file IO is in flight (an fsync on a busy disk can span
 * thousands of steps), so leases, lock staleness and lock waits, where they are not the point, are made long enough
 * that a slow disk cannot expire them mid-test.
 */
const ROOMY = { leaseMs: 86_400_000, lockStaleMs: 86_400_000, lockTimeoutMs: 86_400_000 }

/** The on-disk table, as far as these tests look at it. */
const TableFile = Schema.fromJsonString(Schema.Struct({
  entries: Schema.Array(Schema.Struct({
    owner: Schema.Struct({ runtimeId: Schema.String, workerId: Schema.String }),
    instanceId: Schema.String,
    pid: Schema.Number,
    leaseExpiresAt: Schema.Number
  }))
}))

/** One turn of the event loop, so pending file IO can complete. Not a timed sleep. */
const hop = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Runs `effect` to its exit, moving the test clock `stepMs` at a time while it waits. */
const drive = <A, E>(effect: Effect.Effect<A, E>, stepMs = 5) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    while (fiber.pollUnsafe() === undefined) {
      yield* hop
      yield* TestClock.adjust(stepMs)
    }
    return yield* Fiber.await(fiber)
  })

/**
 * Hops the event loop (test time stands still) until `condition` holds. The bound is wall time, not a hop count: on a
 * loaded machine one file operation can outlast tens of thousands of hops. It only turns a hang into a clear failure
 * before the test's own timeout.
 */
const waitFor = <E>(condition: Effect.Effect<boolean, E>) =>
  Effect.gen(function*() {
    const giveUpAt = Date.now() + 20_000
    while (Date.now() < giveUpAt) {
      if (yield* condition) return
      yield* hop
    }
    assert.fail("condition never held")
  })

/** A temp directory, a mutable set of dead pids, and instances (stand-ins for Runtime processes) over both. */
const setup = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const directory = yield* fs.makeTempDirectoryScoped()
  const dead = new Set<number>()
  // How often each pid's liveness was asked: the one sign, outside the adapter, that a lock attempt has looked.
  const probes = new Map<number, number>()
  const options = (instanceId: string, pid: number, extra?: Partial<FileSystemLiveAllocation.Options>) => ({
    directory,
    instanceId,
    pid,
    isProcessAlive: (p: number) => {
      probes.set(p, (probes.get(p) ?? 0) + 1)
      return !dead.has(p)
    },
    ...extra
  })
  const instance = (instanceId: string, pid: number, extra?: Partial<FileSystemLiveAllocation.Options>) =>
    FileSystemLiveAllocation.make(options(instanceId, pid, extra))
  const tablePath = path.join(directory, "allocations.json")
  const lockPath = path.join(directory, "allocations.lock")
  const readTable = fs.readFileString(tablePath).pipe(Effect.flatMap(Schema.decodeUnknownEffect(TableFile)))
  const writeLock = (content: { pid: number; acquiredAt: number }) =>
    fs.writeFileString(lockPath, JSON.stringify({ ...content, instanceId: "inst_ghost", token: "ghost" }))
  return { fs, path, directory, dead, probes, options, instance, tablePath, lockPath, readTable, writeLock }
})

const owners = (table: LiveAllocation.LiveAllocation["Service"]) =>
  Effect.map(table.list, (allocations) => allocations.map((a) => `${a.owner.runtimeId}/${a.owner.workerId}`).sort())

const isConflictWith = (exit: Exit.Exit<void, unknown>, winner: Ids.WorkerRef) => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
  assert.isDefined(error)
  assert.strictEqual(error?._tag, "Some")
  const conflict = error?._tag === "Some" ? error.value : undefined
  assert.instanceOf(conflict, Errors.ScopeConflict)
  assert.deepStrictEqual((conflict as Errors.ScopeConflict).conflictsWith, {
    runtimeId: winner.runtimeId,
    workerId: winner.workerId
  })
}

describe("FileSystemLiveAllocation", () => {
  it.effect("two instances claiming overlapping write scopes: exactly one wins, the other is told who", () =>
    Effect.gen(function*() {
      const { instance } = yield* setup
      const a = yield* instance("inst_a", PID_A, ROOMY)
      const b = yield* instance("inst_b", PID_B, ROOMY)

      const exit = yield* drive(Effect.all([
        Effect.exit(a.claim(alice, [writeRule("/srv/repo")])),
        Effect.exit(b.claim(bob, [writeRule("/srv/repo/src")]))
      ], { concurrency: "unbounded" }))
      assert.isTrue(Exit.isSuccess(exit))
      const [fromA, fromB] = Exit.isSuccess(exit) ? exit.value : assert.fail("claims died")

      assert.strictEqual([fromA, fromB].filter(Exit.isSuccess).length, 1)
      const winner = Exit.isSuccess(fromA) ? alice : bob
      isConflictWith(Exit.isSuccess(fromA) ? fromB : fromA, winner)
      const expected = [`${winner.runtimeId}/${winner.workerId}`]
      assert.deepStrictEqual(yield* owners(a), expected)
      assert.deepStrictEqual(yield* owners(b), expected)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a winner whose pid is dead is reclaimed by the next claim", () =>
    Effect.gen(function*() {
      const { instance, dead, readTable } = yield* setup
      const a = yield* instance("inst_a", PID_A)
      const b = yield* instance("inst_b", PID_B)

      yield* a.claim(alice, [writeRule("/srv/repo")])
      isConflictWith(yield* Effect.exit(b.claim(bob, [writeRule("/srv/repo")])), alice)

      dead.add(PID_A)
      // a dead owner is not listed even before anyone reclaims it
      assert.deepStrictEqual(yield* owners(b), [])
      assert.strictEqual((yield* readTable).entries.length, 1)

      yield* b.claim(bob, [writeRule("/srv/repo")])
      assert.deepStrictEqual(yield* owners(b), ["rt_b/w_bob"])
      // the reclaim was saved: the dead entry is gone from the file
      assert.deepStrictEqual((yield* readTable).entries.map((e) => e.instanceId), ["inst_b"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("an expired lease is reclaimed, not a moment earlier", () =>
    Effect.gen(function*() {
      const { instance } = yield* setup
      const a = yield* instance("inst_a", PID_A, { renew: false, leaseMs: LEASE_MS })
      const b = yield* instance("inst_b", PID_B, { renew: false, leaseMs: LEASE_MS })

      yield* a.claim(alice, [writeRule("/srv/repo")])
      yield* TestClock.adjust(LEASE_MS - 1)
      isConflictWith(yield* Effect.exit(b.claim(bob, [writeRule("/srv/repo")])), alice)
      assert.deepStrictEqual(yield* owners(b), ["rt_a/w_alice"])

      yield* TestClock.adjust(1)
      assert.deepStrictEqual(yield* owners(b), [])
      yield* b.claim(bob, [writeRule("/srv/repo")])
      assert.deepStrictEqual(yield* owners(a), ["rt_b/w_bob"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("renewal keeps a live instance's claim past leaseMs", () =>
    Effect.gen(function*() {
      const { instance, readTable, fs, lockPath } = yield* setup
      const a = yield* instance("inst_a", PID_A, { leaseMs: LEASE_MS })
      const b = yield* instance("inst_b", PID_B, { renew: false, leaseMs: LEASE_MS })
      yield* a.claim(alice, [writeRule("/srv/repo")])

      // Four renewal periods (leaseMs / 3 each): past the first lease. After each, wait until the renewal is on disk
      // and its lock released, so the renewal fiber is asleep again before the clock moves on.
      for (let period = 1; period <= 4; period++) {
        yield* TestClock.adjust(LEASE_MS / 3)
        const now = yield* Clock.currentTimeMillis
        yield* waitFor(Effect.gen(function*() {
          const entry = (yield* readTable).entries.find((e) => e.instanceId === "inst_a")
          return entry?.leaseExpiresAt === now + LEASE_MS && !(yield* fs.exists(lockPath))
        }))
        for (let i = 0; i < 10; i++) yield* hop
      }
      assert.strictEqual(yield* Clock.currentTimeMillis, LEASE_MS * 4 / 3)

      isConflictWith(yield* Effect.exit(b.claim(bob, [writeRule("/srv/repo/src")])), alice)
      assert.deepStrictEqual(yield* owners(b), ["rt_a/w_alice"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a stale lock left by a dead pid is broken and the claim proceeds at once", () =>
    Effect.gen(function*() {
      const { instance, dead, writeLock, fs, lockPath } = yield* setup
      const a = yield* instance("inst_a", PID_A)
      dead.add(4242)
      yield* writeLock({ pid: 4242, acquiredAt: 0 })

      // the test clock stands still: breaking a dead holder's lock does not wait
      const fiber = yield* Effect.forkChild(a.claim(alice, [writeRule("/srv/repo")]))
      yield* waitFor(Effect.sync(() => fiber.pollUnsafe() !== undefined))
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      assert.deepStrictEqual(yield* owners(a), ["rt_a/w_alice"])
      assert.isFalse(yield* fs.exists(lockPath))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a lock older than lockStaleMs is broken even if its holder is alive", () =>
    Effect.gen(function*() {
      const { instance, writeLock, fs, lockPath } = yield* setup
      const a = yield* instance("inst_a", PID_A, {
        leaseMs: 86_400_000,
        lockStaleMs: 30_000,
        lockTimeoutMs: 86_400_000
      })
      yield* writeLock({ pid: 4242, acquiredAt: 0 })

      // fresh: the claim waits on it
      const fiber = yield* Effect.forkChild(a.claim(alice, [writeRule("/srv/repo")]))
      for (let t = 0; t < 29_000; t += 500) {
        yield* hop
        yield* TestClock.adjust(500)
      }
      assert.isUndefined(fiber.pollUnsafe())
      // past lockStaleMs: broken, and the claim lands
      const exit = yield* drive(Fiber.join(fiber))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(yield* owners(a), ["rt_a/w_alice"])
      assert.isFalse(yield* fs.exists(lockPath))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a break guard left by a dead breaker is cleared", () =>
    Effect.gen(function*() {
      const { instance, dead, writeLock, fs, path, directory } = yield* setup
      const a = yield* instance("inst_a", PID_A, ROOMY)
      dead.add(4242)
      yield* writeLock({ pid: 4242, acquiredAt: 0 })
      const guard = path.join(directory, "allocations.lock.break")
      yield* fs.writeFileString(guard, JSON.stringify({ pid: 4242, instanceId: "x", acquiredAt: 0, token: "x" }))

      const exit = yield* drive(a.claim(alice, [writeRule("/srv/repo")]))
      assert.isTrue(Exit.isSuccess(exit))
      assert.isFalse(yield* fs.exists(guard))
      assert.deepStrictEqual(yield* owners(a), ["rt_a/w_alice"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a lock held by a live pid fails the claim with StoreFailure after lockTimeoutMs, path-free", () =>
    Effect.gen(function*() {
      const { instance, writeLock, fs, lockPath, directory, readTable } = yield* setup
      const a = yield* instance("inst_a", PID_A, { ...ROOMY, lockTimeoutMs: 1_000 })
      const b = yield* instance("inst_b", PID_B)
      yield* b.claim(bob, [writeRule("/srv/b")])
      yield* writeLock({ pid: 4242, acquiredAt: 0 })
      // Runs before the instances' own cleanup, which needs the lock: a failed assertion must not wedge it.
      yield* Effect.addFinalizer(() => Effect.ignore(fs.remove(lockPath, { force: true })))

      const fiber = yield* Effect.forkChild(a.claim(alice, [writeRule("/srv/repo")]))
      while ((yield* Clock.currentTimeMillis) < 900) {
        yield* hop
        yield* TestClock.adjust(10)
      }
      assert.isUndefined(fiber.pollUnsafe())

      const exit = yield* drive(Fiber.join(fiber), 10)
      assert.isAtLeast(yield* Clock.currentTimeMillis, 1_000)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
      const failure = error?._tag === "Some" ? error.value : undefined
      assert.instanceOf(failure, Errors.StoreFailure)
      const { message, operation } = failure as Errors.StoreFailure
      assert.strictEqual(operation, "claim")
      assert.strictEqual(message, "allocation table is busy")
      assert.notInclude(message, directory)

      // the holder's lock is untouched and the table unchanged
      assert.isTrue(yield* fs.exists(lockPath))
      assert.deepStrictEqual((yield* readTable).entries.map((e) => e.owner.workerId), ["w_bob"])
      yield* fs.remove(lockPath)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("20 concurrent claims from two instances on disjoint targets all land", () =>
    Effect.gen(function*() {
      const { instance } = yield* setup
      const a = yield* instance("inst_a", PID_A, ROOMY)
      const b = yield* instance("inst_b", PID_B, ROOMY)
      const refs = Array.from({ length: 20 }, (_, i) => ref(i % 2 === 0 ? "rt_a" : "rt_b", `w_${i}`))

      const exit = yield* drive(Effect.all(
        refs.map((owner, i) => (i % 2 === 0 ? a : b).claim(owner, [writeRule(`/srv/t${i}`)])),
        { concurrency: "unbounded" }
      ))
      assert.isTrue(Exit.isSuccess(exit))
      const expected = refs.map((r) => `${r.runtimeId}/${r.workerId}`).sort()
      assert.deepStrictEqual(yield* owners(a), expected)
      assert.deepStrictEqual(yield* owners(b), expected)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("closing a layer removes its instance's entries and only those", () =>
    Effect.gen(function*() {
      const { options, readTable } = yield* setup
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(FileSystemLiveAllocation.layer(options("inst_a", PID_A)), scope)
      const a = Context.get(context, LiveAllocation.LiveAllocation)
      const b = yield* FileSystemLiveAllocation.make(options("inst_b", PID_B))
      yield* a.claim(alice, [writeRule("/srv/a")])
      yield* a.claim(ref("rt_a", "w_other"), [writeRule("/srv/other")])
      yield* b.claim(bob, [writeRule("/srv/b")])
      assert.strictEqual((yield* owners(b)).length, 3)

      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* owners(b), ["rt_b/w_bob"])
      assert.deepStrictEqual((yield* readTable).entries.map((e) => e.instanceId), ["inst_b"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("closing a layer whose renewal is waiting on a busy lock interrupts the renewal, then removes its entries", () =>
    Effect.gen(function*() {
      const { options, probes, writeLock, fs, lockPath, readTable } = yield* setup
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        FileSystemLiveAllocation.layer({
          ...options("inst_a", PID_A),
          leaseMs: LEASE_MS,
          lockStaleMs: 86_400_000,
          lockTimeoutMs: 86_400_000
        }),
        scope
      )
      const a = Context.get(context, LiveAllocation.LiveAllocation)
      yield* a.claim(alice, [writeRule("/srv/a")])

      // Another process holds the lock when the renewal comes due: the renewal looks at the holder, then waits.
      yield* writeLock({ pid: 4242, acquiredAt: 0 })
      yield* Effect.addFinalizer(() => Effect.ignore(fs.remove(lockPath, { force: true })))
      yield* TestClock.adjust(LEASE_MS / 3)
      yield* waitFor(Effect.sync(() => (probes.get(4242) ?? 0) > 0))
      for (let i = 0; i < 10; i++) yield* hop

      // The holder lets go. Test time stands still, so the renewal's next retry never comes: closing must not wait
      // for it.
      yield* fs.remove(lockPath)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* waitFor(Effect.sync(() => closing.pollUnsafe() !== undefined))
      assert.deepStrictEqual((yield* readTable).entries, [])
      assert.isFalse(yield* fs.exists(lockPath))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a corrupt table is treated as empty and replaced by the next claim", () =>
    Effect.gen(function*() {
      const { instance, fs, tablePath, readTable } = yield* setup
      const a = yield* instance("inst_a", PID_A)
      yield* fs.writeFileString(tablePath, "{ not json")
      assert.deepStrictEqual(yield* owners(a), [])
      yield* a.claim(alice, [writeRule("/srv/repo")])
      assert.deepStrictEqual((yield* readTable).entries.map((e) => e.owner.workerId), ["w_alice"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a directory that cannot be created fails the layer with a path-free StoreFailure", () =>
    Effect.gen(function*() {
      const { fs, path, directory } = yield* setup
      const file = path.join(directory, "not-a-directory")
      yield* fs.writeFileString(file, "")
      const error = yield* Effect.flip(FileSystemLiveAllocation.make({ directory: path.join(file, "sub") }))
      assert.instanceOf(error, Errors.StoreFailure)
      assert.notInclude(error.message, directory)
      assert.notInclude(error.message, "/")
    }).pipe(Effect.provide(NodeServices.layer)))
})
