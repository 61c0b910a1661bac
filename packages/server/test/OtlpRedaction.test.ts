/**
 * What the OTLP exporters are given of a failure: its tag, no message and no stack (a platform error's message and
 * every stack frame name paths); interruptions as they are.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Logger } from "effect"
import * as Redaction from "../src/internal/otlpRedaction.ts"

class PlatformLike extends Error {
  override name = "PlatformError"
}

const rendered = (cause: Cause.Cause<unknown>) =>
  Cause.prettyErrors(Redaction.redactCause(cause), { includeCauseInStack: true })
    .map((error) => `${error.name}|${error.message}|${error.stack}`).join("\n")

describe("otlpRedaction", () => {
  it("a failure is its tag; a defect is Defect; no path survives", () => {
    const path = "/srv/yoi/data/workers/w_1/worker.json"
    const text = rendered(Cause.combine(
      Cause.fail({ _tag: "StoreFailure", message: `cannot write ${path}` }),
      Cause.combine(Cause.fail(new PlatformLike(`ENOENT: ${path}`)), Cause.die(new Error(`boom at ${path}`)))
    ))
    assert.notInclude(text, path)
    assert.notInclude(text, "/srv")
    assert.notMatch(text, /\.ts:\d+/)
    assert.include(text, "StoreFailure|StoreFailure")
    assert.include(text, "PlatformError|PlatformError")
    assert.include(text, "Defect|Defect")
  })

  it("an interruption stays an interruption", () => {
    const cause = Cause.interrupt(7)
    assert.strictEqual(Redaction.redactCause(cause), cause)
    assert.isTrue(Cause.hasInterruptsOnly(Redaction.redactCause(Cause.combine(cause, Cause.interrupt(8)))))
  })

  it("a logger is fed the redacted cause", () => {
    const seen: Array<Cause.Cause<unknown>> = []
    const inner = Logger.make((options) => {
      seen.push(options.cause)
    })
    const failure = Cause.fail(new PlatformLike("ENOENT: /srv/secret"))
    Redaction.logger(inner).log({ cause: failure } as Parameters<typeof inner.log>[0])
    assert.notInclude(Cause.pretty(seen[0]!), "/srv/secret")
  })
})
