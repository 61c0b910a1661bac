import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Layer } from "effect"
import { runtimeBehaviour } from "./suite/RuntimeBehaviour.ts"

runtimeBehaviour("embedded client, memory adapters", (config) =>
  EmbeddedRuntimeClient.layer.pipe(
    Layer.provide(RuntimePresets.layerMemory({
      runtimeId: "test-runtime",
      engine: config.engine,
      limits: config.limits,
      replayBuffer: config.replayBuffer
    }))
  ))
