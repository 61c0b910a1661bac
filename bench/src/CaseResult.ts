/**
 * What one benchmark case reports: rows of figures, each a subject measured against a baseline measured in the
 * same run, with the absolute numbers beside the ratio. The harness prints these rows as the table and writes them
 * unchanged to `bench/results/latest.json`.
 *
 * A case module (including `bench/peer-langgraph/case.ts`) exports
 * `run(options: CaseOptions): Promise<CaseResult | Skipped>`.
 */

/** One figure: `ratio = subject / baseline` (lower is better unless `higherIsBetter`). */
export interface Row {
  /** What is measured, e.g. "turn p50". */
  readonly metric: string
  /** Unit of `baseline` and `subject`: "µs", "ms", "ops/s", "KB", "events/s", … */
  readonly unit: string
  readonly baseline: number | null
  readonly subject: number
  /** `subject / baseline`, or null when there is no baseline for this figure. */
  readonly ratio: number | null
  /** The goal as text, e.g. "≤ 3×" or "≤ 100 µs"; null when the row is context only. */
  readonly target: string | null
  /** Whether the target is met; null when there is no target. */
  readonly met: boolean | null
  /** True for throughputs (ops/s), where the ratio is reported as baseline / subject so that > 1 means slower. */
  readonly higherIsBetter?: boolean | undefined
}

export interface CaseResult {
  /** "1" … "8". */
  readonly id: string
  readonly title: string
  /** What the baseline is, in one line. */
  readonly baseline: string
  /** What the subject is, in one line. */
  readonly subject: string
  readonly rows: ReadonlyArray<Row>
  /** Counts, sizes, how data was produced, and — where a target is missed — the measured cause. */
  readonly notes: ReadonlyArray<string>
  /** Absolute numbers for context (counts, totals, RSS …). */
  readonly context: Readonly<Record<string, number | string>>
}

export interface Skipped {
  readonly skipped: string
}

export interface CaseOptions {
  readonly quick: boolean
}

/**
 * A row from a subject and a baseline of the same unit. Durations and sizes: ratio = subject / baseline. Throughputs
 * (`higherIsBetter`): ratio = baseline / subject, so for every row a ratio above 1 means the subject is slower.
 */
export const row = (fields: {
  readonly metric: string
  readonly unit: string
  readonly baseline: number | null
  readonly subject: number
  readonly maxRatio?: number | undefined
  readonly maxAbsolute?: number | undefined
  readonly higherIsBetter?: boolean | undefined
}): Row => {
  const { baseline, subject } = fields
  const ratio = baseline === null || baseline === 0
    ? null
    : fields.higherIsBetter === true
    ? baseline / subject
    : subject / baseline
  const goals: Array<string> = []
  let met: boolean | null = null
  if (fields.maxRatio !== undefined) {
    goals.push(`≤ ${fields.maxRatio}×`)
    met = ratio !== null && ratio <= fields.maxRatio
  }
  if (fields.maxAbsolute !== undefined) {
    goals.push(`≤ ${fields.maxAbsolute} ${fields.unit}`)
    met = (met ?? true) && subject <= fields.maxAbsolute
  }
  return {
    metric: fields.metric,
    unit: fields.unit,
    baseline,
    subject,
    ratio,
    target: goals.length === 0 ? null : goals.join(", "),
    met,
    ...(fields.higherIsBetter === true ? { higherIsBetter: true } : {})
  }
}
