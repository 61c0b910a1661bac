import { assert, describe, it } from "@effect/vitest"
import { Effect, type Schema } from "effect"
import { InvalidRequest } from "../src/Errors.ts"
import * as Ids from "../src/Ids.ts"
import { WorkerStatus } from "../src/Worker.ts"
import { ref } from "./support/fixtures.ts"

/** Parses `value`, expects `InvalidRequest` naming `field`, and checks the message does not echo the value. */
const expectRejected = Effect.fnUntraced(function*(
  schema: Schema.Codec<unknown, unknown>,
  field: string,
  value: unknown
) {
  const error = yield* Effect.flip(Ids.parse(schema, field, value))
  assert.instanceOf(error, InvalidRequest)
  assert.strictEqual(error.field, field)
  assert.isAbove(error.message.length, 0)
  if (typeof value === "string" && value.length > 0) {
    assert.notInclude(error.message, value, "the message never echoes the rejected value")
  }
  return error
})

describe("Ids", () => {
  describe("WorkerId", () => {
    const valid: ReadonlyArray<readonly [string, string]> = [
      ["one letter", "a"],
      ["one digit", "7"],
      ["120 characters", `w${"x".repeat(119)}`],
      ["'_', ':' and '-' after the first character", "w_01J:run-a_b"],
      ["a time-ordered runtime id", "w_01HZY3K9Q4X5V6B7N8M9P0Q1R2"],
      ["digits first", "0abc"]
    ]
    it.effect.each(valid)("accepts %s", ([, value]) =>
      Effect.gen(function*() {
        const id = yield* Ids.parse(Ids.WorkerId, "workerId", value)
        assert.strictEqual(id, value)
      }))

    const invalid: ReadonlyArray<readonly [string, unknown]> = [
      ["the empty string", ""],
      ["121 characters", `w${"x".repeat(120)}`],
      ["a relative path", "../x"],
      ["a path separator", "a/b"],
      ["a backslash", "a\\b"],
      ["a dot", "a.b"],
      ["a NUL", "a\u0000b"],
      ["a newline", "a\nb"],
      ["a tab", "a\tb"],
      ["a leading '-'", "-worker"],
      ["a leading '_'", "_worker"],
      ["a leading ':'", ":worker"],
      ["a Cyrillic look-alike 'о' (U+043E)", "w\u043erker"],
      ["a Cyrillic look-alike 'а' (U+0430)", "\u0430gent"],
      ["a fullwidth 'ｗ'", "\uff57orker"],
      ["an accented letter", "wörker"],
      ["a space inside", "a b"],
      ["a leading space", " worker"],
      ["a trailing space", "worker "],
      ["a number", 5],
      ["null", null],
      ["undefined", undefined],
      ["an object", { workerId: "w_1" }],
      ["an array", ["w_1"]]
    ]
    it.effect.each(invalid)("rejects %s with InvalidRequest", ([, value]) =>
      Effect.gen(function*() {
        yield* expectRejected(Ids.WorkerId, "workerId", value)
      }))

    it.effect("RuntimeId, RunId and InputId follow the same rule", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Ids.parse(Ids.RuntimeId, "runtimeId", "rt_1"), "rt_1")
        assert.strictEqual(yield* Ids.parse(Ids.RunId, "runId", "run:1"), "run:1")
        assert.strictEqual(yield* Ids.parse(Ids.InputId, "inputId", "in-1"), "in-1")
        yield* expectRejected(Ids.RuntimeId, "runtimeId", "rt/1")
        yield* expectRejected(Ids.RunId, "runId", "")
        yield* expectRejected(Ids.InputId, "inputId", "-in")
      }))

    it.effect("the field path is passed through unchanged", () =>
      Effect.gen(function*() {
        const error = yield* expectRejected(Ids.WorkerId, "scope[2].owner.workerId", "../etc/passwd")
        assert.strictEqual(error.field, "scope[2].owner.workerId")
      }))
  })

  describe("DisplayName", () => {
    const valid: ReadonlyArray<readonly [string, string]> = [
      ["one character", "a"],
      ["120 characters", "n".repeat(120)],
      ["spaces and punctuation", "Reviewer #2 (docs), v1.0"],
      ["Japanese", "レビュー担当"],
      ["accented letters", "Zoë Ærø"],
      ["Cyrillic", "Рецензент"],
      ["an emoji", "Coder 🤖"]
    ]
    it.effect.each(valid)("accepts %s", ([, value]) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Ids.parse(Ids.DisplayName, "displayName", value), value)
      }))

    const invalid: ReadonlyArray<readonly [string, unknown]> = [
      ["the empty string", ""],
      ["only spaces", "   "],
      ["only a tab", "\t"],
      ["121 characters", "n".repeat(121)],
      ["a newline", "first\nsecond"],
      ["a NUL", "a\u0000b"],
      ["an escape sequence", "red\u001b[31m"],
      ["DEL", "a\u007fb"],
      ["a C1 control", "a\u0085b"],
      ["a line separator", "a\u2028b"],
      ["a right-to-left override", "admin\u202egnp.exe"],
      ["a zero-width space", "Ada\u200bLovelace"],
      ["a byte order mark", "\ufeffAda"],
      ["a number", 42],
      ["null", null]
    ]
    it.effect.each(invalid)("rejects %s with InvalidRequest", ([, value]) =>
      Effect.gen(function*() {
        yield* expectRejected(Ids.DisplayName, "displayName", value)
      }))
  })

  describe("IdempotencyKey", () => {
    it.effect("accepts 1-200 printable characters", () =>
      Effect.gen(function*() {
        for (const value of ["k", "k".repeat(200), "retry 3 / 2024-06-01T10:00:00Z", "ключ-🔑"]) {
          assert.strictEqual(yield* Ids.parse(Ids.IdempotencyKey, "idempotencyKey", value), value)
        }
      }))

    it.effect("rejects empty, over-long, control characters and non-strings", () =>
      Effect.gen(function*() {
        for (const value of ["", "k".repeat(201), "a\u0000b", "a\nb", "a\u009bb", 1, null]) {
          yield* expectRejected(Ids.IdempotencyKey, "idempotencyKey", value)
        }
      }))
  })

  describe("parse", () => {
    it.effect("never echoes the value, even where the schema message would quote it", () =>
      Effect.gen(function*() {
        const hostile = "<script>alert('x')</script>"
        const error = yield* expectRejected(WorkerStatus, "status", hostile)
        assert.notInclude(error.message, "script")
      }))

    it.effect("caps the message length however large the value", () =>
      Effect.gen(function*() {
        const error = yield* expectRejected(Ids.WorkerId, "workerId", "x".repeat(100_000))
        assert.isAtMost(error.message.length, 201)
      }))
  })

  describe("WorkerRef and displayRef", () => {
    it.effect("displayRef is name@runtime", () =>
      Effect.gen(function*() {
        const runtimeId = yield* Ids.parse(Ids.RuntimeId, "runtimeId", "rt_home")
        assert.strictEqual(Ids.displayRef("Reviewer", runtimeId), "Reviewer@rt_home")
      }))
  })

  describe("sameRef and refKey", () => {
    const refs = [ref("rt_1", "w_1"), ref("rt_1", "w_2"), ref("rt_2", "w_1"), ref("rt_1:w", "1"), ref("rt_1", "w:1")]

    it.effect("equal refs (distinct instances) are the same and share a key", () =>
      Effect.sync(() => {
        assert.isTrue(Ids.sameRef(ref("rt_1", "w_1"), ref("rt_1", "w_1")))
        assert.strictEqual(Ids.refKey(ref("rt_1", "w_1")), Ids.refKey(ref("rt_1", "w_1")))
      }))

    it.effect("refs differing in either part are different and have different keys, even where a join would not", () =>
      Effect.sync(() => {
        for (const [i, a] of refs.entries()) {
          for (const [j, b] of refs.entries()) {
            assert.strictEqual(
              Ids.sameRef(a, b),
              i === j,
              `${a.runtimeId}/${a.workerId} vs ${b.runtimeId}/${b.workerId}`
            )
            assert.strictEqual(Ids.refKey(a) === Ids.refKey(b), i === j)
          }
        }
      }))
  })
})
