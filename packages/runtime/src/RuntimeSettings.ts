/**
 * What an operator configures about a Runtime's models: its providers (`openai-compatible`, `anthropic`,
 * `scripted`), the default provider and profile, and the directory of named profiles — decoded from a JSON config
 * file, from the common case's flags, or from the environment, with one `InvalidConfig` naming the field.
 *
 * **Details** A provider never holds its API key: it names the environment variable the key is read from
 * (`apiKeyEnv`, read as `Config.Redacted` when the providers are built). A base URL with credentials in it is
 * refused for the same reason. Errors name the field (`providers[1].baseUrl`, `--model`) and what a valid value
 * is; they never echo a value, so no URL or key can end up in one. Timeouts stay under fetch's own 300 s limits.
 *
 * Deliberately not here: building engines (`RuntimePresets`), resolving profiles (`Profiles`), and server settings
 * such as host, port or data directory (the CLI's flags).
 */
import { Effect, FileSystem, Option, Path, Result, Schema, SchemaIssue } from "effect"

/**
 * The configuration is invalid: `field` names where (`providers[0].model`, `--base-url`, `profiles/coder.json:
 * provider`), `message` what is wrong. Neither holds a configured value.
 * @category errors
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  field: Schema.String,
  message: Schema.String
}) {}

const pattern = (regex: RegExp, message: string) => Schema.String.check(Schema.isPattern(regex, { message }))
const intBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(
    Schema.isBetween({ minimum, maximum }, { message: `must be an integer from ${minimum} to ${maximum}` })
  )

/** A provider's name, as views show it. @category schemas */
export const ProviderName = pattern(
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  "must be 1-64 characters of letters, digits, '.', '_' or '-'"
)

/** @category schemas */
export const ProviderKind = Schema.Literals(["openai-compatible", "anthropic", "scripted"])
/** @category models */
export type ProviderKind = typeof ProviderKind.Type

const baseUrlRule = "must be an http(s) URL without credentials, query or fragment"
/** What a base URL may be: parsed as a URL, so a bad port or a stray character fails the start, not every run. */
const isBaseUrl = (text: string): boolean => {
  if (!URL.canParse(text)) return false
  const url = new URL(text)
  return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "" &&
    url.search === "" && url.hash === "" && !/[\s\u0000-\u001f]/.test(text)
}
const BaseUrl = Schema.String.check(Schema.makeFilter((text: string) => isBaseUrl(text) ? undefined : baseUrlRule))
const EnvName = pattern(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must be the name of an environment variable")
const Model = pattern(/^[^\s\u0000-\u001f]{1,200}$/, "must be 1-200 characters without spaces")
const ProfileName = pattern(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be 1-64 characters of a-z, 0-9, '_' or '-'")
/** fetch (undici) gives up after 300 s without headers or body bytes: stay under it. */
const TimeoutMs = intBetween(1, 290_000)

/** @category schemas */
export const ProviderSettings = Schema.Struct({
  name: Schema.optionalKey(ProviderName),
  kind: ProviderKind,
  baseUrl: Schema.optionalKey(BaseUrl),
  model: Schema.optionalKey(Model),
  apiKeyEnv: Schema.optionalKey(EnvName),
  maxOutputTokens: Schema.optionalKey(intBetween(1, 1_000_000)),
  temperature: Schema.optionalKey(
    Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 2 }, { message: "must be a number from 0 to 2" }))
  ),
  timeouts: Schema.optionalKey(Schema.Struct({
    firstEventMs: Schema.optionalKey(TimeoutMs),
    idleMs: Schema.optionalKey(TimeoutMs)
  })),
  retry: Schema.optionalKey(Schema.Struct({
    maxRetries: Schema.optionalKey(intBetween(0, 20)),
    baseDelayMs: Schema.optionalKey(intBetween(1, 60_000)),
    maxDelayMs: Schema.optionalKey(intBetween(1, 600_000))
  }))
})
/** @category models */
export type ProviderSettings = typeof ProviderSettings.Type

/** The config file (`--config yoi-runtime.json`). @category schemas */
export const ConfigFile = Schema.Struct({
  providers: Schema.Array(ProviderSettings).check(
    Schema.isMinLength(1, { message: "must name at least one provider" }),
    Schema.isMaxLength(32, { message: "must have at most 32 providers" })
  ),
  defaultProvider: Schema.optionalKey(ProviderName),
  defaultProfile: Schema.optionalKey(ProfileName),
  /** Named profiles, one JSON file each; relative to the config file's directory. */
  profilesDir: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty({ message: "must not be empty" })))
})
/** @category models */
export type ConfigFile = typeof ConfigFile.Type

/** Validated settings: every provider named, names unique, the default provider existing. @category models */
export interface Settings {
  readonly providers: ReadonlyArray<ProviderSettings & { readonly name: string }>
  readonly defaultProvider: string
  readonly defaultProfile?: string | undefined
  /** Absolute, or relative to the working directory. */
  readonly profilesDir?: string | undefined
}

/** No provider configured: the scripted engine, and the Runtime says so. @category constructors */
export const scripted: Settings = { providers: [{ kind: "scripted", name: "scripted" }], defaultProvider: "scripted" }

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()
const decodeConfigFile = Schema.decodeUnknownResult(ConfigFile, { onExcessProperty: "error", errors: "first" })

const pathText = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>) =>
  path.reduce<string>((text, step) => {
    const key = typeof step === "object" ? step.key : step
    if (typeof key === "number") return `${text}[${key}]`
    const name = String(key).slice(0, 40).replace(/[^\x20-\x7e]/g, "?")
    return text.length === 0 ? name : `${text}.${name}`
  }, "")

/**
 * The first issue of a decoding failure as an `InvalidConfig`; `field` turns the issue's path into a field name.
 * An unknown key is named, never a value.
 * @category constructors
 */
export const schemaFailure = (error: Schema.SchemaError, field: (path: string) => string): InvalidConfig => {
  const first = formatIssue(error.issue).issues[0]
  const path = pathText(first?.path ?? [])
  // the formatter may add the input (`Expected string, got {…}`): never echo it, it can be a key put in the wrong place
  const message = (first?.message ?? "is invalid").replace(/\s+/g, " ").replace(/,?\s*got\b.*$/is, "").slice(0, 160)
  return new InvalidConfig({
    field: field(path),
    message: /excess property|Unexpected key/i.test(message) ? "is not a known setting" : message
  })
}

/** Cross-field rules: what each kind needs, unique names, an existing default provider. */
const check = (
  file: ConfigFile,
  field: (path: string) => string
): Result.Result<Settings, InvalidConfig> => {
  const providers: Array<ProviderSettings & { readonly name: string }> = []
  for (let i = 0; i < file.providers.length; i++) {
    const provider = file.providers[i]!
    const at = (key: string) => field(`providers[${i}].${key}`)
    if (provider.kind !== "scripted" && provider.model === undefined) {
      return Result.fail(
        new InvalidConfig({ field: at("model"), message: `is required for a ${provider.kind} provider` })
      )
    }
    if (provider.kind === "openai-compatible" && provider.baseUrl === undefined) {
      return Result.fail(
        new InvalidConfig({ field: at("baseUrl"), message: "is required for an openai-compatible provider" })
      )
    }
    const name = provider.name ?? provider.kind
    if (providers.some((p) => p.name === name)) {
      return Result.fail(
        new InvalidConfig({ field: at("name"), message: `"${name}" is already the name of another provider` })
      )
    }
    providers.push({ ...provider, name })
  }
  const defaultProvider = file.defaultProvider ?? providers[0]!.name
  if (!providers.some((p) => p.name === defaultProvider)) {
    return Result.fail(
      new InvalidConfig({ field: field("defaultProvider"), message: "does not name a configured provider" })
    )
  }
  return Result.succeed({
    providers,
    defaultProvider,
    defaultProfile: file.defaultProfile,
    profilesDir: file.profilesDir
  })
}

/**
 * Decodes a config file's text; `field` prefixes every field name (e.g. the file's name).
 * @category constructors
 */
export const decode = (text: string, prefix = ""): Result.Result<Settings, InvalidConfig> => {
  const field = (path: string) => (prefix.length > 0 ? `${prefix}: ${path}` : path) || "the config"
  const json = Result.try(() => JSON.parse(text) as unknown)
  if (Result.isFailure(json)) {
    return Result.fail(new InvalidConfig({ field: prefix || "the config", message: "is not valid JSON" }))
  }
  const file = decodeConfigFile(json.success)
  return Result.isFailure(file) ? Result.fail(schemaFailure(file.failure, field)) : check(file.success, field)
}

/**
 * Reads and decodes a config file; a relative `profilesDir` is resolved against the file's directory. Errors name
 * the file by its base name only.
 * @category constructors
 */
export const load = Effect.fnUntraced(function*(file: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const name = path.basename(file)
  const text = yield* fs.readFileString(file).pipe(
    Effect.mapError(() => new InvalidConfig({ field: "--config", message: `cannot read the file ${name}` }))
  )
  const settings = yield* Effect.fromResult(decode(text, name))
  return settings.profilesDir === undefined
    ? settings
    : { ...settings, profilesDir: path.resolve(path.dirname(file), settings.profilesDir) }
})

/** The common case without a file: one provider from flags or environment variables. @category models */
export interface SingleProvider {
  readonly provider: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly model: Option.Option<string>
  readonly apiKeyEnv: Option.Option<string>
  readonly maxOutputTokens: Option.Option<number>
}

/** The settings' key → the name people set it by (`--base-url`, `YOI_BASE_URL`). */
export type SettingNames = Readonly<Record<"provider" | "baseUrl" | "model" | "apiKeyEnv" | "maxOutputTokens", string>>

/**
 * One provider from single settings (flags or environment), checked like a config file's, naming the setting;
 * `None` when no provider is set (then every other setting must be unset too).
 * @category constructors
 */
export const fromSingle = (
  single: SingleProvider,
  names: SettingNames
): Result.Result<Option.Option<Settings>, InvalidConfig> => {
  if (Option.isNone(single.provider)) {
    for (const key of ["baseUrl", "model", "apiKeyEnv", "maxOutputTokens"] as const) {
      const value: Option.Option<unknown> = single[key]
      if (Option.isSome(value)) {
        return Result.fail(new InvalidConfig({ field: names[key], message: `needs ${names.provider}` }))
      }
    }
    return Result.succeed(Option.none())
  }
  const provider = {
    kind: single.provider.value,
    ...Option.match(single.baseUrl, { onNone: () => ({}), onSome: (baseUrl) => ({ baseUrl }) }),
    ...Option.match(single.model, { onNone: () => ({}), onSome: (model) => ({ model }) }),
    ...Option.match(single.apiKeyEnv, { onNone: () => ({}), onSome: (apiKeyEnv) => ({ apiKeyEnv }) }),
    ...Option.match(single.maxOutputTokens, { onNone: () => ({}), onSome: (maxOutputTokens) => ({ maxOutputTokens }) })
  }
  const field = (path: string) => {
    const key = path.replace(/^providers\[0\]\.?/, "").split(/[.[]/)[0]!
    return key === "kind" ? names.provider : names[key as keyof SettingNames] ?? names.provider
  }
  const file = decodeConfigFile({ providers: [provider] })
  if (Result.isFailure(file)) return Result.fail(schemaFailure(file.failure, field))
  return Result.map(check(file.success, field), Option.some)
}
