/**
 * Timed loops. A body is an Effect that answers how long it took in microseconds (`timed` for an Effect,
 * `timedPromise` for a bare Promise baseline, timed inside the Promise so no Effect overhead is counted). A body
 * that fails is a defect: the case crashes and the harness reports it.
 * `compare` warms up every body, then runs them in alternating rounds until each has `count` samples or the
 * budget is spent, so drift (JIT, GC, page cache) falls on all of them alike.
 */
import { Effect } from "effect"
import { deadline, now } from "./Measure.ts"

export interface LoopOptions {
  readonly warmup: number
  readonly count: number
  readonly budgetMs: number
}

export type Timed<R = never> = Effect.Effect<number, never, R>

export const timed = <A, E, R>(body: Effect.Effect<A, E, R>): Timed<R> =>
  Effect.suspend(() => {
    const start = now()
    return Effect.map(Effect.orDie(body), () => (now() - start) * 1000)
  })

export const timedPromise = (body: () => Promise<unknown>): Timed =>
  Effect.promise(() => {
    const start = now()
    return body().then(() => (now() - start) * 1000)
  })

const roundSize = 50

/** Samples (µs) of each body, in the order given. */
export const compare = <R>(bodies: ReadonlyArray<Timed<R>>, options: LoopOptions) =>
  Effect.gen(function*() {
    for (const body of bodies) {
      for (let i = 0; i < options.warmup; i++) yield* body
    }
    const samples = bodies.map((): Array<number> => [])
    const budget = deadline(options.budgetMs)
    while (samples[0]!.length < options.count && !budget.expired()) {
      for (let b = 0; b < bodies.length; b++) {
        for (let i = 0; i < roundSize; i++) samples[b]!.push(yield* bodies[b]!)
      }
    }
    return samples
  })

/** Samples (µs) of one body. */
export const timeLoop = <A, E, R>(body: Effect.Effect<A, E, R>, options: LoopOptions) =>
  Effect.map(compare([timed(body)], options), (samples) => samples[0]!)
