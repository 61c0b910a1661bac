import { assert, describe, it } from "@effect/vitest"
import { Effect, Order } from "effect"
import * as Sorted from "../src/Sorted.ts"

/** The definition, by a linear scan: the first index whose item sorts after `key`. */
const linear = (sorted: ReadonlyArray<number>, key: number) => {
  const i = sorted.findIndex((item) => item > key)
  return i === -1 ? sorted.length : i
}

describe("Sorted.upperBound", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<number>, number, number]> = [
    ["empty array", [], 5, 0],
    ["key before the first item", [2, 4, 6], 1, 0],
    ["key equal to the first item", [2, 4, 6], 2, 1],
    ["key between items", [2, 4, 6], 3, 1],
    ["key equal to a middle item", [2, 4, 6], 4, 2],
    ["key equal to the last item", [2, 4, 6], 6, 3],
    ["key after the last item", [2, 4, 6], 9, 3],
    ["one item, key before it", [7], 6, 0],
    ["one item, key equal to it", [7], 7, 1],
    ["duplicates of the key: past the last of them", [1, 3, 3, 3, 5], 3, 4],
    ["duplicates before the key", [3, 3, 3], 4, 3],
    ["duplicates after the key", [3, 3, 3], 2, 0],
    ["every item equal to the key", [3, 3, 3], 3, 3],
    ["negative key", [0, 1], -5, 0]
  ]
  it.effect.each(cases)("%s", ([, sorted, key, expected]) =>
    Effect.sync(() => {
      assert.strictEqual(Sorted.upperBound(sorted, key, Order.Number), expected)
    }))

  it.effect("agrees with a linear scan for every key around every array of up to 9 items with gaps and repeats", () =>
    Effect.sync(() => {
      for (let length = 0; length <= 9; length++) {
        const sorted = Array.from({ length }, (_, i) => Math.floor(i * 1.5))
        for (let key = -1; key <= 15; key++) {
          assert.strictEqual(Sorted.upperBound(sorted, key, Order.Number), linear(sorted, key), `${sorted} / ${key}`)
        }
      }
    }))

  it.effect("the key may be another type than the items (a seq against events)", () =>
    Effect.sync(() => {
      const events = [{ seq: 1 }, { seq: 3 }, { seq: 4 }, { seq: 9 }]
      const after = (seq: number) => Sorted.upperBound(events, seq, Sorted.bySeq)
      assert.deepStrictEqual([0, 1, 2, 3, 4, 8, 9, 10].map(after), [0, 1, 1, 2, 3, 3, 4, 4])
    }))

  it.effect("strings under Order.String: the page after a cursor, whether or not the cursor is still listed", () =>
    Effect.sync(() => {
      const ids = ["w_a", "w_c", "w_d"]
      assert.strictEqual(Sorted.upperBound(ids, "w_a", Order.String), 1)
      assert.strictEqual(Sorted.upperBound(ids, "w_b", Order.String), 1, "a cursor that was removed")
      assert.strictEqual(Sorted.upperBound(ids, "w_d", Order.String), 3)
      assert.strictEqual(Sorted.upperBound(ids, "", Order.String), 0)
    }))
})
