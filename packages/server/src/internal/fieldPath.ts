/**
 * The `field` of an `InvalidRequest` for a position inside an untrusted body, e.g. `body[0].payload.scope[2].target`.
 *
 * A path can hold a key the client chose (an unexpected property), so keys are echoed only as a short, sanitized
 * excerpt: at most `maxKeyChars` printable ASCII characters, anything else replaced by `?`, and a longer key cut
 * with `…`. Nothing else of the client's bytes ends up in a field.
 */

const maxKeyChars = 32
const plainKey = /^[A-Za-z_$][A-Za-z0-9_$]*$/

const excerpt = (key: string): string => {
  const safe = key.slice(0, maxKeyChars).replace(/[^\x20-\x7e]|["\\]/g, "?")
  return key.length > maxKeyChars ? `${safe}…` : safe
}

const segment = (step: PropertyKey | { readonly key: PropertyKey }): string => {
  const key = typeof step === "object" ? step.key : step
  if (typeof key === "number") return `[${key}]`
  const text = typeof key === "symbol" ? "?" : key
  return plainKey.test(text) && text.length <= maxKeyChars ? `.${text}` : `["${excerpt(text)}"]`
}

/** `prefix` followed by each key of `path`. */
export const format = (
  prefix: string,
  path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>
): string => path.reduce<string>((field, step) => field + segment(step), prefix)
