/**
 * Case 2 — an HTTP command round trip: `GetWorker` through the HTTP RPC client (`HttpRuntimeClient`, fetch) against
 * the runtime server on loopback; baseline: the same fetch against a bare `node:http` server that answers the very
 * bytes the runtime server answered, over a keep-alive connection. One more row sends the raw request line to the
 * runtime server with bare fetch, which splits the cost between the server and the client. Observability rows time
 * the subject against four servers and clients of their own in a second alternating loop — spans and metrics on,
 * spans off (the server's), metrics discarded, both — each ratio on / off ≤ 1.05×.
 */
import { RuntimePresets } from "@yoi/runtime"
import { Effect } from "effect"
import { Agent } from "node:http"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { compare, timed, timedPromise } from "../support/Loops.ts"
import { round, summarize } from "../support/Measure.ts"
import * as Observability from "../support/Observability.ts"
import { barePost, bareServerScoped, onBody, remoteClient, requestLine, serveRuntime } from "../support/Servers.ts"

const headers = { "content-type": "application/ndjson" }

export const run = (options: CaseOptions): Promise<CaseResult> => {
  const loop = {
    warmup: options.quick ? 200 : 2_000,
    count: options.quick ? 600 : 20_000,
    budgetMs: options.quick ? 4_000 : 40_000
  }

  const program = Effect.gen(function*() {
    const url = yield* serveRuntime(RuntimePresets.layerMemory({ runtimeId: "bench" }))
    const client = yield* remoteClient(url)
    const { worker } = yield* client.CreateWorker({ profile: { kind: "builtin", name: "companion" } })
    const workerId = worker.ref.workerId
    const body = requestLine(1, "GetWorker", { workerId })
    const post = (target: string) => () =>
      fetch(`${target}/rpc`, { method: "POST", headers, body }).then((response) => response.text())
    const answer = yield* Effect.promise(post(url))
    const bare = yield* bareServerScoped((request, response) =>
      onBody(request, () => {
        response.writeHead(200, { ...headers, "content-length": Buffer.byteLength(answer) })
        response.end(answer)
      })
    )

    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Agent({ keepAlive: true, maxSockets: 1 })),
      (agent) => Effect.sync(() => agent.destroy())
    )
    const nodePost = barePost(agent)
    const nodeClient = yield* remoteClient(url, "node:http")

    const samples = yield* compare([
      timedPromise(post(bare.url)),
      timed(client.GetWorker({ workerId })),
      timedPromise(post(url)),
      timedPromise(() => nodePost(`${bare.url}/rpc`, body, headers)),
      timed(nodeClient.GetWorker({ workerId }))
    ], loop)
    const [baseline, subject, rawToServer, nodeBaseline, nodeSubject] = samples.map(summarize)

    const observed = yield* Effect.forEach(Observability.settings, (setting) =>
      Effect.gen(function*() {
        const variantUrl = yield* Observability.under(setting)(
          serveRuntime(RuntimePresets.layerMemory({ runtimeId: "bench" }))
        )
        // the client keeps its spans: without them effect's RPC client sends the "noop" trace context, which the
        // server's body guard refuses as an invalid traceId
        const under = Observability.under({ ...setting, tracing: true })
        const variantClient = yield* under(remoteClient(variantUrl))
        const created = yield* under(variantClient.CreateWorker({ profile: { kind: "builtin", name: "companion" } }))
        return under(timed(variantClient.GetWorker({ workerId: created.worker.ref.workerId })))
      }))
    const [on, tracingOff, metricsOff, allOff] = (yield* compare(observed, loop)).map(summarize)
    return {
      observability: { on: on!, tracingOff: tracingOff!, metricsOff: metricsOff!, allOff: allOff! },
      baseline: baseline!,
      subject: subject!,
      rawToServer: rawToServer!,
      nodeBaseline: nodeBaseline!,
      nodeSubject: nodeSubject!,
      bytes: Buffer.byteLength(answer)
    }
  }).pipe(Effect.scoped)

  return Effect.runPromise(program).then((
    { baseline, subject, rawToServer, nodeBaseline, nodeSubject, bytes, observability }
  ) => ({
    id: "2",
    title: "HTTP command round trip",
    baseline: "fetch → bare node:http answering the same ndjson bytes (keep-alive)",
    subject: "GetWorker via the HTTP RPC client (HttpRuntimeClient) → runtime server (memory Runtime)",
    rows: [
      row({ metric: "GetWorker p50", unit: "µs", baseline: baseline.p50, subject: subject.p50, maxRatio: 1.5 }),
      row({ metric: "GetWorker p99", unit: "µs", baseline: baseline.p99, subject: subject.p99 }),
      row({
        metric: "GetWorker calls/s",
        unit: "ops/s",
        baseline: 1e6 / baseline.mean,
        subject: 1e6 / subject.mean,
        higherIsBetter: true
      }),
      row({ metric: "raw fetch → runtime server p50", unit: "µs", baseline: baseline.p50, subject: rawToServer.p50 }),
      row({ metric: "raw fetch → runtime server p99", unit: "µs", baseline: baseline.p99, subject: rawToServer.p99 }),
      row({
        metric: "over node:http: GetWorker p50",
        unit: "µs",
        baseline: nodeBaseline.p50,
        subject: nodeSubject.p50,
        maxRatio: 1.5
      }),
      row({
        metric: "over node:http: GetWorker p99",
        unit: "µs",
        baseline: nodeBaseline.p99,
        subject: nodeSubject.p99
      }),
      ...Observability.rows(observability, "p50"),
      ...Observability.rows(observability, "mean")
    ],
    notes: [
      "server and client share this process and 127.0.0.1; calls are sequential over one keep-alive connection",
      "raw fetch row: the request line posted by hand to the runtime server (no RPC client), to split the cost",
      "over node:http rows: HttpRuntimeClient.layerNoHttpClient + NodeHttpClient (keep-alive agent) vs a bare " +
      "node:http request on a keep-alive agent, both to the same servers",
      Observability.note,
      "here \"spans off\" is the server's spans (the RPC server's, the Runtime's); the client's stay on"
    ],
    context: {
      calls: subject.n,
      responseBytes: bytes,
      subjectMeanUs: round(subject.mean),
      baselineMeanUs: round(baseline.mean),
      observedCalls: observability.on.n
    }
  }))
}
