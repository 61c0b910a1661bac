/**
 * The transcript: a projection of a Worker's conversation for people and for the next turn's history — not the
 * raw provider trace. Entries have their own per-Worker `seq` (1, 2, 3, …), independent of event seqs.
 */
import { Schema } from "effect"
import { Count, Timestamp } from "./Worker.ts"

/** @category schemas */
export const TranscriptKind = Schema.Literals([
  "user",
  "assistant",
  "reasoning",
  "tool_call",
  "tool_result",
  "error"
])
/** @category models */
export type TranscriptKind = typeof TranscriptKind.Type

/** `interrupted` marks partial text of a cancelled or failed run. @category models */
export class TranscriptEntry extends Schema.Class<TranscriptEntry>("@yoi/domain/TranscriptEntry")({
  seq: Count,
  runId: Schema.String,
  kind: TranscriptKind,
  text: Schema.String,
  at: Timestamp,
  interrupted: Schema.optional(Schema.Boolean)
}) {}

/**
 * A bounded page. `total` counts every entry of the Worker; `hasMore` says whether entries exist beyond this page
 * in the paging direction (older for `before`/latest, newer for `after`).
 * @category models
 */
export class TranscriptPage extends Schema.Class<TranscriptPage>("@yoi/domain/TranscriptPage")({
  entries: Schema.Array(TranscriptEntry),
  total: Count,
  hasMore: Schema.Boolean
}) {}

/** A validated page request. @category models */
export interface TranscriptQuery {
  readonly before?: number | undefined
  readonly after?: number | undefined
  readonly limit: number
}

/**
 * The one definition of transcript paging, shared by every store. Transcript seqs are contiguous (1..total), so a
 * page is a seq range computed in O(1) and read in O(limit):
 * with `after`, the first `limit` entries with seq > after (and < before if given); otherwise the last `limit`
 * entries with seq < before (the latest when neither is given). An empty range has `start > end`.
 * @category constructors
 */
export const pageRange = (
  total: number,
  query: TranscriptQuery
): { readonly start: number; readonly end: number; readonly hasMore: boolean } => {
  const lo = Math.max(1, query.after === undefined ? 1 : query.after + 1)
  const hi = Math.min(total, query.before === undefined ? total : query.before - 1)
  if (lo > hi) return { start: 1, end: 0, hasMore: false }
  if (query.after !== undefined) {
    const end = Math.min(hi, lo + query.limit - 1)
    return { start: lo, end, hasMore: end < hi }
  }
  const start = Math.max(lo, hi - query.limit + 1)
  return { start, end: hi, hasMore: start > lo }
}
