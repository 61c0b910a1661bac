/**
 * One turn of the event loop, for tests that move the `TestClock` while real IO (a filesystem store's appends, an
 * HTTP exchange) is in flight: `TestClock.adjust` starts what was due but does not wait for its IO. Not a timed
 * sleep: test time stands still.
 *
 * Deliberately not here: waiting for a condition with a wall-clock bound (`@yoi/registry/test/support/live`).
 */
import { Effect } from "effect"

/** One turn of the event loop, so pending IO can complete. */
export const hop = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
