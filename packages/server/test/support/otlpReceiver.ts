/**
 * Test support: a local OTLP/HTTP receiver on loopback that accepts `POST /v1/traces`, `/v1/logs` and `/v1/metrics`
 * with JSON bodies (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`), answers `{}` and keeps every request, for the scope.
 * `otlpReceiverHanging` reads every request and never answers: a collector that hangs.
 */
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly method: string
  readonly path: string
  readonly contentType: string | undefined
  readonly body: string
}

export interface Receiver {
  readonly url: string
  readonly received: () => ReadonlyArray<Received>
}

const make = (answer: boolean) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly receiver: Receiver; readonly close: () => void }>((resume) => {
      const received: Array<Received> = []
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({
            method: request.method ?? "",
            path: request.url ?? "",
            contentType: request.headers["content-type"],
            body: Buffer.concat(chunks).toString("utf8")
          })
          if (!answer) return
          response.writeHead(200, { "content-type": "application/json" })
          response.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({
          receiver: { url: `http://127.0.0.1:${port}`, received: () => received },
          close: () => {
            server.closeAllConnections()
            server.close()
          }
        }))
      })
    }),
    ({ close }) => Effect.sync(close)
  ).pipe(Effect.map(({ receiver }) => receiver))

export const otlpReceiver = make(true)

export const otlpReceiverHanging = make(false)
