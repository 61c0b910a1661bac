/**
 * `ProviderPolicy`: resolving options over the defaults and refusing the ones out of range, and the arithmetic of
 * the engines' request loop (backoff, `Retry-After` / `retry-after-ms`, retryable statuses, scrubbed messages).
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Result } from "effect"
import { Headers } from "effect/http"
import * as providerStream from "../src/internal/providerStream.ts"
import { scrubber } from "../src/internal/sanitize.ts"
import * as ProviderPolicy from "../src/ProviderPolicy.ts"

const resolved = (overrides?: Partial<ProviderPolicy.Options>) => {
  const result = ProviderPolicy.resolve(overrides)
  if (Result.isFailure(result)) return assert.fail(result.failure.message)
  return result.success
}

describe("ProviderPolicy", () => {
  it("the defaults: 4 retries, 500 ms doubling up to 30 s, 60 s to the first event, 120 s between events", () => {
    assert.deepStrictEqual(resolved(), {
      maxRetries: 4,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      firstEventTimeoutMs: 60_000,
      idleTimeoutMs: 120_000
    })
  })

  it("overrides take any Duration.Input; undefined ones keep the default", () => {
    assert.deepStrictEqual(
      resolved({ maxRetries: 0, baseDelay: 250, maxDelay: "2 minutes", firstEventTimeout: { seconds: 5 } }),
      { maxRetries: 0, baseDelayMs: 250, maxDelayMs: 120_000, firstEventTimeoutMs: 5_000, idleTimeoutMs: 120_000 }
    )
    assert.strictEqual(ProviderPolicy.resolve({ idleTimeout: undefined }).pipe(Result.isSuccess), true)
  })

  it.each(
    [
      [{ maxRetries: -1 }, "maxRetries"],
      [{ maxRetries: 1.5 }, "maxRetries"],
      [{ maxRetries: 101 }, "maxRetries"],
      [{ baseDelay: -5 }, "baseDelay"],
      [{ maxDelay: "Infinity" }, "maxDelay"],
      [{ firstEventTimeout: 0 }, "firstEventTimeout"],
      [{ firstEventTimeout: "300 seconds" }, "firstEventTimeout"],
      [{ idleTimeout: "10 minutes" }, "idleTimeout"],
      [{ idleTimeout: "5 secs" as ProviderPolicy.Options["idleTimeout"] }, "idleTimeout"]
    ] as const
  )("%j is refused, naming %s", (overrides, option) => {
    const result = ProviderPolicy.resolve(overrides)
    assert.isTrue(Result.isFailure(result))
    if (Result.isSuccess(result)) return
    assert.strictEqual(result.failure.option, option)
    assert.include(result.failure.message, option)
  })

  it("timeouts must stay below fetch's own 300 s limit", () => {
    assert.strictEqual(resolved({ idleTimeout: "299 seconds" }).idleTimeoutMs, 299_000)
    const refused = ProviderPolicy.resolve({ idleTimeout: ProviderPolicy.fetchTimeoutLimit })
    assert.isTrue(Result.isFailure(refused) && refused.failure.message.includes("300 s"))
  })

  describe("the request loop's arithmetic", () => {
    const policy = resolved({ baseDelay: "1 second", maxDelay: "10 seconds" })

    it("backoff doubles from baseDelay with ±20% jitter, capped at maxDelay", () => {
      assert.strictEqual(providerStream.backoffMillis(policy, 1, 0), 800)
      assert.strictEqual(providerStream.backoffMillis(policy, 1, 0.5), 1000)
      assert.strictEqual(providerStream.backoffMillis(policy, 1, 1), 1200)
      assert.strictEqual(providerStream.backoffMillis(policy, 3, 0.5), 4000)
      assert.strictEqual(providerStream.backoffMillis(policy, 5, 0), 10_000)
    })

    it("retry-after-ms wins over Retry-After; Retry-After is seconds or an HTTP date; junk is ignored", () => {
      const now = 1_700_000_000_000
      const at = (headers: Record<string, string>) => providerStream.retryAfterMillis(Headers.fromInput(headers), now)
      assert.strictEqual(at({ "retry-after-ms": "1500", "retry-after": "9" }), 1500)
      assert.strictEqual(at({ "retry-after-ms": "12.2" }), 13)
      assert.strictEqual(at({ "retry-after": "9" }), 9000)
      assert.strictEqual(at({ "retry-after": Headers.formatHttpDate(DateTime.makeUnsafe(now + 4000)) }), 4000)
      assert.strictEqual(at({ "retry-after": Headers.formatHttpDate(DateTime.makeUnsafe(now - 4000)) }), 0)
      assert.isUndefined(at({ "retry-after": "soon" }))
      assert.isUndefined(at({ "retry-after-ms": "-3" }))
      assert.isUndefined(at({}))
    })

    it("retryable statuses: 408, 425, 429 and 5xx (529 included); other 4xx are not", () => {
      for (const status of [408, 425, 429, 500, 502, 503, 504, 529, 599]) {
        assert.isTrue(providerStream.isRetryableStatus(status), String(status))
      }
      for (const status of [400, 401, 403, 404, 409, 413, 422, 451]) {
        assert.isFalse(providerStream.isRetryableStatus(status), String(status))
      }
    })

    it("a provider's error body: its code (or type) when safe, its message scrubbed", () => {
      const scrub = scrubber({ exact: ["sk-secret-key-1234"], texts: ["the secret prompt"] })
      assert.deepStrictEqual(
        providerStream.errorDetail(
          { error: { code: "model_not_found", type: "invalid_request_error", message: "no" } },
          scrub
        ),
        { code: "model_not_found", message: "no" }
      )
      assert.deepStrictEqual(
        providerStream.errorDetail(
          { type: "error", error: { type: "overloaded_error", message: "Overloaded" } },
          scrub
        ),
        { code: "overloaded_error", message: "Overloaded" }
      )
      assert.deepStrictEqual(
        providerStream.errorDetail(
          { error: { code: 400, type: "sk-secret-key-1234", message: "the secret prompt" } },
          scrub
        ),
        { code: undefined, message: "…" }
      )
      assert.deepStrictEqual(providerStream.errorDetail({ error: "model 'x' not found" }, scrub), {
        code: undefined,
        message: "model \"…\" not found"
      })
      assert.deepStrictEqual(providerStream.errorDetail({ object: "error", message: "bad", code: 400 }, scrub), {
        code: undefined,
        message: "bad"
      })
      assert.deepStrictEqual(providerStream.errorDetail("<html>", scrub), { code: undefined, message: undefined })
    })

    it("scrubbed messages are one line of at most 200 characters", () => {
      const scrub = scrubber({ exact: [], texts: [] })
      const message = scrub(`line one\nline two\t\u0000${"x ".repeat(300)}`)
      assert.notMatch(message, /[\n\t\u0000]/)
      assert.isAtMost(message.length, 200)
      assert.isTrue(message.startsWith("line one line two x x"))
    })
  })
})
