/**
 * Identity in the Worker Runtime: branded identifiers, `WorkerRef` (the one authority above a Runtime) and the
 * display helpers that are for people only.
 *
 * Identifiers are ASCII-only on purpose: `^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$` excludes path separators, control
 * characters and unicode look-alikes, so an id can never be mistaken for (or smuggled into) a path. The parse
 * helpers turn untrusted strings into ids or a typed `InvalidRequest`; they never throw.
 */
import { Effect, Schema } from "effect"
import { InvalidRequest } from "./Errors.ts"

const identifierPattern = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$/

const Identifier = Schema.String.check(
  Schema.isPattern(identifierPattern, {
    message: "must be 1-120 characters of A-Z, a-z, 0-9, '_', ':' or '-', starting with a letter or digit"
  })
)

/** @category schemas */
export const RuntimeId = Identifier.pipe(Schema.brand("RuntimeId"))
/** @category models */
export type RuntimeId = typeof RuntimeId.Type

/** @category schemas */
export const WorkerId = Identifier.pipe(Schema.brand("WorkerId"))
/** @category models */
export type WorkerId = typeof WorkerId.Type

/** A run: one LLM turn loop for one input. Issued by the Runtime. @category schemas */
export const RunId = Identifier.pipe(Schema.brand("RunId"))
/** @category models */
export type RunId = typeof RunId.Type

/** An accepted input (started or queued). Issued by the Runtime; `CancelQueued` names it. @category schemas */
export const InputId = Identifier.pipe(Schema.brand("InputId"))
/** @category models */
export type InputId = typeof InputId.Type

/**
 * C0 and C1 control characters, DEL and the Unicode line/paragraph separators: never valid in user text that is
 * shown or used as an identifier, nor in a path.
 * @category constructors
 */
export const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** Invisible formatting characters (zero-width, bidi overrides/isolates, BOM) that can make text spoof other text. */
const invisibleFormatting = /[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/

const hasNoControlCharacters = (s: string) => !controlCharacters.test(s)

/**
 * A client-chosen key that makes `CreateWorker` / `SendInput` safe to retry: 1-200 printable characters.
 * @category schemas
 */
export const IdempotencyKey = Schema.String.check(
  Schema.isBetweenLength(1, 200, { message: "must be 1-200 characters" }),
  Schema.makeFilter(hasNoControlCharacters, { message: "must not contain control characters" })
).pipe(Schema.brand("IdempotencyKey"))
/** @category models */
export type IdempotencyKey = typeof IdempotencyKey.Type

/**
 * User text naming a Worker for people: 1-120 characters, no control characters, not blank. Never used for lookup.
 * @category schemas
 */
export const DisplayName = Schema.String.check(
  Schema.isBetweenLength(1, 120, { message: "must be 1-120 characters" }),
  Schema.makeFilter((s: string) => s.trim().length > 0, { message: "must not be blank" }),
  Schema.makeFilter(hasNoControlCharacters, { message: "must not contain control characters" }),
  Schema.makeFilter((s: string) => !invisibleFormatting.test(s), {
    message: "must not contain invisible formatting characters"
  })
).pipe(Schema.brand("DisplayName"))
/** @category models */
export type DisplayName = typeof DisplayName.Type

/** The authority for a Worker everywhere above its Runtime. @category models */
export class WorkerRef extends Schema.Class<WorkerRef>("@yoi/domain/WorkerRef")({
  runtimeId: RuntimeId,
  workerId: WorkerId
}) {}

/** Whether two refs name the same Worker (refs are compared by value, never by identity). @category constructors */
export const sameRef = (a: WorkerRef, b: WorkerRef): boolean => a.runtimeId === b.runtimeId && a.workerId === b.workerId

/**
 * A string that is equal for equal refs and different for different ones, for keying maps and sets by ref. The
 * separator is a NUL, which no identifier can contain, so no two refs share a key.
 * @category constructors
 */
export const refKey = (ref: WorkerRef): string => `${ref.runtimeId}\u0000${ref.workerId}`

/** `name@runtime`, for people only. @category constructors */
export const displayRef = (displayName: string, runtimeId: RuntimeId): string => `${displayName}@${runtimeId}`

const decoders = new Map<Schema.Top, (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()

/**
 * Decodes an untrusted value with `schema`, failing with `InvalidRequest` naming `field`. The message is the
 * schema's, which never echoes the rejected value (it may be huge or hostile).
 * @category constructors
 */
export const parse = <S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  field: string,
  value: unknown
): Effect.Effect<S["Type"], InvalidRequest> => {
  let decode = decoders.get(schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEffect(schema as Schema.Codec<unknown, unknown>)
    decoders.set(schema, decode)
  }
  return decode(value).pipe(
    Effect.mapError((error) => new InvalidRequest({ field, message: firstIssueMessage(error) }))
  ) as Effect.Effect<S["Type"], InvalidRequest>
}

const firstIssueMessage = (error: Schema.SchemaError): string => {
  const text = error.message.split("\n").find((line) => line.trim().length > 0) ?? "invalid value"
  // Schema messages quote the actual value for some issues ("Expected ..., got \"...\""): cut that part off.
  const cut = text.replace(/,? *(got|actual) .*$/i, "").trim()
  return cut.length > 200 ? `${cut.slice(0, 200)}…` : cut
}
