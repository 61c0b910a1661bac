/**
 * What the adapter tests share beyond the domain's sample values (`@yoi/domain/test/support/fixtures`): a reader's
 * whole view of one Worker in a store, and adapter layers built over a fresh temp directory.
 *
 * Deliberately not here: the sample records, entries and events themselves (the domain's fixtures, which every
 * package's tests use), and the fakes of the engine tests (`fakeProvider.ts`, `llamaServer.ts`).
 */
import { NodeServices } from "@effect/platform-node"
import type { Ids, WorkerStore } from "@yoi/domain"
import { Effect, FileSystem, Layer } from "effect"

/** Everything a reader can observe about one Worker (the whole transcript, up to 10,000 entries and events). */
export const observe = Effect.fnUntraced(function*(store: WorkerStore.WorkerStore["Service"], workerId: Ids.WorkerId) {
  return {
    record: yield* store.getWorker(workerId),
    events: yield* store.readEvents(workerId, { after: 0, limit: 10_000 }),
    lastEventSeq: yield* store.lastEventSeq(workerId),
    transcript: yield* store.readTranscript(workerId, { after: 0, limit: 10_000 }),
    transcriptCount: yield* store.transcriptCount(workerId)
  }
})

/**
 * The layer `make(directory)` builds on a temp directory of its own, removed when the layer's scope closes, on the
 * real Node filesystem: rebuilt with `Layer.fresh`, each test of a contract suite gets a new directory.
 */
export const onTempDirectory = <A, E, R>(prefix: string, make: (directory: string) => Layer.Layer<A, E, R>) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      return make(yield* fs.makeTempDirectoryScoped({ prefix }))
    })
  ).pipe(Layer.provide(NodeServices.layer))
