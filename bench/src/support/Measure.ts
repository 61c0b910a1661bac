/**
 * Measuring: wall-clock timers (benchmarks may use real time; they are not tests), percentiles, garbage collection
 * and resident memory. Every loop a case runs is bounded by a count and by a `Deadline`, so a case stops by itself.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/** Milliseconds since an arbitrary origin, sub-microsecond resolution. */
export const now = (): number => performance.now()

export interface Summary {
  readonly n: number
  readonly mean: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

export const summarize = (values: ReadonlyArray<number>): Summary => {
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
  let total = 0
  for (const value of sorted) total += value
  return {
    n: sorted.length,
    mean: sorted.length === 0 ? Number.NaN : total / sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!
  }
}

/** A time budget: `expired()` once `ms` have passed since it was made. */
export interface Deadline {
  readonly expired: () => boolean
  readonly remainingMs: () => number
}

export const deadline = (ms: number): Deadline => {
  const end = now() + ms
  return { expired: () => now() >= end, remainingMs: () => Math.max(0, end - now()) }
}

let collector: (() => void) | undefined

/** A full garbage collection (the harness starts cases with `--expose-gc`; otherwise it is enabled here). */
export const gc = (): void => {
  if (collector === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc
    if (exposed !== undefined) collector = exposed
    else {
      setFlagsFromString("--expose-gc")
      collector = runInNewContext("gc") as () => void
    }
  }
  collector()
  collector()
}

/** Resident set size in bytes after a full collection. */
export const settledRss = async (): Promise<number> => {
  gc()
  await new Promise((resolve) => setTimeout(resolve, 20))
  gc()
  return process.memoryUsage().rss
}

/** Heap used in bytes after a full collection. */
export const settledHeap = (): number => {
  gc()
  return process.memoryUsage().heapUsed
}

export const round = (value: number, digits = 2): number => {
  if (!Number.isFinite(value)) return value
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}
