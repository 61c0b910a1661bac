/**
 * Search in sorted arrays: the one binary search behind every cursor read (events after a seq in a store or a
 * replay ring, Worker ids after a page cursor).
 *
 * Cursors are exclusive (`after: 7` means "from the first item past 7"), so the search every caller needs is the
 * upper bound: the first position whose item sorts after the key. Deliberately not here: sorting, inserting or any
 * check that the input is sorted — callers keep their arrays in order (logs are appended in seq order).
 */

/**
 * The index of the first item of `sorted` that sorts after `key` (`sorted.length` when none does), in O(log n).
 * `compare(item, key)` is negative, zero or positive as `item` sorts before, with or after `key`; with duplicates
 * of `key`, the index is past the last of them.
 *
 * **Details** The key may be of another type than the items (a seq against events), and Effect's `Order`s fit
 * as they are: `upperBound(seqs, 7, Order.Number)`, `upperBound(ids, cursor, Order.String)`,
 * `upperBound(events, after, bySeq)`.
 * @category constructors
 */
export const upperBound = <A, K>(
  sorted: ReadonlyArray<A>,
  key: K,
  compare: (item: A, key: K) => number
): number => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compare(sorted[mid]!, key) > 0) hi = mid
    else lo = mid + 1
  }
  return lo
}

/**
 * Compares an item carrying a `seq` (an event, a transcript entry) with a seq: the comparison for the first item
 * after a seq cursor, `upperBound(events, after, bySeq)`.
 * @category constructors
 */
export const bySeq = (item: { readonly seq: number }, seq: number): number => item.seq - seq
