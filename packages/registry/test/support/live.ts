/**
 * Test support for tests that move the `TestClock` while real IO (an HTTP exchange, a runtime process) is in flight:
 * `TestClock.adjust` starts what was due but does not wait for its IO, so a test waits for the outcome it expects by
 * hopping the event loop. Not a timed sleep: test time stands still, and the wall-clock bound only turns a hang into
 * a clear failure before the test's own timeout.
 */
import { assert } from "@effect/vitest"
import { hop } from "@yoi/runtime/test/support/hop"
import { Effect } from "effect"

/** Hops the event loop until `condition` holds; fails with `label` after `boundMs` of wall time. */
export const waitFor = <E, R>(label: string, condition: Effect.Effect<boolean, E, R>, boundMs = 20_000) =>
  Effect.gen(function*() {
    const giveUpAt = Date.now() + boundMs
    while (!(yield* condition)) {
      if (Date.now() > giveUpAt) return assert.fail(`not within ${boundMs} ms: ${label}`)
      yield* hop
    }
  })
