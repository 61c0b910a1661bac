/**
 * The runtime process's model settings from its flags: a config file (`--config`), or the common case of one
 * provider as flags (`--provider`, `--base-url`, `--model`, `--api-key-env`, `--max-output-tokens`), or — with
 * neither — the scripted engine. `--profiles-dir` adds (or, with a config file, replaces) the named profiles.
 *
 * Errors are `InvalidConfig` naming the flag or the config file's field; a config file together with provider
 * flags is refused rather than merged, so there is one source of truth for the providers.
 *
 * Deliberately not here: the schemas and rules (`RuntimeSettings`), building engines (`RuntimePresets`).
 */
import { RuntimeSettings } from "@yoi/runtime"
import { Effect, Option } from "effect"

/** The flags each provider setting comes from. */
const flagNames: RuntimeSettings.SettingNames = {
  provider: "--provider",
  baseUrl: "--base-url",
  model: "--model",
  apiKeyEnv: "--api-key-env",
  maxOutputTokens: "--max-output-tokens"
}

/** @category models */
export interface Flags extends RuntimeSettings.SingleProvider {
  readonly config: Option.Option<string>
  readonly profilesDir: Option.Option<string>
}

/** @category constructors */
export const resolve = Effect.fnUntraced(function*(flags: Flags) {
  let settings: RuntimeSettings.Settings
  if (Option.isSome(flags.config)) {
    for (const key of ["provider", "baseUrl", "model", "apiKeyEnv", "maxOutputTokens"] as const) {
      const value: Option.Option<unknown> = flags[key]
      if (Option.isSome(value)) {
        return yield* new RuntimeSettings.InvalidConfig({
          field: flagNames[key],
          message: "cannot be combined with --config: configure the providers in the file"
        })
      }
    }
    settings = yield* RuntimeSettings.load(flags.config.value)
  } else {
    const single = yield* Effect.fromResult(RuntimeSettings.fromSingle(flags, flagNames))
    settings = Option.getOrElse(single, () => RuntimeSettings.scripted)
  }
  return Option.isSome(flags.profilesDir) ? { ...settings, profilesDir: flags.profilesDir.value } : settings
})
