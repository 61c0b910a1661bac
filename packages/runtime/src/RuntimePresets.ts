/**
 * Ready-made Runtimes: the only module of `@yoi/runtime` that picks adapters.
 *
 * `layerMemory` is a complete Runtime in memory with the scripted engine — for embedding a tools-less Companion in
 * a backend, for demos and for tests. Durable presets (filesystem) come with the runtime process.
 */
import { MemoryEventBus, MemoryLiveAllocation, MemoryWorkerStore, ScriptedLlmEngine } from "@yoi/adapters"
import type { LlmEngine } from "@yoi/domain"
import { Layer } from "effect"
import * as Runtime from "./Runtime.ts"

/** @category models */
export interface MemoryOptions extends Partial<Runtime.Options> {
  /** Options of the scripted engine (ignored when `engineLayer` is given). */
  readonly engine?: ScriptedLlmEngine.Options | undefined
  /** Another engine instead of the scripted one. */
  readonly engineLayer?: Layer.Layer<LlmEngine.LlmEngine> | undefined
}

/**
 * A Runtime with memory adapters and (by default) the scripted engine. Each use of the returned layer value is one
 * Runtime; call it again for another.
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<Runtime.Runtime> => {
  const replayBuffer = options.replayBuffer ?? 1024
  return Runtime.layerNoDeps({ runtimeId: "embedded", ...options, replayBuffer }).pipe(
    Layer.provide([
      MemoryWorkerStore.layer,
      MemoryLiveAllocation.layer,
      MemoryEventBus.layer({ replay: replayBuffer }),
      options.engineLayer ?? ScriptedLlmEngine.layer(options.engine)
    ]),
    Layer.orDie
  )
}
