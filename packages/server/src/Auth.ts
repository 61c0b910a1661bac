/**
 * The runtime process's side of `RuntimeAuth`: a bearer token checked in constant time on every RPC.
 *
 * The token is `Redacted` and never appears in a log, an error or a response: a failure is always the same
 * `Unauthorized` message, whether the header was missing, malformed or wrong.
 */
import { Errors, RuntimeRpcs } from "@yoi/domain"
import { Effect, Layer, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

/** Compares `Bearer <token>` with the header in constant time (both sides hashed to a fixed length). */
export const isAuthorized = (header: string | undefined, token: Redacted.Redacted<string>): boolean => {
  const expected = digest(`Bearer ${Redacted.value(token)}`)
  const actual = digest(header ?? "")
  return timingSafeEqual(expected, actual) && header !== undefined
}

const unauthorized = new Errors.Unauthorized({ message: "missing or invalid bearer token" })

/** @category layers */
export const layerBearer = (token: Redacted.Redacted<string>): Layer.Layer<RuntimeRpcs.RuntimeAuth> =>
  Layer.succeed(
    RuntimeRpcs.RuntimeAuth,
    RuntimeRpcs.RuntimeAuth.of((effect, { headers }) =>
      isAuthorized(headers["authorization"], token) ? effect : Effect.fail(unauthorized)
    )
  )

/** No token configured (loopback only): every call is admitted. @category layers */
export const layerOpen: Layer.Layer<RuntimeRpcs.RuntimeAuth> = Layer.succeed(
  RuntimeRpcs.RuntimeAuth,
  RuntimeRpcs.RuntimeAuth.of((effect) => effect)
)
