/**
 * The builtin profiles a Runtime offers, and how a `ProfileSelector` resolves against them.
 *
 * Profile texts are resources (`profiles/*.json`), not code, so prompts change without touching logic. `named`
 * selectors need configuration bundles, which no Runtime has yet: they resolve to `InvalidProfile`.
 */
import { Errors, LlmEngine, type Worker } from "@yoi/domain"
import { Effect, Schema } from "effect"
import companionJson from "./profiles/companion.json" with { type: "json" }

/** @category constructors */
export const companion: LlmEngine.Profile = Schema.decodeUnknownSync(LlmEngine.Profile)(companionJson)

/** The builtin profiles, by name. @category constructors */
export const builtins: ReadonlyMap<string, LlmEngine.Profile> = new Map([[companion.name, companion]])

/** @category constructors */
export const resolve = (
  selector: Worker.ProfileSelector,
  options: { readonly profiles: ReadonlyMap<string, LlmEngine.Profile>; readonly defaultProfile: string }
): Effect.Effect<LlmEngine.Profile, Errors.InvalidProfile> => {
  const name = selector.kind === "runtime_default" ? options.defaultProfile : selector.name
  if (selector.kind === "named") {
    return Effect.fail(
      new Errors.InvalidProfile({ message: "named profiles need a configuration bundle; none is known" })
    )
  }
  const profile = options.profiles.get(name)
  return profile === undefined
    ? Effect.fail(new Errors.InvalidProfile({ message: `no builtin profile "${name.slice(0, 64)}"` }))
    : Effect.succeed(profile)
}
