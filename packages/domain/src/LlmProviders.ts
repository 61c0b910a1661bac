/**
 * Port: the LLM providers a Runtime runs Workers on, by name — one `LlmEngine` each, and the default one.
 *
 * A profile names its provider (or takes the default); the Runtime resolves it when a Worker is created and
 * records the provider's name and the model with the Worker, so a restart keeps each Worker on its model. What
 * views show of a provider is its `ProviderSummary`: name, kind and model, never its URL or key.
 *
 * Deliberately not here: building engines from configuration (the Runtime's presets pick adapters) and choosing
 * between providers at run time (a Worker stays on the provider it was created on).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { LlmEngine } from "./LlmEngine.ts"

/** What a Runtime says about one of its providers. @category models */
export class ProviderSummary extends Schema.Class<ProviderSummary>("@yoi/domain/ProviderSummary")({
  name: Schema.String,
  kind: Schema.String,
  model: Schema.String,
  scripted: Schema.Boolean,
  isDefault: Schema.Boolean
}) {}

/** @category services */
export class LlmProviders extends Context.Service<LlmProviders, {
  /** The name `{ provider: undefined }` resolves to. */
  readonly defaultProvider: string
  readonly summaries: ReadonlyArray<ProviderSummary>
  /** The engine of a provider, or undefined when none has that name. */
  get(name: string): LlmEngine["Service"] | undefined
}>()("@yoi/domain/LlmProviders") {}

/**
 * Providers from engines, named by their `info.provider`; the first is the default unless `defaultProvider`
 * names another. Names must be unique and the default must exist: configuration decoding checks both with
 * typed errors, so a violation here is a defect.
 * @category constructors
 */
export const make = (
  engines: ReadonlyArray<LlmEngine["Service"]>,
  defaultProvider?: string
): LlmProviders["Service"] => {
  const byName = new Map<string, LlmEngine["Service"]>()
  for (const engine of engines) {
    if (byName.has(engine.info.provider)) throw new Error(`duplicate provider name "${engine.info.provider}"`)
    byName.set(engine.info.provider, engine)
  }
  const chosen = defaultProvider ?? engines[0]?.info.provider
  if (chosen === undefined || !byName.has(chosen)) throw new Error("the default provider is not configured")
  const summaries = engines.map((engine) =>
    new ProviderSummary({
      name: engine.info.provider,
      kind: engine.info.kind,
      model: engine.info.model,
      scripted: engine.info.scripted,
      isDefault: engine.info.provider === chosen
    })
  )
  return LlmProviders.of({ defaultProvider: chosen, summaries, get: (name) => byName.get(name) })
}

/** One provider: the `LlmEngine` in context. @category layers */
export const layerSingle: Layer.Layer<LlmProviders, never, LlmEngine> = Layer.effect(
  LlmProviders,
  Effect.map(Effect.service(LlmEngine), (engine) => make([engine]))
)
