/**
 * The one client type for a Runtime: an RPC client of `RuntimeRpcs`. The embedded client (in-process, no
 * serialization) and the HTTP client are layers providing this same service, so callers — a backend, the
 * registry, the CLI — never branch on transport.
 */
import { Context } from "effect"
import type { RpcClient, RpcClientError, RpcGroup } from "effect/rpc"
import type { RuntimeRpcs } from "./RuntimeRpcs.ts"

/** @category models */
export type RuntimeClientApi = RpcClient.RpcClient<RpcGroup.Rpcs<typeof RuntimeRpcs>, RpcClientError.RpcClientError>

/** @category services */
export class RuntimeClient extends Context.Service<RuntimeClient, RuntimeClientApi>()("@yoi/domain/RuntimeClient") {}
