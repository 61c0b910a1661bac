/**
 * `RuntimeRpcs` handlers: protocol → core. Each handler delegates to the `Runtime` service and adds no semantics,
 * so the embedded client and the HTTP server behave identically.
 */
import { RuntimeRpcs } from "@yoi/domain"
import { Effect, type Layer } from "effect"
import type { Rpc, RpcGroup } from "effect/rpc"
import { Runtime } from "./Runtime.ts"

/** @category layers */
export const layer: Layer.Layer<Rpc.ToHandler<RpcGroup.Rpcs<typeof RuntimeRpcs.RuntimeRpcs>>, never, Runtime> =
  RuntimeRpcs.RuntimeRpcs.toLayer(Effect.gen(function*() {
    const runtime = yield* Runtime
    return RuntimeRpcs.RuntimeRpcs.of({
      GetRuntime: () => runtime.getRuntime,
      WatchRuntime: (request) => runtime.watchRuntime(request),
      ListWorkers: (request) => runtime.listWorkers(request),
      GetWorker: (request) => runtime.getWorker(request),
      CreateWorker: (request) => runtime.createWorker(request),
      StopWorker: (request) => runtime.stopWorker(request),
      SendInput: (request) => runtime.sendInput(request),
      CancelRun: (request) => runtime.cancelRun(request),
      CancelQueued: (request) => runtime.cancelQueued(request),
      GetTranscript: (request) => runtime.getTranscript(request),
      WatchWorker: (request) => runtime.watchWorker(request),
      GetUsage: (request) => runtime.getUsage(request)
    })
  }))
