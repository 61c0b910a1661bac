/**
 * A scripted engine whose text deltas carry the moment they were emitted: each `text_delta` is replaced by
 * `performance.now()` (milliseconds, same process) at the moment the engine stream produces it. A watcher in the
 * same process subtracts it from its own receive time: the delivery lag from engine emit to watcher receive.
 *
 * Pacing, delta counts and `/script` inputs are the scripted engine's own; only the delta text changes.
 */
import { ScriptedLlmEngine } from "@yoi/adapters"
import { LlmEngine } from "@yoi/domain"
import { Layer, Stream } from "effect"

/** The stamp text: fixed width, so every delta has the same size. */
export const stamp = (): string => performance.now().toFixed(4).padStart(14, "0")

export const make = (options?: ScriptedLlmEngine.Options): LlmEngine.LlmEngine["Service"] => {
  const scripted = ScriptedLlmEngine.make(options)
  return LlmEngine.LlmEngine.of({
    info: scripted.info,
    stream: (request) =>
      scripted.stream(request).pipe(
        Stream.map((event): LlmEngine.EngineEvent =>
          event._tag === "text_delta" ? { _tag: "text_delta", delta: stamp() } : event
        )
      )
  })
}

export const layer = (options?: ScriptedLlmEngine.Options): Layer.Layer<LlmEngine.LlmEngine> =>
  Layer.succeed(LlmEngine.LlmEngine, make(options))

/** The lag in milliseconds of a stamped delta received now. */
export const lagOf = (delta: string, receivedAt: number): number => receivedAt - Number(delta)
