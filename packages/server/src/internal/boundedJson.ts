/**
 * `JSON.parse` for one untrusted ndjson line, with the line's shape bounded before it is parsed: nesting depth and
 * the number of JSON values. A hostile line then costs O(length) and allocates at most `maxValues` values, and
 * nothing downstream (Schema decoding, error formatting, `JSON.stringify`) meets a value deep enough to exhaust the
 * stack.
 *
 * The scan only counts; it does not validate. Malformed JSON within the bounds is left to `JSON.parse`, and the
 * failure messages never contain the input.
 */
import { Result } from "effect"

export interface Bounds {
  /** Deepest allowed nesting of objects and arrays (the line's own object is depth 1). */
  readonly maxDepth: number
  /** Most JSON values in the line: objects, arrays, strings (object keys included), numbers, literals. */
  readonly maxValues: number
}

const quote = 0x22
const backslash = 0x5c
const openBrace = 0x7b
const closeBrace = 0x7d
const openBracket = 0x5b
const closeBracket = 0x5d
const comma = 0x2c
const colon = 0x3a
const space = 0x20
const tab = 0x09
const lineFeed = 0x0a
const carriageReturn = 0x0d

/** The first bound the text breaks, or `undefined` within the bounds. */
const exceeded = (text: string, bounds: Bounds): string | undefined => {
  let depth = 0
  let values = 0
  let inString = false
  let escaped = false
  let inScalar = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (escaped) escaped = false
      else if (c === backslash) escaped = true
      else if (c === quote) inString = false
      continue
    }
    switch (c) {
      case quote:
        inString = true
        inScalar = false
        values++
        break
      case openBrace:
      case openBracket:
        inScalar = false
        values++
        if (++depth > bounds.maxDepth) return `must not nest deeper than ${bounds.maxDepth} levels`
        break
      case closeBrace:
      case closeBracket:
      case comma:
      case colon:
      case space:
      case tab:
      case lineFeed:
      case carriageReturn:
        if (c === closeBrace || c === closeBracket) depth--
        inScalar = false
        break
      default:
        // a number or literal: one value per run of such characters
        if (!inScalar) values++
        inScalar = true
    }
    if (values > bounds.maxValues) return `must not hold more than ${bounds.maxValues} JSON values`
  }
  return undefined
}

/** The parsed value, or why the line is refused (a fixed message, never an excerpt of the line). */
export const parse = (text: string, bounds: Bounds): Result.Result<unknown, string> => {
  const bound = exceeded(text, bounds)
  if (bound !== undefined) return Result.fail(bound)
  return Result.mapError(Result.try(() => JSON.parse(text) as unknown), () => "is not valid JSON")
}
