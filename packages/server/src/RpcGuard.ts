/**
 * The gate in front of the RPC server: decides whether a `POST /rpc` body may reach `RpcServer` at all, or is
 * refused as a whole with one typed `InvalidRequest` naming the first bad field (`body`, `body[i]`,
 * `body[i].id`, `body[i].payload.workerId`, …). Its rules are a strict superset of what `RpcServer` would turn into a
 * defect, a hang or an empty answer, so every body it admits yields proper Exit frames.
 *
 * **Details** A body is 1 to `maxMessages` ndjson lines, every one terminated by `\n` (an unterminated last line is
 * refused, not guessed at); empty lines are skipped. Each line is bounded (`maxDepth`, `maxValues`) before it is
 * parsed, then must be a `Request` envelope exactly as the Effect RPC client sends it (`_tag`, `id` a non-negative
 * integer unique within the body, `tag` a `RuntimeRpcs` RPC, `payload`, `headers`, optional trace fields; no other
 * key), and its payload must decode with the very codec and parse options the RPC server uses, with excess
 * properties refused. Messages never echo the client's bytes; a field echoes at most a short sanitized key.
 *
 * Deliberately not here: HTTP concerns (authentication, content type, size, statuses are `Server`'s) and semantic
 * checks (id formats, ranges, text lengths), which the Runtime answers with typed errors as RPC results.
 */
import { Errors, RuntimeRpcs } from "@yoi/domain"
import { Context, Result, Schema, SchemaIssue } from "effect"
import { Rpc, RpcSerialization } from "effect/rpc"
import * as BoundedJson from "./internal/boundedJson.ts"
import * as FieldPath from "./internal/fieldPath.ts"

/**
 * Most messages in one body. The Effect client sends one request per body; a little room is left for callers
 * that batch. The bound also stays under the 16 frames the RPC server buffers before the answer starts, which is
 * what a body of many lines used to fill and hang on.
 * @category constants
 */
export const maxMessages = 8

/** Deepest nesting of objects and arrays in one line; the deepest valid message needs 4. @category constants */
export const maxDepth = 16

/** Most JSON values in one line (object keys count); valid messages need a few hundred at most. @category constants */
export const maxValues = 4096

const bounds: BoundedJson.Bounds = { maxDepth, maxValues }

const httpToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/
const headerValue = /^[^\u0000-\u0008\u000a-\u001f\u007f]{0,1024}$/

/** A string matching `pattern`; `message` for a non-string as well. */
const text = (pattern: RegExp, message: string) =>
  Schema.String.annotate({ message }).check(Schema.isPattern(pattern, { message }))

const required = { messageMissingKey: "is required" }

const Header = Schema.Tuple([
  text(httpToken, "must be an HTTP header name").annotateKey(required),
  text(headerValue, "must be a string of at most 1024 characters without control characters").annotateKey(required)
]).annotate({
  message: "must be a [name, value] pair of strings",
  messageUnexpectedKey: "is one too many: a pair has two strings"
})

const tags = [...RuntimeRpcs.RuntimeRpcs.requests.keys()]

const mustBeRequest = "must be \"Request\": a body carries requests only"

/** Read first, so a message of another kind is told so rather than about its fields. */
const Kind = Schema.Struct({
  _tag: Schema.Literal("Request").annotate({ message: mustBeRequest }).annotateKey(required)
})
  .annotate({ message: "must be a JSON object" })

/** The request envelope as the Effect RPC client writes it; `payload` is checked per RPC afterwards. */
const Envelope = Schema.Struct({
  _tag: Schema.Literal("Request"),
  id: Schema.Number.annotate({ message: "must be a non-negative integer" }).check(
    Schema.isInt({ message: "must be a non-negative integer" }),
    Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, { message: "must be a non-negative integer" })
  ).annotateKey(required),
  tag: Schema.Literals(tags).annotate({ message: "must name a Runtime RPC" }).annotateKey(required),
  payload: Schema.Unknown.annotateKey(required),
  headers: Schema.Array(Header).annotate({ message: "must be an array of [name, value] pairs" }).check(
    Schema.isMaxLength(32, { message: "must have at most 32 pairs" })
  ).annotateKey(required),
  // A client running with tracing off sends the no-op span's ids, "noop": it must still be served.
  traceId: Schema.optionalKey(text(/^(?:[0-9a-f]{32}|noop)$/, "must be 32 lowercase hex digits")),
  spanId: Schema.optionalKey(text(/^(?:[0-9a-f]{16}|noop)$/, "must be 16 lowercase hex digits")),
  sampled: Schema.optionalKey(Schema.Boolean.annotate({ message: "must be a boolean" }))
}).annotate({ messageUnexpectedKey: "is not a field of a request" })

const strict = { onExcessProperty: "error", errors: "first" } as const

const decodeKind = Schema.decodeUnknownResult(Kind, { errors: "first" })
const decodeEnvelope = Schema.decodeUnknownResult(Envelope, strict)

// The RPC server decodes payloads with its serialization's codec and each RPC's parse options; so does the guard,
// adding only the refusal of excess properties.
const codecFor = RpcSerialization.ndjson.codecFor
const payloadDecoders: ReadonlyMap<string, (u: unknown) => Result.Result<unknown, Schema.SchemaError>> = new Map(
  [...RuntimeRpcs.RuntimeRpcs.requests].map(([tag, rpc]) => {
    const parseOptions = Context.get(rpc.annotations, Rpc.ParseOptions)
    return [tag, Schema.decodeUnknownResult(codecFor(rpc.payloadSchema), { ...parseOptions, ...strict })]
  })
)

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

const invalid = (field: string, message: string) => Result.fail(new Errors.InvalidRequest({ field, message }))

const fromSchemaError = (prefix: string, error: Schema.SchemaError) => {
  const first = formatIssue(error.issue).issues[0]
  return invalid(FieldPath.format(prefix, first?.path ?? []), (first?.message ?? "is invalid").slice(0, 120))
}

/** The first `maxMessages + 1` non-empty lines, so a body of thousands of lines costs no more than a short one. */
const firstLines = (body: string): Array<string> => {
  const lines: Array<string> = []
  let start = 0
  while (start < body.length && lines.length <= maxMessages) {
    const end = body.indexOf("\n", start)
    const stop = end === -1 ? body.length : end
    const line = body.slice(start, body[stop - 1] === "\r" ? stop - 1 : stop)
    if (line.length > 0) lines.push(line)
    start = stop + 1
  }
  return lines
}

/**
 * Admits the body, or says why not.
 * @category constructors
 */
export const check = (body: string): Result.Result<void, Errors.InvalidRequest> => {
  const lines = firstLines(body)
  if (lines.length === 0) return invalid("body", "must contain at least one message")
  if (!body.endsWith("\n")) return invalid("body", "must end with a newline: every message is a line ending in \\n")
  if (lines.length > maxMessages) return invalid("body", `must carry at most ${maxMessages} messages`)
  const ids = new Set<number>()
  for (let i = 0; i < lines.length; i++) {
    const at = `body[${i}]`
    const parsed = BoundedJson.parse(lines[i]!, bounds)
    if (Result.isFailure(parsed)) return invalid(at, parsed.failure)
    const kind = decodeKind(parsed.success)
    if (Result.isFailure(kind)) return fromSchemaError(at, kind.failure)
    const envelope = decodeEnvelope(parsed.success)
    if (Result.isFailure(envelope)) return fromSchemaError(at, envelope.failure)
    const { id, payload, sampled, spanId, tag, traceId } = envelope.success
    // The no-op span's ids come unsampled and together; a sampled one would be exported with a malformed parent.
    if ((traceId === "noop" || spanId === "noop") && (traceId !== spanId || sampled !== false)) {
      return invalid(`${at}.traceId`, "must be 32 lowercase hex digits")
    }
    if (ids.has(id)) return invalid(`${at}.id`, "must be unique within the body")
    ids.add(id)
    const decodePayload = payloadDecoders.get(tag)!
    const decoded = decodePayload(payload)
    if (Result.isFailure(decoded)) return fromSchemaError(`${at}.payload`, decoded.failure)
  }
  return Result.void
}
