/**
 * The profiles a Runtime offers and how a `ProfileSelector` resolves against them: the builtin ones (`companion`,
 * `orchestrator`) and named ones loaded from a profiles directory (`--profiles-dir`), one JSON file each.
 *
 * Profile texts are resources (`profiles/*.json`, or the operator's files), not code, so prompts change without
 * touching logic. A profile file is decoded strictly: an unknown key, a wrong type or a tool grant (this Runtime
 * offers no tools) is an `InvalidConfig` naming the file by its base name and the field. A named profile may not
 * take a builtin's name, so a selector means one profile.
 *
 * Deliberately not here: checking that a profile's provider exists (the presets do, once providers are built) and
 * configuration bundles (`configBundle` stays a placeholder).
 */
import { Errors, LlmEngine, type Worker } from "@yoi/domain"
import { Effect, FileSystem, Path, Result, Schema } from "effect"
import companionJson from "./profiles/companion.json" with { type: "json" }
import orchestratorJson from "./profiles/orchestrator.json" with { type: "json" }
import * as RuntimeSettings from "./RuntimeSettings.ts"

/** @category constructors */
export const companion: LlmEngine.Profile = Schema.decodeUnknownSync(LlmEngine.Profile)(companionJson)

/** @category constructors */
export const orchestrator: LlmEngine.Profile = Schema.decodeUnknownSync(LlmEngine.Profile)(orchestratorJson)

/** The builtin profiles, by name. @category constructors */
export const builtins: ReadonlyMap<string, LlmEngine.Profile> = new Map([
  [companion.name, companion],
  [orchestrator.name, orchestrator]
])

const text = (max: number) =>
  Schema.String.check(Schema.isMaxLength(max, { message: `must be at most ${max} characters` }))

/** What a profile file holds. @category schemas */
export const ProfileFile = Schema.Struct({
  name: Schema.String.check(
    Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,63}$/, { message: "must be 1-64 characters of a-z, 0-9, '_' or '-'" })
  ),
  description: Schema.optionalKey(text(500)),
  systemPrompt: text(100_000),
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^[^\s\u0000-\u001f]{1,200}$/, { message: "must be 1-200 characters" }))
  ),
  generation: Schema.optionalKey(LlmEngine.GenerationSettings),
  tools: Schema.optionalKey(
    Schema.Array(Schema.String).check(
      Schema.isMaxLength(0, { message: "must be empty: this runtime offers no tools" })
    )
  )
})

const decodeFile = Schema.decodeUnknownResult(ProfileFile, { onExcessProperty: "error", errors: "first" })

/** One profile file's text → a profile, or why not (`name` is the file's base name). @category constructors */
export const decode = (
  name: string,
  content: string
): Result.Result<LlmEngine.Profile, RuntimeSettings.InvalidConfig> => {
  const json = Result.try(() => JSON.parse(content) as unknown)
  if (Result.isFailure(json)) {
    return Result.fail(new RuntimeSettings.InvalidConfig({ field: name, message: "is not valid JSON" }))
  }
  const file = decodeFile(json.success)
  if (Result.isFailure(file)) {
    return Result.fail(
      RuntimeSettings.schemaFailure(file.failure, (path) => path.length === 0 ? name : `${name}: ${path}`)
    )
  }
  const f = file.success
  if (builtins.has(f.name)) {
    return Result.fail(
      new RuntimeSettings.InvalidConfig({ field: `${name}: name`, message: `"${f.name}" is a builtin profile's name` })
    )
  }
  return Result.succeed(
    new LlmEngine.Profile({
      name: f.name,
      description: f.description ?? "",
      systemPrompt: f.systemPrompt,
      tools: [],
      provider: f.provider,
      model: f.model,
      generation: f.generation
    })
  )
}

/**
 * The named profiles of a directory: every `*.json` file, in name order; two files with one profile name are an
 * error.
 * @category constructors
 */
export const loadDirectory = Effect.fnUntraced(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const unreadable = new RuntimeSettings.InvalidConfig({ field: "--profiles-dir", message: "cannot be read" })
  const names = yield* fs.readDirectory(directory).pipe(Effect.mapError(() => unreadable))
  const profiles: Array<LlmEngine.Profile> = []
  for (const file of names.filter((n) => n.endsWith(".json")).sort()) {
    const content = yield* fs.readFileString(path.join(directory, file)).pipe(
      Effect.mapError(() => new RuntimeSettings.InvalidConfig({ field: file, message: "cannot be read" }))
    )
    const profile = yield* Effect.fromResult(decode(file, content))
    if (profiles.some((p) => p.name === profile.name)) {
      return yield* new RuntimeSettings.InvalidConfig({
        field: `${file}: name`,
        message: `"${profile.name}" is taken by another file`
      })
    }
    profiles.push(profile)
  }
  return profiles
})

/** The profiles a selector can resolve to. @category models */
export interface Catalog {
  readonly builtins: ReadonlyMap<string, LlmEngine.Profile>
  readonly named: ReadonlyMap<string, LlmEngine.Profile>
  /** What `runtime_default` resolves to: a builtin or a named profile. */
  readonly defaultProfile: string
}

/** A profile by name, builtin or named (names never collide). @category constructors */
export const find = (catalog: Catalog, name: string): LlmEngine.Profile | undefined =>
  catalog.builtins.get(name) ?? catalog.named.get(name)

/** @category constructors */
export const resolve = (
  selector: Worker.ProfileSelector,
  catalog: Catalog
): Effect.Effect<LlmEngine.Profile, Errors.InvalidProfile> => {
  const profile = selector.kind === "runtime_default"
    ? find(catalog, catalog.defaultProfile)
    : selector.kind === "builtin"
    ? catalog.builtins.get(selector.name)
    : catalog.named.get(selector.name)
  if (profile !== undefined) return Effect.succeed(profile)
  const name = selector.kind === "runtime_default" ? catalog.defaultProfile : selector.name
  const kind = selector.kind === "named" ? "named" : "builtin"
  return Effect.fail(new Errors.InvalidProfile({ message: `no ${kind} profile "${name.slice(0, 64)}"` }))
}
