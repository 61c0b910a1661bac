import { EmbeddedRuntimeClient, RuntimePresets } from "@yoi/runtime"
import { Effect, Layer } from "effect"
import { registryBehaviour } from "./suite/RegistryBehaviour.ts"

registryBehaviour("embedded source", (runtimeId) =>
  Effect.succeed({
    source: {
      kind: "embedded",
      runtimeId,
      displayName: "Embedded",
      workspace: "ws-a",
      client: EmbeddedRuntimeClient.layer.pipe(Layer.provide(RuntimePresets.layerMemory({ runtimeId })))
    },
    secrets: []
  }))
