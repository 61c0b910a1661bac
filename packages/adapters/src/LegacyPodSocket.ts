/**
 * Port of the legacy pod adapter: how it opens a Unix socket. `effect` has no Unix-socket connector and the adapters
 * depend on `effect` only, so the connector is a service: the server's `bin.ts` (and tests) provide it with
 * `NodeSocket.makeNet({ path })` from `@effect/platform-node`.
 *
 * `open` only builds the `Socket`; acquiring its `reader` (in a scope) is the connect, which fails with a
 * `SocketError` whose `SocketOpenError` cause carries the errno code (`ENOENT`, `ECONNREFUSED`) the adapter retries on.
 *
 * Deliberately not here: retries, deadlines, framing (the adapter's `internal/podConnection.ts`).
 */
import { Context } from "effect"
import type { Effect } from "effect"
import type { Socket } from "effect/socket"

/** @category services */
export class LegacyPodSocket extends Context.Service<LegacyPodSocket, {
  open(path: string): Effect.Effect<Socket.Socket>
}>()("@yoi/adapters/LegacyPodSocket") {}
