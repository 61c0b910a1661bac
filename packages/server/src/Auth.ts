/**
 * The runtime process's bearer-token check: the `RuntimeAuth` RPC middleware (a typed `Unauthorized` on every RPC)
 * and the predicate `Server` applies to `POST /rpc` before it reads a body.
 *
 * **Details** The header is `Authorization: Bearer <token>`; the scheme is matched in any case (RFC 9110 §11.1),
 * the token exactly, in constant time (both sides hashed to a fixed length before `timingSafeEqual`). The token is
 * `Redacted` and never appears in a log, an error or a response: a failure is always the same `Unauthorized`
 * message, whether the header was missing, malformed or wrong.
 *
 * Deliberately not here: other schemes, several tokens, or any notion of who the caller is.
 */
import { Errors, RuntimeRpcs } from "@yoi/domain"
import { Effect, Layer, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

const bearerScheme = /^bearer +/i

/**
 * Whether the `Authorization` header carries `token` under the `Bearer` scheme (in any case).
 * @category constructors
 */
export const isAuthorized = (header: string | undefined, token: Redacted.Redacted<string>): boolean => {
  const scheme = header === undefined ? null : bearerScheme.exec(header)
  // the credentials are compared even when the scheme is wrong, so the time taken says nothing about the token
  const credentials = header === undefined || scheme === null ? "" : header.slice(scheme[0].length)
  const matches = timingSafeEqual(digest(Redacted.value(token)), digest(credentials))
  return matches && scheme !== null
}

/**
 * The one answer to a request without the right token.
 * @category errors
 */
export const unauthorized = new Errors.Unauthorized({ message: "missing or invalid bearer token" })

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
