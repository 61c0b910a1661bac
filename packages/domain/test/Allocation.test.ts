import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Allocation from "../src/Allocation.ts"
import type { ScopeRule } from "../src/Worker.ts"
import { readRule, ref, writeRule } from "./support/fixtures.ts"

const rule = (target: string, recursive: boolean, permission: "read" | "write" = "write"): ScopeRule =>
  permission === "write" ? writeRule(target, recursive) : readRule(target, recursive)

const R = (target: string) => rule(target, true)
const N = (target: string) => rule(target, false)

const show = (r: ScopeRule) => `${r.target}${r.recursive ? "/**" : "/*"}`

/**
 * The overlap table of the legacy pod registry (`shared/reference/legacy-pod.md` §8): recursive rules cover
 * `target/**`, non-recursive rules the target and its direct children. Unlike the legacy string prefix test, paths
 * are compared by whole segments.
 */
const overlapTable: ReadonlyArray<readonly [string, ScopeRule, ScopeRule, boolean]> = [
  // recursive / recursive: either target within the other
  ["equal targets", R("/a/b"), R("/a/b"), true],
  ["b inside a", R("/a"), R("/a/b/c"), true],
  ["a inside b", R("/a/b/c"), R("/a"), true],
  ["siblings", R("/a/b"), R("/a/c"), false],
  ["segment boundary: /a/b vs /a/bc", R("/a/b"), R("/a/bc"), false],
  ["segment boundary: /a/bc vs /a/b", R("/a/bc"), R("/a/b"), false],
  ["segment boundary: /ab vs /a", R("/ab"), R("/a"), false],
  // recursive / non-recursive
  ["non-recursive target within recursive", R("/a"), N("/a/b/c"), true],
  ["non-recursive target equal to recursive", R("/a/b"), N("/a/b"), true],
  ["recursive target is a direct child of non-recursive", R("/a/b"), N("/a"), true],
  ["recursive target is a grandchild of non-recursive", R("/a/b/c"), N("/a"), false],
  ["unrelated", R("/a/b"), N("/c/d"), false],
  ["segment boundary: recursive /a/b vs non-recursive /a/bc", R("/a/b"), N("/a/bc"), false],
  ["segment boundary: non-recursive child /a/bc/d of recursive /a/b", R("/a/b"), N("/a/bc/d"), false],
  // non-recursive / non-recursive: equal, or one is the other's parent
  ["equal non-recursive", N("/a/b"), N("/a/b"), true],
  ["parent and child", N("/a"), N("/a/b"), true],
  ["child and parent", N("/a/b"), N("/a"), true],
  ["siblings do not overlap", N("/a/b"), N("/a/c"), false],
  ["grandparent does not overlap", N("/a"), N("/a/b/c"), false],
  ["segment boundary: /a/b vs /a/bc", N("/a/b"), N("/a/bc"), false],
  // the root
  ["recursive root covers everything", R("/"), N("/x/y/z"), true],
  ["recursive root vs recursive path", R("/"), R("/x/y"), true],
  ["recursive root vs recursive root", R("/"), R("/"), true],
  ["non-recursive root vs its child", N("/"), N("/x"), true],
  ["non-recursive root vs a recursive child", N("/"), R("/x"), true],
  ["non-recursive root vs a grandchild", N("/"), N("/x/y"), false],
  ["non-recursive root vs a recursive grandchild", N("/"), R("/x/y"), false],
  ["non-recursive root vs itself", N("/"), N("/"), true]
]

describe("Allocation", () => {
  describe("rulesOverlap (legacy pod-registry table)", () => {
    it.effect.each(overlapTable)("%s", ([, a, b, expected]) =>
      Effect.sync(() => {
        assert.strictEqual(Allocation.rulesOverlap(a, b), expected, `${show(a)} vs ${show(b)}`)
        assert.strictEqual(Allocation.rulesOverlap(b, a), expected, `${show(b)} vs ${show(a)} (symmetric)`)
      }))
  })

  describe("rulesConflict", () => {
    it.effect("only write/write overlaps conflict", () =>
      Effect.sync(() => {
        const permissions = ["read", "write"] as const
        for (const pa of permissions) {
          for (const pb of permissions) {
            const a = rule("/srv/repo", true, pa)
            const b = rule("/srv/repo/src", false, pb)
            assert.isTrue(Allocation.rulesOverlap(a, b))
            assert.strictEqual(Allocation.rulesConflict(a, b), pa === "write" && pb === "write", `${pa}/${pb}`)
          }
        }
      }))

    it.effect("write rules that do not overlap do not conflict", () =>
      Effect.sync(() => {
        assert.isFalse(Allocation.rulesConflict(R("/a/b"), R("/a/bc")))
        assert.isFalse(Allocation.rulesConflict(N("/a"), N("/a/b/c")))
      }))
  })

  describe("findConflict", () => {
    const alice = ref("rt_1", "w_alice")
    const bob = ref("rt_1", "w_bob")
    const aliceElsewhere = ref("rt_2", "w_alice")

    it.effect("names the first conflicting owner and the index of the requested rule", () =>
      Effect.sync(() => {
        const existing = [
          new Allocation.Allocation({ owner: alice, rules: [R("/srv/a")] }),
          new Allocation.Allocation({ owner: bob, rules: [R("/srv/b")] })
        ]
        const found = Allocation.findConflict(existing, aliceElsewhere, [
          rule("/srv/b", true, "read"),
          R("/srv/other"),
          N("/srv/b/x")
        ])
        assert.isTrue(Option.isSome(found))
        const { owner, ruleIndex } = Option.getOrThrow(found)
        assert.strictEqual(owner.runtimeId, "rt_1")
        assert.strictEqual(owner.workerId, "w_bob")
        assert.strictEqual(ruleIndex, 2)
      }))

    it.effect("reports the lowest conflicting rule index and the smallest competitor, whatever the table order", () =>
      Effect.sync(() => {
        const carol = ref("rt_0", "w_carol")
        const claims = [
          new Allocation.Allocation({ owner: bob, rules: [R("/srv/x"), R("/srv/y")] }),
          new Allocation.Allocation({ owner: alice, rules: [R("/srv/y")] }),
          new Allocation.Allocation({ owner: carol, rules: [R("/srv/z")] })
        ]
        const request = [R("/srv/y/1"), R("/srv/x/1")]
        const answers = [claims, [...claims].reverse(), [claims[1]!, claims[2]!, claims[0]!]].map((order) =>
          Option.map(
            Allocation.findConflict(order, ref("rt_9", "w_new"), request),
            (c) => `${c.owner.runtimeId}/${c.owner.workerId}#${c.ruleIndex}`
          )
        )
        assert.deepStrictEqual(answers, [
          Option.some("rt_1/w_alice#0"),
          Option.some("rt_1/w_alice#0"),
          Option.some("rt_1/w_alice#0")
        ])
      }))

    it.effect("skips the requesting owner's own claim", () =>
      Effect.sync(() => {
        const existing = [new Allocation.Allocation({ owner: alice, rules: [R("/srv/a")] })]
        assert.isTrue(Option.isNone(Allocation.findConflict(existing, ref("rt_1", "w_alice"), [R("/srv/a")])))
        assert.isTrue(Option.isSome(Allocation.findConflict(existing, bob, [R("/srv/a")])))
      }))

    it.effect("the same workerId in another runtime is another owner", () =>
      Effect.sync(() => {
        const existing = [new Allocation.Allocation({ owner: alice, rules: [R("/srv/a")] })]
        const found = Allocation.findConflict(existing, aliceElsewhere, [N("/srv/a/x")])
        assert.deepStrictEqual(
          Option.map(found, ({ owner, ruleIndex }) => [owner.runtimeId, owner.workerId, ruleIndex]),
          Option.some(["rt_1", "w_alice", 0])
        )
      }))

    it.effect("read claims never conflict, and an empty table or empty request finds nothing", () =>
      Effect.sync(() => {
        const existing = [new Allocation.Allocation({ owner: alice, rules: [rule("/srv", true, "read")] })]
        assert.isTrue(Option.isNone(Allocation.findConflict(existing, bob, [R("/srv")])))
        assert.isTrue(Option.isNone(Allocation.findConflict([], bob, [R("/")])))
        assert.isTrue(Option.isNone(Allocation.findConflict(existing, bob, [])))
      }))
  })

  describe("normalizeTarget", () => {
    const normalized: ReadonlyArray<readonly [string, string]> = [
      ["/", "/"],
      ["//", "/"],
      ["/a/b", "/a/b"],
      ["/a/b/", "/a/b"],
      ["/a//b///c", "/a/b/c"],
      ["//a/b", "/a/b"],
      ["/a/./b/.", "/a/b"],
      ["/./", "/"],
      ["/a/.../b", "/a/.../b"],
      ["/a/..b/c..", "/a/..b/c.."],
      ["/with space/ünïcode", "/with space/ünïcode"]
    ]
    it.effect.each(normalized)("accepts %s as %s", ([input, expected]) =>
      Effect.sync(() => {
        assert.deepStrictEqual(Allocation.normalizeTarget(input), Option.some(expected))
      }))

    const rejected: ReadonlyArray<readonly [string, string]> = [
      ["empty", ""],
      ["relative", "a/b"],
      ["relative with dot", "./a"],
      ["parent segment", "/a/../b"],
      ["trailing parent segment", "/a/.."],
      ["only a parent segment", "/.."],
      ["NUL", "/a\u0000b"],
      ["newline", "/a\nb"],
      ["escape", "/a\u001b[31m"],
      ["DEL", "/a\u007f"],
      ["over 4096 characters", `/${"a".repeat(4096)}`]
    ]
    it.effect.each(rejected)("rejects %s", ([, input]) =>
      Effect.sync(() => {
        assert.isTrue(Option.isNone(Allocation.normalizeTarget(input)))
      }))

    it.effect("accepts a target of exactly 4096 characters", () =>
      Effect.sync(() => {
        const longest = `/${"a".repeat(4095)}`
        assert.deepStrictEqual(Allocation.normalizeTarget(longest), Option.some(longest))
      }))

    it.effect("a normalized target is a fixed point", () =>
      Effect.sync(() => {
        for (const [input] of normalized) {
          const once = Option.getOrThrow(Allocation.normalizeTarget(input))
          assert.deepStrictEqual(Allocation.normalizeTarget(once), Option.some(once))
        }
      }))
  })
})
