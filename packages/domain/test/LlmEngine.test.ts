import { assert, describe, it } from "@effect/vitest"
import * as LlmEngine from "../src/LlmEngine.ts"
import { historyEntry } from "./support/fixtures.ts"

const profile = new LlmEngine.Profile({ name: "companion", description: "", systemPrompt: "Be kind.", tools: [] })

describe("LlmEngine.messages: history → the provider conversation", () => {
  it("keeps user and assistant text in order, drops reasoning, tool, error and empty entries, marks interrupted text", () => {
    const messages = LlmEngine.messages({
      workerId: "w_1",
      runId: "r_9",
      profile,
      model: "m",
      history: [
        historyEntry(1, "user", "hi"),
        historyEntry(2, "reasoning", "thinking…"),
        historyEntry(3, "assistant", "hello"),
        historyEntry(4, "user", "tell me a story"),
        historyEntry(5, "assistant", "Once upon", true),
        historyEntry(6, "error", "stream_broken: the connection broke"),
        historyEntry(7, "user", "again"),
        historyEntry(8, "tool_call", "search {}"),
        historyEntry(9, "tool_result", "note"),
        historyEntry(10, "assistant", "There was")
      ],
      input: "go on"
    })
    assert.deepStrictEqual(messages, [
      { role: "user", text: "hi" },
      { role: "assistant", text: "hello" },
      { role: "user", text: "tell me a story" },
      { role: "assistant", text: "Once upon\n\n[interrupted]" },
      { role: "user", text: "again" },
      { role: "assistant", text: "There was" },
      { role: "user", text: "go on" }
    ])
  })

  it("roles alternate from a user message: a failed run's input joins the next, a cut window's reply goes", () => {
    const messages = LlmEngine.messages({
      workerId: "w_1",
      runId: "r_9",
      profile,
      model: "m",
      history: [
        historyEntry(3, "assistant", "the reply to an input before the window"),
        historyEntry(4, "user", "first"),
        historyEntry(5, "error", "connection_failed: could not reach the provider"),
        historyEntry(6, "user", "second"),
        historyEntry(7, "assistant", "", true)
      ],
      input: "third"
    })
    assert.deepStrictEqual(messages, [{ role: "user", text: "first\n\nsecond\n\nthird" }])
  })

  it("with no history it is the input alone (the system prompt is the profile's, apart)", () => {
    const messages = LlmEngine.messages({ workerId: "w", runId: "r", profile, model: "m", history: [], input: "x" })
    assert.deepStrictEqual(messages, [{ role: "user", text: "x" }])
  })
})
