/**
 * Scrubbing of what a provider sends back in words (error bodies, error events) before any of it becomes part of an
 * `EngineFailure`: providers echo request fragments, keys (masked or not) and their own URLs in error messages, and
 * a failure is shown to people, stored and sent over RPC.
 *
 * A scrubbed message is one line of at most 200 characters without the request's own secrets (the API key, the
 * base URL and its host, the prompt texts of eight characters or more), quoted fragments, URLs, network addresses
 * or token-like words. Provider codes are kept only when they look like identifiers.
 *
 * Deliberately not here: messages the engines write themselves (they are fixed text and never include request
 * data) and deciding what a failure is.
 */
import type { LlmEngine } from "@yoi/domain"
import { Predicate, Redacted } from "effect"

/** The longest message a failure carries. */
export const maxMessageLength = 200

const minTextLength = 8
const minExactLength = 4
const ellipsis = "…"

const patterns: ReadonlyArray<readonly [RegExp, string]> = [
  // URLs of any scheme, then bare IPv4 addresses (with a port) and host:port pairs
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]*/gi, "<url>"],
  [/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, "<address>"],
  [/\b[a-z0-9-]+(?:\.[a-z0-9-]+)+:\d{2,5}\b/gi, "<address>"],
  // quoted fragments: providers quote the offending request values
  [/"[^"]*"|`[^`]*`|(?<![\w])'[^']*'(?![\w])/g, `"${ellipsis}"`],
  // credentials: an authorization value, key-shaped words, long words that mix letters and digits
  [/\bbearer\s+\S+/gi, "<redacted>"],
  [/\b(?:sk|pk|rk|ak|key)[-_][\w*.-]{4,}/gi, "<redacted>"]
]

/** Long words that mix letters and digits (linear: one pass, then a test per word, no lookahead backtracking). */
const tokenLike = /[\w*.+/=-]{32,}/g
const redactTokens = (text: string) =>
  text.replace(tokenLike, (word) => /\d/.test(word) && /[a-z]/i.test(word) ? "<redacted>" : word)

/**
 * How much of a provider's text the patterns look at: the message keeps 200 characters, and a bounded input keeps
 * a huge error body (a broken proxy's page, an echoed long input) from costing the event loop.
 */
const maxScannedLength = 4096

/** Removes every occurrence of `secret` from `text`. */
const without = (text: string, secret: string) => text.split(secret).join(ellipsis)

/**
 * A scrubber for one request: `secrets` are exact strings that must never appear (the key, the base URL, the
 * prompt texts); exact strings under four characters and prompt texts under eight are left to the generic
 * patterns (replacing them everywhere would garble the message).
 */
export const scrubber = (secrets: {
  readonly exact: ReadonlyArray<string>
  readonly texts: ReadonlyArray<string>
}): (text: string) => string => {
  const all = [
    ...secrets.exact.filter((s) => s.length >= minExactLength),
    ...secrets.texts.filter((s) => s.length >= minTextLength)
  ].sort((a, b) => b.length - a.length)
  return (text) => {
    let out = text
    for (const secret of all) out = without(out, secret)
    out = out.slice(0, maxScannedLength)
    for (const [pattern, replacement] of patterns) out = out.replace(pattern, replacement)
    out = redactTokens(out)
    out = out.replace(/[\s\p{Cc}]+/gu, " ").trim()
    return out.length > maxMessageLength ? `${out.slice(0, maxMessageLength - 1)}${ellipsis}` : out
  }
}

/** The exact strings a base URL gives away: itself, its origin, its host (with and without the port). */
export const urlSecrets = (baseUrl: string): ReadonlyArray<string> => {
  const trimmed = baseUrl.replace(/\/+$/, "")
  if (!URL.canParse(trimmed)) return [trimmed]
  const url = new URL(trimmed)
  return [trimmed, url.origin, url.host, url.hostname].filter((s) => s.length > 0)
}

/** A provider's error code, when it looks like one (an identifier of at most 64 characters). */
export const providerCode = (value: unknown): string | undefined =>
  Predicate.isString(value) && /^[A-Za-z][\w.:-]{0,63}$/.test(value) ? value : undefined

/**
 * The scrubber of one request to a provider: its key and base URL, and every prompt text it sends (the system
 * prompt, the history, the input). The key is unwrapped here only to be compared, never kept in a message.
 */
export const requestScrubber = (options: {
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly baseUrl: string
  readonly request: LlmEngine.EngineRequest
}): (text: string) => string =>
  scrubber({
    exact: [...(options.apiKey === undefined ? [] : [Redacted.value(options.apiKey)]), ...urlSecrets(options.baseUrl)],
    texts: [options.request.profile.systemPrompt, ...options.request.history.map((e) => e.text), options.request.input]
  })
