/**
 * Case 3 — streaming over HTTP. Throughput: one run emitting N zero-delay deltas, watched with `WatchWorker`
 * through the HTTP RPC client; baseline: a bare `node:http` chunked ndjson response carrying the same event lines,
 * read with the same fetch. Latency: a paced run (one delta per millisecond) whose deltas carry their emit time
 * (`StampEngine`); the lag is engine emit → watcher receive, against a bare server writing stamped lines at the
 * same pace.
 */
import type { RuntimeClient } from "@yoi/domain"
import { RuntimePresets } from "@yoi/runtime"
import { Deferred, Effect, Fiber, Stream } from "effect"
import type { ServerResponse } from "node:http"
import { type CaseOptions, type CaseResult, row } from "../CaseResult.ts"
import { now, round, summarize } from "../support/Measure.ts"
import { bareServerScoped, remoteClient, serveRuntime } from "../support/Servers.ts"
import * as StampEngine from "../support/StampEngine.ts"

const linesPerWrite = 1024

const deltaLine = (seq: number) =>
  `${
    JSON.stringify({
      _tag: "text_delta",
      seq,
      at: Date.now(),
      runId: "r_0197a1b2c3d4e5f60718293a4b5c6d7e",
      delta: StampEngine.stamp()
    })
  }\n`

/** Writes `count` lines in batches, waiting for `drain` when the socket is full. */
const writeBurst = (response: ServerResponse, count: number) => {
  let seq = 0
  const pump = () => {
    while (seq < count) {
      let text = ""
      for (let i = 0; i < linesPerWrite && seq < count; i++) text += deltaLine(++seq)
      if (!response.write(text)) {
        response.once("drain", pump)
        return
      }
    }
    response.end()
  }
  pump()
}

/** Writes `count` lines, one per timer tick of `delayMs`. */
const writePaced = (response: ServerResponse, count: number, delayMs: number) => {
  let seq = 0
  const tick = () => {
    if (seq >= count) return void response.end()
    response.write(deltaLine(++seq))
    setTimeout(tick, delayMs)
  }
  setTimeout(tick, delayMs)
}

/** Reads an ndjson response with fetch; calls `onLine` for each parsed line. */
const readLines = async (url: string, onLine: (line: { readonly delta: string }) => void) => {
  const response = await fetch(url)
  const decoder = new TextDecoder()
  let carry = ""
  for await (const chunk of response.body!) {
    const text = carry + decoder.decode(chunk, { stream: true })
    let start = 0
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      onLine(JSON.parse(text.slice(start, end)) as { readonly delta: string })
      start = end + 1
    }
    carry = text.slice(start)
  }
}

/** One run of `script`, watched from before its input; returns elapsed ms and the lag of each delta. */
const watchedRun = (script: string, client: RuntimeClient.RuntimeClientApi) =>
  Effect.gen(function*() {
    const { worker } = yield* client.CreateWorker({ profile: { kind: "builtin", name: "companion" } })
    const workerId = worker.ref.workerId
    const subscribed = yield* Deferred.make<void>()
    const lags: Array<number> = []
    const watcher = yield* client.WatchWorker({ workerId, after: 0 }).pipe(
      Stream.takeUntil((item) => item._tag === "run_finished"),
      Stream.runForEachArray((items) =>
        Effect.sync(() => {
          const at = now()
          for (const item of items) {
            if (item._tag === "snapshot") Deferred.doneUnsafe(subscribed, Effect.void)
            else if (item._tag === "text_delta") lags.push(StampEngine.lagOf(item.delta, at))
          }
        })
      ),
      Effect.forkScoped
    )
    yield* Deferred.await(subscribed)
    const start = now()
    yield* client.SendInput({ workerId, input: { kind: "user", text: `/script ${script}` } })
    yield* Fiber.join(watcher)
    return { ms: now() - start, lags }
  })

export const run = (options: CaseOptions): Promise<CaseResult> => {
  const deltas = options.quick ? 10_000 : 100_000
  const paced = options.quick ? 300 : 2_000
  const delayMs = 1

  const program = Effect.gen(function*() {
    const url = yield* serveRuntime(RuntimePresets.layerMemory({
      runtimeId: "bench",
      engineLayer: StampEngine.layer(),
      // The whole zero-delay run is one burst: a watcher's buffer must hold it, or it is closed as lagging.
      limits: { watchBuffer: deltas + 4096 }
    }))
    const client = yield* remoteClient(url)

    const bare = yield* bareServerScoped((request, response) => {
      const query = new URL(request.url ?? "/", "http://127.0.0.1").searchParams
      const count = Number(query.get("count"))
      response.writeHead(200, { "content-type": "application/ndjson" })
      if (query.get("paced") === "1") writePaced(response, count, delayMs)
      else writeBurst(response, count)
    })
    const bareRun = (count: number, pacedRun: boolean) =>
      Effect.promise(async () => {
        const lags: Array<number> = []
        const start = now()
        await readLines(`${bare.url}/stream?count=${count}&paced=${pacedRun ? 1 : 0}`, (line) => {
          lags.push(StampEngine.lagOf(line.delta, now()))
        })
        return { ms: now() - start, lags }
      })

    // Warm-up: a tenth of the burst through both paths.
    yield* bareRun(Math.ceil(deltas / 10), false)
    yield* watchedRun(JSON.stringify({ deltas: Math.ceil(deltas / 10) }), client)

    const baselineBurst = yield* bareRun(deltas, false)
    const subjectBurst = yield* watchedRun(JSON.stringify({ deltas }), client)
    const baselinePaced = yield* bareRun(paced, true)
    const subjectPaced = yield* watchedRun(JSON.stringify({ deltas: paced, delayMs }), client)
    return { baselineBurst, subjectBurst, baselinePaced, subjectPaced }
  }).pipe(Effect.scoped)

  return Effect.runPromise(program).then(({ baselineBurst, subjectBurst, baselinePaced, subjectPaced }) => {
    const lagBase = summarize(baselinePaced.lags)
    const lagSubject = summarize(subjectPaced.lags)
    const burstLag = summarize(subjectBurst.lags)
    return {
      id: "3",
      title: "Streaming over HTTP",
      baseline: "bare node:http chunked ndjson of the same event lines, read with fetch",
      subject: "WatchWorker via the HTTP RPC client on one run of the scripted engine (memory Runtime)",
      rows: [
        row({
          metric: `${deltas} deltas, emit to last received`,
          unit: "ms",
          baseline: baselineBurst.ms,
          subject: subjectBurst.ms,
          maxRatio: 1.5
        }),
        row({
          metric: "deltas/s",
          unit: "ops/s",
          baseline: baselineBurst.lags.length / baselineBurst.ms * 1000,
          subject: subjectBurst.lags.length / subjectBurst.ms * 1000,
          higherIsBetter: true
        }),
        row({ metric: "paced emit→receive p50", unit: "ms", baseline: lagBase.p50, subject: lagSubject.p50 }),
        row({
          metric: "paced emit→receive p99",
          unit: "ms",
          baseline: lagBase.p99,
          subject: lagSubject.p99,
          maxAbsolute: 1
        })
      ],
      notes: [
        `burst: one run of ${deltas} zero-delay deltas (the scripted engine emits them as one chunk); ` +
        `the Runtime's watchBuffer is raised to ${deltas + 4096} so the watcher is not closed as lagging ` +
        "(default 4096)",
        `paced: ${paced} deltas, one every ${delayMs} ms (Effect.sleep / setTimeout), each stamped with ` +
        "performance.now() when the engine emits it; server and client share this process",
        `burst lag (emit→receive, context): p50 ${round(burstLag.p50)} ms, p99 ${round(burstLag.p99)} ms`
      ],
      context: {
        deltas,
        receivedBurst: subjectBurst.lags.length,
        baselineReceived: baselineBurst.lags.length,
        pacedDeltas: subjectPaced.lags.length,
        subjectLagMaxMs: round(lagSubject.max, 3),
        baselineLagMaxMs: round(lagBase.max, 3)
      }
    }
  })
}
