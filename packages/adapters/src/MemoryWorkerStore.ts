/**
 * Adapter: the `WorkerStore` port in memory, for tests, demos and embedded Runtimes that need no durability.
 *
 * State lives in plain `Map`s inside the layer: one instance per layer build, gone when the process ends. Every
 * method runs synchronously inside one Effect step, so a `commit` validates and applies with no yield point in
 * between — it is atomic without a lock, and a rejected commit changes nothing.
 *
 * **Details** Reads are bounded like the durable store's: `readEvents` binary-searches the seq-sorted log
 * (O(log n + limit)) and `readTranscript` slices the range `Transcript.pageRange` computes (O(limit)).
 *
 * Deliberately not here: persistence, copying records (they are immutable schema instances), Worker semantics (the
 * Runtime assigns every seq and decides every transition; the store only applies `WorkerStore.checkChange`, the
 * port's rule that keeps its logs well-formed) and diagnostics (nothing can be torn or corrupt in memory).
 */
import { type Ids, type RuntimeEvent, Sorted, Transcript, WorkerStore } from "@yoi/domain"
import { Effect, Layer, Option, Result } from "effect"

interface WorkerLogs {
  readonly events: Array<RuntimeEvent.WorkerEvent>
  readonly transcript: Array<Transcript.TranscriptEntry>
}

/**
 * Builds an empty in-memory store. Each evaluation is an independent store.
 * @category constructors
 */
export const make: Effect.Effect<WorkerStore.WorkerStore["Service"]> = Effect.sync(() => {
  let runtime: Option.Option<WorkerStore.RuntimeRecord> = Option.none()
  const records = new Map<string, WorkerStore.WorkerRecord>()
  const logs = new Map<string, WorkerLogs>()

  const commit = Effect.fn("WorkerStore.commit")(
    function*(workerId: Ids.WorkerId, change: WorkerStore.WorkerChange) {
      const current = logs.get(workerId)
      const checked = WorkerStore.checkChange(workerId, {
        lastEventSeq: current?.events.at(-1)?.seq ?? 0,
        transcriptCount: current?.transcript.length ?? 0
      }, change)
      if (Result.isFailure(checked)) return yield* checked.failure
      // Validated: apply everything before the next yield point, so no reader sees half a change.
      const target = current ?? { events: [], transcript: [] }
      if (current === undefined) logs.set(workerId, target)
      // Loops, not `push(...items)`: a spread of a very large change would overflow the call stack.
      for (const entry of change.transcript ?? []) target.transcript.push(entry)
      for (const event of change.events ?? []) target.events.push(event)
      if (change.record !== undefined) records.set(workerId, change.record)
    }
  )

  return WorkerStore.WorkerStore.of({
    loadRuntime: Effect.sync(() => runtime),
    saveRuntime: (record) =>
      Effect.sync(() => {
        runtime = Option.some(record)
      }),
    listWorkers: Effect.sync(() => Array.from(records.values())),
    getWorker: (workerId) => Effect.sync(() => Option.fromUndefinedOr(records.get(workerId))),
    commit,
    readEvents: (workerId, { after, limit }) =>
      Effect.sync(() => {
        const events = logs.get(workerId)?.events
        if (events === undefined || limit <= 0) return []
        const start = Sorted.upperBound(events, after, Sorted.bySeq)
        return events.slice(start, start + limit)
      }),
    lastEventSeq: (workerId) => Effect.sync(() => logs.get(workerId)?.events.at(-1)?.seq ?? 0),
    readTranscript: (workerId, query) =>
      Effect.sync(() => {
        const transcript = logs.get(workerId)?.transcript ?? []
        const range = Transcript.pageRange(transcript.length, query)
        return new Transcript.TranscriptPage({
          entries: transcript.slice(range.start - 1, range.end),
          total: transcript.length,
          hasMore: range.hasMore
        })
      }),
    transcriptCount: (workerId) => Effect.sync(() => logs.get(workerId)?.transcript.length ?? 0),
    diagnostics: Effect.succeed([])
  })
})

/**
 * A fresh, empty in-memory `WorkerStore` per layer build.
 * @category layers
 */
export const layer: Layer.Layer<WorkerStore.WorkerStore> = Layer.effect(WorkerStore.WorkerStore, make)
