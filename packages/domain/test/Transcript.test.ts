import { assert, describe, it } from "@effect/vitest"
import * as Transcript from "../src/Transcript.ts"

const range = (from: number, to: number): Array<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

/** The seqs a page range selects, and whether there is more in the paging direction. */
const page = (total: number, query: Transcript.TranscriptQuery) => {
  const { end, hasMore, start } = Transcript.pageRange(total, query)
  return { seqs: range(start, end), hasMore }
}

/** The definition, the slow way: filter every seq, then take from the paging end. */
const reference = (total: number, query: Transcript.TranscriptQuery) => {
  const candidates = range(1, total).filter((seq) =>
    (query.after === undefined || seq > query.after) && (query.before === undefined || seq < query.before)
  )
  const seqs = query.after !== undefined ? candidates.slice(0, query.limit) : candidates.slice(-query.limit)
  return { seqs, hasMore: candidates.length > query.limit }
}

/** name, total, query, the seqs of the page, hasMore. */
type Case = readonly [string, number, Transcript.TranscriptQuery, ReadonlyArray<number>, boolean]

const cases: ReadonlyArray<Case> = [
  ["latest page by default", 10, { limit: 3 }, [8, 9, 10], true],
  ["latest page when the limit covers everything", 3, { limit: 5 }, [1, 2, 3], false],
  ["latest page of exactly limit entries", 4, { limit: 4 }, [1, 2, 3, 4], false],
  ["before: the entries just older", 10, { before: 6, limit: 3 }, [3, 4, 5], true],
  ["before: reaching the first entry", 10, { before: 4, limit: 3 }, [1, 2, 3], false],
  ["before: fewer left than the limit", 10, { before: 3, limit: 5 }, [1, 2], false],
  ["before past the end: the latest page", 5, { before: 99, limit: 2 }, [4, 5], true],
  ["before = total + 1: the latest page", 5, { before: 6, limit: 5 }, [1, 2, 3, 4, 5], false],
  ["before = 1: nothing older", 10, { before: 1, limit: 3 }, [], false],
  ["before = 0: nothing older", 10, { before: 0, limit: 3 }, [], false],
  ["before < 0: nothing older", 10, { before: -4, limit: 3 }, [], false],
  ["after: the entries just newer", 10, { after: 3, limit: 3 }, [4, 5, 6], true],
  ["after: reaching the last entry", 10, { after: 7, limit: 3 }, [8, 9, 10], false],
  ["after: fewer left than the limit", 10, { after: 8, limit: 5 }, [9, 10], false],
  ["after = 0: the oldest page", 10, { after: 0, limit: 3 }, [1, 2, 3], true],
  ["after < 0: the oldest page", 10, { after: -5, limit: 2 }, [1, 2], true],
  ["after = total: nothing newer", 10, { after: 10, limit: 3 }, [], false],
  ["after > total: nothing newer", 10, { after: 25, limit: 3 }, [], false],
  ["after + before: a window, oldest first", 20, { after: 5, before: 15, limit: 4 }, [6, 7, 8, 9], true],
  ["after + before: the whole window fits", 20, { after: 5, before: 9, limit: 4 }, [6, 7, 8], false],
  ["after + before: the window is exactly limit", 20, { after: 5, before: 10, limit: 4 }, [6, 7, 8, 9], false],
  ["after + before: before past the end", 8, { after: 5, before: 50, limit: 10 }, [6, 7, 8], false],
  ["after + before: adjacent cursors, empty", 20, { after: 5, before: 6, limit: 4 }, [], false],
  ["after + before: crossed cursors, empty", 20, { after: 9, before: 3, limit: 4 }, [], false],
  ["limit 1, latest", 10, { limit: 1 }, [10], true],
  ["limit 1, after", 10, { after: 4, limit: 1 }, [5], true],
  ["limit 1, before", 10, { before: 2, limit: 1 }, [1], false],
  ["limit 200 of a long transcript", 1_000_000, { limit: 200 }, range(999_801, 1_000_000), true],
  ["empty transcript, latest", 0, { limit: 10 }, [], false],
  ["empty transcript, before", 0, { before: 5, limit: 10 }, [], false],
  ["empty transcript, after", 0, { after: 0, limit: 10 }, [], false]
]

describe("Transcript.pageRange", () => {
  it.each(cases)("%s", (_name, total, query, seqs, hasMore) => {
    assert.deepStrictEqual(page(total, query), { seqs: [...seqs], hasMore })
  })

  it("an empty page is an empty range (start > end) with nothing more", () => {
    for (
      const [total, query] of [[0, { limit: 3 }], [5, { after: 5, limit: 3 }], [5, { before: 1, limit: 3 }]] as const
    ) {
      const result = Transcript.pageRange(total, query)
      assert.isAbove(result.start, result.end)
      assert.isFalse(result.hasMore)
    }
  })

  it("paging backwards from the latest page visits every entry once, newest pages first", () => {
    const total = 23
    const seen: Array<number> = []
    let query: Transcript.TranscriptQuery = { limit: 5 }
    for (let pages = 0; pages < 10; pages++) {
      const { hasMore, seqs } = page(total, query)
      seen.unshift(...seqs)
      if (!hasMore) break
      query = { before: seqs[0]!, limit: 5 }
    }
    assert.deepStrictEqual(seen, range(1, total))
  })

  it("paging forwards from after 0 visits every entry once, oldest pages first", () => {
    const total = 23
    const seen: Array<number> = []
    let query: Transcript.TranscriptQuery = { after: 0, limit: 5 }
    for (let pages = 0; pages < 10; pages++) {
      const { hasMore, seqs } = page(total, query)
      seen.push(...seqs)
      if (!hasMore) break
      query = { after: seqs.at(-1)!, limit: 5 }
    }
    assert.deepStrictEqual(seen, range(1, total))
  })

  it("matches the filter-then-take definition for every small total, cursor and limit", () => {
    const cursors = [undefined, ...range(-1, 14)]
    let checked = 0
    for (const total of range(0, 12)) {
      for (const after of cursors) {
        for (const before of cursors) {
          for (const limit of range(1, 13)) {
            const query = { after, before, limit }
            assert.deepStrictEqual(page(total, query), reference(total, query), JSON.stringify({ total, ...query }))
            checked++
          }
        }
      }
    }
    assert.strictEqual(checked, 13 * 17 * 17 * 13)
  })
})
