/**
 * What a Runtime is built with: its options, its limits and capabilities, and the one home of every default a
 * Runtime or a preset falls back on (limits, page size, replay buffer, default profile, a binding's stop grace).
 *
 * `resolve` turns `Options` into the `Resolved` configuration the Runtime's modules read: the id parsed, the limits
 * and capabilities filled in, the profile catalog built. A bad runtime id or a default profile that is not a
 * profile is a defect: options come from code or from settings checked before (`RuntimePresets.checkProfiles`).
 *
 * Deliberately not here: reading the environment or files (`RuntimeSettings`, `RuntimePresets`) and picking
 * adapters (`RuntimePresets`).
 */
import { Ids, type LlmEngine, RuntimeInfo } from "@yoi/domain"
import { Duration, Effect } from "effect"
import * as Profiles from "./Profiles.ts"

/** @category models */
export interface Limits {
  readonly maxQueuedInputs: number
  readonly maxTranscriptPage: number
  readonly maxInputChars: number
  readonly maxScopeRules: number
  /** Per-watcher buffer; a watcher further behind is closed with `SubscriberLagged`. */
  readonly watchBuffer: number
  /** Transcript entries handed to the engine as history. */
  readonly historyEntries: number
}

/** @category constructors */
export const defaultLimits: Limits = {
  maxQueuedInputs: 16,
  maxTranscriptPage: 200,
  maxInputChars: 100_000,
  maxScopeRules: 64,
  watchBuffer: 4096,
  historyEntries: 100
}

/** The bus replay buffer per topic, when `Options.replayBuffer` is not given. @category constructors */
export const defaultReplayBuffer = 1024

/** The page size of `ListWorkers` and `GetTranscript` when a request names none. @category constructors */
export const defaultPageSize = 50

/**
 * How long a binding's graceful `stop` may take when a Worker stops or the Runtime closes, before its scope
 * releases what is left (default bindings stop at once).
 * @category constructors
 */
export const defaultStopGrace: Duration.Duration = Duration.seconds(5)

/** @category models */
export interface Options {
  readonly runtimeId: string
  readonly displayName?: string | undefined
  readonly implementation?: "embedded" | "process" | undefined
  readonly capabilities?: Partial<RuntimeInfo.RuntimeCapabilities> | undefined
  readonly limits?: Partial<Limits> | undefined
  /** Builtin profiles (default: `companion` and `orchestrator`). */
  readonly profiles?: ReadonlyArray<LlmEngine.Profile> | undefined
  /** Named profiles (`{ kind: "named" }`), e.g. loaded from a profiles directory; their names differ from builtins'. */
  readonly namedProfiles?: ReadonlyArray<LlmEngine.Profile> | undefined
  /** What `{ kind: "runtime_default" }` resolves to (default: `companion`). */
  readonly defaultProfile?: string | undefined
  /** Size of the bus replay buffer (default `defaultReplayBuffer`): the presets size the bus with it. */
  readonly replayBuffer?: number | undefined
  /** The grace of a binding's `stop` (default `defaultStopGrace`). */
  readonly stopGrace?: Duration.Input | undefined
}

/** Options with every default filled in. @category models */
export interface Resolved {
  readonly runtimeId: Ids.RuntimeId
  readonly displayName: string
  readonly implementation: "embedded" | "process"
  readonly limits: Limits
  readonly replayBuffer: number
  readonly stopGrace: Duration.Duration
  readonly capabilities: RuntimeInfo.RuntimeCapabilities
  readonly catalog: Profiles.Catalog
}

const byName = (list: ReadonlyArray<LlmEngine.Profile>) => new Map(list.map((p) => [p.name, p] as const))

/** @category constructors */
export const resolve = Effect.fnUntraced(function*(options: Options) {
  const runtimeId = yield* Ids.parse(Ids.RuntimeId, "runtimeId", options.runtimeId).pipe(Effect.orDie)
  const implementation = options.implementation ?? "embedded"
  const catalog: Profiles.Catalog = {
    builtins: byName(options.profiles ?? [...Profiles.builtins.values()]),
    named: byName(options.namedProfiles ?? []),
    defaultProfile: options.defaultProfile ?? Profiles.companion.name
  }
  if (Profiles.find(catalog, catalog.defaultProfile) === undefined) {
    return yield* Effect.die(new Error(`the default profile "${catalog.defaultProfile}" is not a profile`))
  }
  const resolved: Resolved = {
    runtimeId,
    displayName: options.displayName ?? runtimeId,
    implementation,
    limits: { ...defaultLimits, ...options.limits },
    replayBuffer: options.replayBuffer ?? defaultReplayBuffer,
    stopGrace: options.stopGrace === undefined ? defaultStopGrace : Duration.fromInputUnsafe(options.stopGrace),
    capabilities: new RuntimeInfo.RuntimeCapabilities({
      embedded: implementation !== "process",
      localProcess: implementation === "process",
      remoteHost: false,
      filesystem: false,
      shell: false,
      git: false,
      worktrees: false,
      tools: [],
      ...options.capabilities
    }),
    catalog
  }
  return resolved
})

/** The limits a Runtime reports in `GetRuntime`. @category constructors */
export const runtimeLimits = (config: Resolved): RuntimeInfo.RuntimeLimits =>
  new RuntimeInfo.RuntimeLimits({
    maxQueuedInputs: config.limits.maxQueuedInputs,
    maxTranscriptPage: config.limits.maxTranscriptPage,
    maxInputChars: config.limits.maxInputChars,
    maxScopeRules: config.limits.maxScopeRules,
    watchBuffer: config.limits.watchBuffer,
    replayBuffer: config.replayBuffer
  })
