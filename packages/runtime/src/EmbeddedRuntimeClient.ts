/**
 * The embedded `RuntimeClient`: a client wired to the `RuntimeRpcs` handlers in the same process, with no
 * serialization and no transport (no HTTP, no socket, no token). It is how a backend — and the registry — call an
 * embedded Runtime, through the same client type they use for remote ones.
 *
 * **Details** This is `RpcServer.makeNoSerialization` and `RpcClient.makeNoSerialization` back to back (what
 * `RpcTest.makeClient` does, inlined here so production code does not depend on a module marked for tests). Acks
 * are on, so a watcher that stops reading exerts backpressure exactly as over HTTP.
 */
import { RuntimeClient, RuntimeRpcs } from "@yoi/domain"
import { Effect, Layer } from "effect"
import { RpcClient, type RpcGroup, RpcServer } from "effect/rpc"
import type { Runtime } from "./Runtime.ts"
import * as RuntimeHandlers from "./RuntimeHandlers.ts"

/** @category constructors */
export const make = Effect.gen(function*() {
  // oxlint-disable-next-line prefer-const
  let client!: Effect.Success<ReturnType<typeof RpcClient.makeNoSerialization<Rpcs, never>>>
  const server = yield* RpcServer.makeNoSerialization(RuntimeRpcs.RuntimeRpcs, {
    spanPrefix: RuntimeRpcs.spanPrefix,
    onFromServer: (response) => client.write(response)
  })
  client = yield* RpcClient.makeNoSerialization(RuntimeRpcs.RuntimeRpcs, {
    supportsAck: true,
    onFromClient: ({ message }) => server.write(0, message)
  })
  return RuntimeClient.RuntimeClient.of(client.client)
})

type Rpcs = RpcGroup.Rpcs<typeof RuntimeRpcs.RuntimeRpcs>

/**
 * The embedded side of `RuntimeAuth`: an in-process caller is already inside the trust boundary.
 * @category layers
 */
export const layerAdmitAll: Layer.Layer<RuntimeRpcs.RuntimeAuth> = Layer.succeed(
  RuntimeRpcs.RuntimeAuth,
  RuntimeRpcs.RuntimeAuth.of((effect) => effect)
)

/** @category layers */
export const layer: Layer.Layer<RuntimeClient.RuntimeClient, never, Runtime> = Layer.effect(
  RuntimeClient.RuntimeClient,
  make
).pipe(Layer.provide([RuntimeHandlers.layer, layerAdmitAll]))
