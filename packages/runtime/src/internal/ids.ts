/**
 * Time-ordered identifiers (ULID-shaped: 10 characters of millisecond time, then a monotonic part), so ids sort by
 * creation and `ListWorkers` can page by id. Time and randomness come from the Effect `Clock` and `Random`.
 */
import { Clock, Effect, Random } from "effect"

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

const encode = (value: number, length: number): string => {
  let out = ""
  let n = value
  for (let i = 0; i < length; i++) {
    out = alphabet[n % 32] + out
    n = Math.floor(n / 32)
  }
  return out
}

/** A generator whose ids increase strictly within one process, even within one millisecond. */
export const makeIdGenerator = Effect.gen(function*() {
  const seed = yield* Random.nextIntBetween(0, 2 ** 30)
  let lastTime = -1
  let counter = seed
  return (prefix: string): Effect.Effect<string> =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const time = Math.max(now, lastTime)
      if (time === lastTime) counter++
      else counter = seed
      lastTime = time
      return `${prefix}${encode(time, 10)}${encode(counter, 8)}`
    })
})
