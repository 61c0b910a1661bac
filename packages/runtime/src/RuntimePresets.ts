/**
 * Ready-made Runtimes: the only module of `@yoi/runtime` that picks adapters.
 *
 * `layerMemory` is a complete Runtime in memory with the scripted engine — for embedding a tools-less Companion in
 * a backend, for demos and for tests. `layerFileSystem` is the durable Runtime of a runtime process: its state in
 * a data directory, its scope claims in a host-wide allocation directory shared with every other runtime process.
 */
import {
  FileSystemLiveAllocation,
  FileSystemWorkerStore,
  MemoryEventBus,
  MemoryLiveAllocation,
  MemoryWorkerStore,
  ScriptedLlmEngine
} from "@yoi/adapters"
import { type Errors, type LlmEngine, LlmProviders } from "@yoi/domain"
import { type FileSystem, Layer, type Path } from "effect"
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
      LlmProviders.layerSingle.pipe(Layer.provide(options.engineLayer ?? ScriptedLlmEngine.layer(options.engine)))
    ]),
    Layer.orDie
  )
}

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
): Layer.Layer<Runtime.Runtime, Errors.StoreFailure, FileSystem.FileSystem | Path.Path> => {
  const replayBuffer = options.replayBuffer ?? 1024
  return Runtime.layerNoDeps({ runtimeId: "local", ...options, replayBuffer }).pipe(
    Layer.provide([
      FileSystemWorkerStore.layer({ directory: options.directory }),
      FileSystemLiveAllocation.layer({ directory: options.allocationDirectory }),
      MemoryEventBus.layer({ replay: replayBuffer }),
      LlmProviders.layerSingle.pipe(Layer.provide(options.engineLayer ?? ScriptedLlmEngine.layer(options.engine)))
    ])
  )
}
