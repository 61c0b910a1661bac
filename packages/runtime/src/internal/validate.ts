/**
 * Request validation: wire-tolerant request fields → domain values, or a typed `InvalidRequest` naming the field.
 * Pure functions of their inputs; limits are passed in.
 */
import { Allocation, Errors, Ids, type Requests, Worker } from "@yoi/domain"
import { Effect, Option, Schema } from "effect"

const ProfileName = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,63}$/, { message: "must be 1-64 characters of a-z, 0-9, '_' or '-'" })
)

export const BundleField = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_:.+=-]{0,199}$/, { message: "must be 1-200 safe characters" })
)

export const Cursor = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const text = (input: Requests.CreateWorkerRequest["initialInput"], field: string, maxChars: number) =>
  Effect.gen(function*() {
    if (input === undefined) return yield* new Errors.InvalidRequest({ field, message: "is required" })
    if (input.kind !== "user") {
      return yield* new Errors.InvalidRequest({ field: `${field}.kind`, message: "must be \"user\"" })
    }
    if (input.text.trim().length === 0) {
      return yield* new Errors.InvalidRequest({ field: `${field}.text`, message: "must not be blank" })
    }
    if (input.text.length > maxChars) {
      return yield* new Errors.InvalidRequest({
        field: `${field}.text`,
        message: `must be at most ${maxChars} characters`
      })
    }
    return input.text
  })

/**
 * Free text fit for a record and a view (a stop or cancel reason, what an execution says about a loss): control
 * characters blanked, trimmed, at most 200 characters; `fallback` when nothing is left.
 */
export const sanitize = (text: string | undefined, fallback: string): string => {
  if (text === undefined) return fallback
  const cleaned = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").trim().slice(0, 200)
  return cleaned.length === 0 ? fallback : cleaned
}

export const optionalKey = (key: string | undefined, field: string) =>
  key === undefined ? Effect.succeed(undefined) : Ids.parse(Ids.IdempotencyKey, field, key)

export const int = (value: number | undefined, field: string) =>
  value === undefined ? Effect.succeed(undefined) : Ids.parse(Cursor, field, value)

export const limit = (value: number | undefined, field: string, fallback: number, max: number) =>
  Effect.gen(function*() {
    if (value === undefined) return fallback
    const n = yield* Ids.parse(Cursor, field, value)
    if (n < 1 || n > max) return yield* new Errors.InvalidRequest({ field, message: `must be between 1 and ${max}` })
    return n
  })

export const scope = (rules: Requests.CreateWorkerRequest["scope"], maxRules: number) =>
  Effect.gen(function*() {
    if (rules === undefined) return []
    if (rules.length > maxRules) {
      return yield* new Errors.InvalidRequest({ field: "scope", message: `must have at most ${maxRules} rules` })
    }
    const out: Array<Worker.ScopeRule> = []
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!
      const target = Allocation.normalizeTarget(rule.target)
      if (Option.isNone(target)) {
        return yield* new Errors.InvalidRequest({
          field: `scope[${i}].target`,
          message: "must be an absolute path without '..' or control characters"
        })
      }
      if (rule.permission !== "read" && rule.permission !== "write") {
        return yield* new Errors.InvalidRequest({
          field: `scope[${i}].permission`,
          message: "must be \"read\" or \"write\""
        })
      }
      out.push(
        new Worker.ScopeRule({ target: target.value, permission: rule.permission, recursive: rule.recursive ?? true })
      )
    }
    return out
  })

export const profile = (selector: Requests.CreateWorkerRequest["profile"]) =>
  Effect.gen(function*(): Effect.fn.Return<Worker.ProfileSelector, Errors.InvalidRequest> {
    if (selector === undefined || selector.kind === "runtime_default") {
      if (selector?.name !== undefined) {
        return yield* new Errors.InvalidRequest({
          field: "profile.name",
          message: "is not allowed for runtime_default"
        })
      }
      return { kind: "runtime_default" }
    }
    if (selector.kind !== "builtin" && selector.kind !== "named") {
      return yield* new Errors.InvalidRequest({
        field: "profile.kind",
        message: "must be \"runtime_default\", \"builtin\" or \"named\""
      })
    }
    const name = yield* Ids.parse(ProfileName, "profile.name", selector.name)
    return { kind: selector.kind, name }
  })
