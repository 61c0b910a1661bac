/**
 * Ready-made Runtimes: the only module of `@yoi/runtime` that picks adapters.
 *
 * `layerMemory` is a complete Runtime in memory (the scripted engine unless providers are given) — for embedding a
 * Companion in a backend, for demos and for tests. `layerFileSystem` is the durable Runtime of a runtime process:
 * its state in a data directory, its scope claims in a host-wide allocation directory shared with every other
 * runtime process. `layerProviders` builds the providers of `RuntimeSettings` (their keys read as
 * `Config.Redacted` from the environment variables the settings name, requests made with `fetch`), and
 * `layerConfig` is a memory Runtime configured from the environment, for a backend that embeds one.
 *
 * Deliberately not here: reading flags (the CLI) and Worker semantics (`Runtime`).
 */
import {
  AnthropicLlmEngine,
  FileSystemLiveAllocation,
  FileSystemWorkerStore,
  MemoryEventBus,
  MemoryLiveAllocation,
  MemoryWorkerStore,
  OpenAiCompatLlmEngine,
  ScriptedLlmEngine
} from "@yoi/adapters"
import { type Errors, type LlmEngine, LlmProviders, WorkerExecution } from "@yoi/domain"
import { Config, Duration, Effect, type FileSystem, Layer, Option, type Path, Redacted, Result } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import * as Profiles from "./Profiles.ts"
import * as Runtime from "./Runtime.ts"
import * as RuntimeConfig from "./RuntimeConfig.ts"
import * as RuntimeSettings from "./RuntimeSettings.ts"

/** @category models */
export interface MemoryOptions extends Partial<RuntimeConfig.Options> {
  /** Options of the scripted engine (ignored when `engineLayer` or `providers` is given). */
  readonly engine?: ScriptedLlmEngine.Options | undefined
  /** One engine instead of the scripted one. */
  readonly engineLayer?: Layer.Layer<LlmEngine.LlmEngine> | undefined
  /** The providers, e.g. `layerProviders(settings)`; overrides `engine` and `engineLayer`. */
  readonly providers?: Layer.Layer<LlmProviders.LlmProviders, RuntimeSettings.InvalidConfig> | undefined
  /**
   * Where Workers run, over the providers (default: `WorkerExecution.layerProviders`, each Worker on its provider's
   * engine).
   */
  readonly execution?: Layer.Layer<WorkerExecution.WorkerExecution, never, LlmProviders.LlmProviders> | undefined
}

const providersOf = (options: MemoryOptions) =>
  options.providers ??
    LlmProviders.layerSingle.pipe(Layer.provide(options.engineLayer ?? ScriptedLlmEngine.layer(options.engine)))

/** The providers and the execution Workers run on over them. */
const enginesOf = <E>(
  execution: MemoryOptions["execution"],
  providers: Layer.Layer<LlmProviders.LlmProviders, E>
): Layer.Layer<LlmProviders.LlmProviders | WorkerExecution.WorkerExecution, E> =>
  (execution ?? WorkerExecution.layerProviders).pipe(Layer.provideMerge(providers))

/** One provider's engine; its key, when it names one, from the environment. */
const engineOf = (
  provider: RuntimeSettings.Settings["providers"][number]
): Effect.Effect<LlmEngine.LlmEngine["Service"], RuntimeSettings.InvalidConfig, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    if (provider.kind === "scripted") return ScriptedLlmEngine.make({ name: provider.name })
    let apiKey: Redacted.Redacted<string> | undefined
    if (provider.apiKeyEnv !== undefined) {
      // the message does not name the variable: a key pasted where its variable's name belongs would be printed
      const unset = new RuntimeSettings.InvalidConfig({
        field: `provider "${provider.name}": apiKeyEnv`,
        message: "names an environment variable that is not set or is empty"
      })
      apiKey = yield* Config.Redacted(provider.apiKeyEnv).pipe(Effect.mapError(() => unset))
      if (Redacted.value(apiKey).trim().length === 0) return yield* unset
    }
    const policy = {
      ...(provider.retry?.maxRetries !== undefined ? { maxRetries: provider.retry.maxRetries } : {}),
      ...(provider.retry?.baseDelayMs !== undefined ? { baseDelay: Duration.millis(provider.retry.baseDelayMs) } : {}),
      ...(provider.retry?.maxDelayMs !== undefined ? { maxDelay: Duration.millis(provider.retry.maxDelayMs) } : {}),
      ...(provider.timeouts?.firstEventMs !== undefined
        ? { firstEventTimeout: Duration.millis(provider.timeouts.firstEventMs) }
        : {}),
      ...(provider.timeouts?.idleMs !== undefined ? { idleTimeout: Duration.millis(provider.timeouts.idleMs) } : {})
    }
    const common = {
      name: provider.name,
      model: provider.model!,
      apiKey,
      maxOutputTokens: provider.maxOutputTokens,
      temperature: provider.temperature,
      policy
    }
    return provider.kind === "anthropic"
      ? yield* AnthropicLlmEngine.make({ ...common, ...(provider.baseUrl ? { baseUrl: provider.baseUrl } : {}) })
      : yield* OpenAiCompatLlmEngine.make({ ...common, baseUrl: provider.baseUrl! })
  })

/**
 * The providers of `settings`, requests made with `fetch`. Fails with `InvalidConfig` when a key's environment
 * variable is not set.
 * @category layers
 */
export const layerProviders = (
  settings: RuntimeSettings.Settings
): Layer.Layer<LlmProviders.LlmProviders, RuntimeSettings.InvalidConfig> =>
  Layer.effect(
    LlmProviders.LlmProviders,
    Effect.map(
      Effect.forEach(settings.providers, engineOf),
      (engines) => LlmProviders.make(engines, settings.defaultProvider)
    )
  ).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * Checks named profiles against settings: each names a configured provider (or none), and the default profile is
 * a builtin or one of them.
 * @category constructors
 */
export const checkProfiles = (
  settings: RuntimeSettings.Settings,
  named: ReadonlyArray<LlmEngine.Profile>
): Result.Result<void, RuntimeSettings.InvalidConfig> => {
  for (const profile of named) {
    if (profile.provider !== undefined && !settings.providers.some((p) => p.name === profile.provider)) {
      return Result.fail(
        new RuntimeSettings.InvalidConfig({
          field: `profile "${profile.name}": provider`,
          message: "does not name a configured provider"
        })
      )
    }
  }
  const defaultProfile = settings.defaultProfile
  if (
    defaultProfile !== undefined && !Profiles.builtins.has(defaultProfile) &&
    !named.some((p) => p.name === defaultProfile)
  ) {
    return Result.fail(
      new RuntimeSettings.InvalidConfig({
        field: "defaultProfile",
        message: "is neither a builtin nor a named profile"
      })
    )
  }
  return Result.void
}

/**
 * The Runtime options settings stand for: the providers, the named profiles of the profiles directory, the
 * default profile.
 * @category constructors
 */
export const fromSettings = Effect.fnUntraced(function*(settings: RuntimeSettings.Settings) {
  const named = settings.profilesDir === undefined ? [] : yield* Profiles.loadDirectory(settings.profilesDir)
  yield* Effect.fromResult(checkProfiles(settings, named))
  return {
    providers: layerProviders(settings),
    namedProfiles: named,
    ...(settings.defaultProfile !== undefined ? { defaultProfile: settings.defaultProfile } : {})
  } satisfies MemoryOptions
})

/** A Runtime on the memory adapters (store, allocation, bus sized by its replay buffer) and `providers`. */
const memoryRuntime = <E>(
  options: RuntimeConfig.Options,
  providers: Layer.Layer<LlmProviders.LlmProviders, E>,
  execution: MemoryOptions["execution"]
): Layer.Layer<Runtime.Runtime, E | Errors.StoreFailure> =>
  Runtime.layerNoDeps(options).pipe(
    Layer.provide([
      MemoryWorkerStore.layer,
      MemoryLiveAllocation.layer,
      MemoryEventBus.layer({ replay: options.replayBuffer ?? RuntimeConfig.defaultReplayBuffer }),
      enginesOf(execution, providers)
    ])
  )

/**
 * A Runtime with memory adapters and (by default) the scripted engine. Each use of the returned layer value is one
 * Runtime; call it again for another.
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<Runtime.Runtime> =>
  memoryRuntime({ runtimeId: "embedded", ...options }, providersOf(options), options.execution).pipe(Layer.orDie)

/** @category models */
export interface FileSystemOptions extends MemoryOptions {
  /** The Runtime's data directory (records, event logs, transcripts). */
  readonly directory: string
  /** The host-wide allocation directory shared by every runtime process on this host. */
  readonly allocationDirectory: string
}

/**
 * A durable Runtime on the filesystem; on start it reconciles what the last process left (see `Runtime`).
 * @category layers
 */
export const layerFileSystem = (
  options: FileSystemOptions
): Layer.Layer<
  Runtime.Runtime,
  Errors.StoreFailure | RuntimeSettings.InvalidConfig,
  FileSystem.FileSystem | Path.Path
> =>
  Runtime.layerNoDeps({ runtimeId: "local", ...options }).pipe(
    Layer.provide([
      FileSystemWorkerStore.layer({ directory: options.directory }),
      FileSystemLiveAllocation.layer({ directory: options.allocationDirectory }),
      MemoryEventBus.layer({ replay: options.replayBuffer ?? RuntimeConfig.defaultReplayBuffer }),
      enginesOf(options.execution, providersOf(options))
    ])
  )

/** The environment variables `layerConfig` reads, as `RuntimeSettings.fromSingle` names them. */
const environmentNames: RuntimeSettings.SettingNames = {
  provider: "YOI_PROVIDER",
  baseUrl: "YOI_BASE_URL",
  model: "YOI_MODEL",
  apiKeyEnv: "YOI_API_KEY_ENV",
  maxOutputTokens: "YOI_MAX_OUTPUT_TOKENS"
}

/** An environment variable's value, if set. */
const optional = (name: string) => Config.option(Config.String(name)).pipe(Effect.orElseSucceed(() => Option.none()))

/**
 * Settings from the environment: a config file named by `YOI_RUNTIME_CONFIG`, or one provider from `YOI_PROVIDER`,
 * `YOI_BASE_URL`, `YOI_MODEL`, `YOI_API_KEY_ENV`, `YOI_MAX_OUTPUT_TOKENS` (plus `YOI_PROFILES_DIR`), or — with none
 * set — the scripted engine. The same rules as the runtime process's flags.
 * @category constructors
 */
export const settingsFromEnvironment = Effect.gen(function*() {
  const file = yield* optional("YOI_RUNTIME_CONFIG")
  if (Option.isSome(file)) return yield* RuntimeSettings.load(file.value)
  const maxOutputTokens = yield* optional("YOI_MAX_OUTPUT_TOKENS")
  const tokens = Option.map(maxOutputTokens, Number)
  if (Option.isSome(tokens) && !Number.isInteger(tokens.value)) {
    return yield* new RuntimeSettings.InvalidConfig({ field: "YOI_MAX_OUTPUT_TOKENS", message: "must be an integer" })
  }
  const single = yield* Effect.fromResult(RuntimeSettings.fromSingle({
    provider: yield* optional("YOI_PROVIDER"),
    baseUrl: yield* optional("YOI_BASE_URL"),
    model: yield* optional("YOI_MODEL"),
    apiKeyEnv: yield* optional("YOI_API_KEY_ENV"),
    maxOutputTokens: tokens
  }, environmentNames))
  const profilesDir = yield* optional("YOI_PROFILES_DIR")
  const settings = Option.getOrElse(single, () => RuntimeSettings.scripted)
  return Option.isSome(profilesDir) ? { ...settings, profilesDir: profilesDir.value } : settings
})

/**
 * A memory Runtime configured from the environment (`settingsFromEnvironment`).
 * @category layers
 */
export const layerConfig = (
  options: Partial<RuntimeConfig.Options> = {}
): Layer.Layer<Runtime.Runtime, RuntimeSettings.InvalidConfig, FileSystem.FileSystem | Path.Path> =>
  Layer.unwrap(Effect.gen(function*() {
    const settings = yield* settingsFromEnvironment
    const configured = yield* fromSettings(settings)
    return memoryRuntime({ runtimeId: "embedded", ...options, ...configured }, configured.providers, undefined).pipe(
      // the memory store cannot fail to open
      Layer.catchTag("StoreFailure", (failure) => Layer.effect(Runtime.Runtime, Effect.die(failure)))
    )
  }))
