/**
 * `FileSystemWorkerStore` on real temp directories: the shared `WorkerStore` contract, then what only a disk store
 * has to get right — reopening, torn tails, corrupt records, temp files, group commit, bounded reads, failed writes
 * and path-free messages.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Errors, Ids, RuntimeEvent, type Transcript, WorkerStore } from "@yoi/domain"
import { inputId, range, runId, transcriptEntry, w1, w2, workerRecord } from "@yoi/domain/test/support/fixtures"
import { Effect, Exit, FileSystem, Layer, Option, Path, PlatformError, Scope } from "effect"
import * as FileSystemWorkerStore from "../src/FileSystemWorkerStore.ts"
import { workerStoreContract } from "./contract/WorkerStoreContract.ts"
import { observe, onTempDirectory } from "./support/fixtures.ts"

workerStoreContract(
  "filesystem",
  onTempDirectory("yoi-store-contract-", (directory) => FileSystemWorkerStore.layer({ directory }))
)

type Store = WorkerStore.WorkerStore["Service"]

/** Entries long enough that 5,000 of them make a transcript of over 400 KB (the bounded-read test). */
const entry = (seq: number) => transcriptEntry(seq, `entry ${seq}: ${"lorem ipsum ".repeat(4)}`)
const entries = (from: number, to: number) => range(from, to).map(entry)

/**
 * Events of two small kinds: the bounded-read test reads 10 of them in under 1,000 bytes (the domain's
 * `durableEvent` cycles through five kinds, usage totals among them, and would not fit).
 */
const event = (seq: number): RuntimeEvent.WorkerEvent =>
  seq % 2 === 0
    ? RuntimeEvent.TextDoneEvent.make({ seq, at: 3_000 + seq, runId, text: `answer ${seq}` })
    : RuntimeEvent.RunStartedEvent.make({ seq, at: 3_000 + seq, runId, inputId })

/**
 * What a test can do to the files under a store, and the path-free check every message must pass.
 *
 * `open` plays a new process each time (its own fake pid) after every earlier one has died, so a store left open is
 * a crashed process's: its directory lock is taken over, and no clean marker is written for it. `openAs` opens as a
 * given fake pid, which stays alive until the test adds it to `dead`.
 */
const disk = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-store-" })
  const fileOf = (workerId: string, name: string) => path.join(directory, "workers", workerId, name)
  const dead = new Set<number>()
  const opened: Array<number> = []
  const openAs = (pid: number) => FileSystemWorkerStore.make({ directory, pid, isProcessAlive: (p) => !dead.has(p) })
  return {
    directory,
    fileOf,
    dead,
    openAs,
    lockPath: path.join(directory, "runtime.lock"),
    open: Effect.suspend(() => {
      for (const pid of opened) dead.add(pid)
      const pid = 2_000_000 + opened.length
      opened.push(pid)
      return openAs(pid)
    }),
    size: (workerId: string, name: string) => Effect.map(fs.stat(fileOf(workerId, name)), (info) => Number(info.size)),
    append: (workerId: string, name: string, text: string) =>
      fs.writeFileString(fileOf(workerId, name), text, { flag: "a" }),
    write: (workerId: string, name: string, text: string) => fs.writeFileString(fileOf(workerId, name), text),
    truncate: (workerId: string, name: string, length: number) => fs.truncate(fileOf(workerId, name), length),
    /** Every file under the store, relative names. */
    files: Effect.map(fs.readDirectory(directory, { recursive: true }), (names) => names.sort()),
    assertPathFree: (message: string) => {
      assert.notInclude(message, directory)
      assert.notInclude(message, "/", "no path separators")
      assert.notInclude(message, ".jsonl")
      assert.notInclude(message, ".json")
    }
  }
})

/** Counts fsyncs per file name and bytes read; can make `rename` or `open` of one file name fail. */
interface Probe {
  readonly syncs: Map<string, number>
  bytesRead: number
  failRename: boolean
  failOpenOf: string | undefined
}

const makeProbe = (): Probe => ({ syncs: new Map(), bytesRead: 0, failRename: false, failOpenOf: undefined })

const injected = (method: string, file: string) =>
  PlatformError.systemError({ _tag: "Unknown", module: "FileSystem", method, pathOrDescriptor: file })

const wrap = (probe: Probe, name: string, handle: FileSystem.File): FileSystem.File => ({
  [FileSystem.FileTypeId]: FileSystem.FileTypeId,
  stat: Effect.suspend(() => handle.stat),
  seek: (offset, from) => handle.seek(offset, from),
  sync: Effect.suspend(() => {
    probe.syncs.set(name, (probe.syncs.get(name) ?? 0) + 1)
    return handle.sync
  }),
  read: (buffer, options) =>
    Effect.map(handle.read(buffer, options), (n) => {
      probe.bytesRead += n
      return n
    }),
  readAlloc: (size, options) =>
    Effect.map(handle.readAlloc(size, options), (chunk) => {
      if (Option.isSome(chunk)) probe.bytesRead += chunk.value.length
      return chunk
    }),
  truncate: (length) => handle.truncate(length),
  write: (buffer) => handle.write(buffer),
  writeAll: (buffer) => handle.writeAll(buffer)
})

/** A real `FileSystem` wrapped to record into `probe`. Injected failures carry the path, as real ones do. */
const probed = (probe: Probe): Layer.Layer<FileSystem.FileSystem | Path.Path> =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      return FileSystem.FileSystem.of({
        ...fs,
        open: (file, options) =>
          path.basename(file) === probe.failOpenOf
            ? Effect.fail(injected("open", file))
            : Effect.map(fs.open(file, options), (handle) => wrap(probe, path.basename(file), handle)),
        readFile: (file) =>
          Effect.map(fs.readFile(file), (bytes) => {
            probe.bytesRead += bytes.length
            return bytes
          }),
        rename: (from, to) => probe.failRename ? Effect.fail(injected("rename", to)) : fs.rename(from, to)
      })
    })
  ).pipe(Layer.provideMerge(NodeServices.layer))

const codesOf = (store: Store) =>
  Effect.map(store.diagnostics, (diagnostics) => diagnostics.map((d) => `${d.workerId ?? ""}:${d.code}`).sort())

describe("FileSystemWorkerStore", () => {
  it.effect("everything committed survives reopening the store on the same directory", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const first = yield* files.open
      const runtime = new WorkerStore.RuntimeRecord({ runtimeId: Ids.RuntimeId.make("rt_1"), createdAt: 7 })
      yield* first.saveRuntime(runtime)
      yield* first.commit(w1, { transcript: entries(1, 3), events: [event(1), event(2)], record: workerRecord(w1, 1) })
      yield* first.commit(w1, { transcript: [entry(4)], events: [event(5)], record: workerRecord(w1, 2) })
      yield* first.commit(w1, { events: [event(9)] })
      yield* first.commit(w2, { record: workerRecord(w2, 1) })
      const one = yield* observe(first, w1)
      const two = yield* observe(first, w2)

      const second = yield* files.open
      assert.deepStrictEqual(yield* second.loadRuntime, Option.some(runtime))
      assert.deepStrictEqual((yield* second.listWorkers).map((r) => r.workerId).sort(), ["w_1", "w_2"])
      assert.deepStrictEqual(yield* observe(second, w1), one)
      assert.deepStrictEqual(yield* observe(second, w2), two)
      assert.deepStrictEqual(one.record, Option.some(workerRecord(w1, 2)))
      assert.deepStrictEqual(one.events.map((e) => e.seq), [1, 2, 5, 9])
      assert.deepStrictEqual(one.transcript.entries, entries(1, 4))
      assert.deepStrictEqual(yield* second.diagnostics, [])

      // the reopened store continues the logs where they ended
      yield* second.commit(w1, { transcript: [entry(5)], events: [event(10)] })
      const third = yield* files.open
      assert.strictEqual(yield* third.lastEventSeq(w1), 10)
      assert.deepStrictEqual((yield* third.readTranscript(w1, { limit: 2 })).entries, entries(4, 5))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a torn tail is cut back to the last commit on open, with a diagnostic, and later commits work", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const first = yield* files.open
      yield* first.commit(w1, {
        transcript: entries(1, 3),
        events: [event(1), event(2), event(3)],
        record: workerRecord(w1, 1)
      })
      const committed = yield* observe(first, w1)
      const sizes = {
        events: yield* files.size(w1, "events.jsonl"),
        transcript: yield* files.size(w1, "transcript.jsonl"),
        index: yield* files.size(w1, "transcript.idx")
      }
      // A crash mid-commit: a whole event line (never committed: worker.json was not replaced), half a JSON line,
      // garbage in the transcript and half an index entry.
      yield* files.append(w1, "events.jsonl", `${JSON.stringify({ ...event(4) })}\n{"_tag":"run_sta`)
      yield* files.append(w1, "transcript.jsonl", `{"seq":4,"runId":"run_1","ki`)
      yield* files.append(w1, "transcript.idx", "00000000000")

      const second = yield* files.open
      const diagnostics = yield* second.diagnostics
      assert.deepStrictEqual(diagnostics.map((d) => [d.level, d.code, d.workerId]), [
        ["warning", "torn_tail_truncated", "w_1"]
      ])
      for (const d of diagnostics) files.assertPathFree(d.message)
      assert.deepStrictEqual(yield* observe(second, w1), committed)
      assert.strictEqual(yield* second.lastEventSeq(w1), 3, "the uncommitted event 4 is gone")
      assert.strictEqual(yield* files.size(w1, "events.jsonl"), sizes.events)
      assert.strictEqual(yield* files.size(w1, "transcript.jsonl"), sizes.transcript)
      assert.strictEqual(yield* files.size(w1, "transcript.idx"), sizes.index)

      yield* second.commit(w1, { transcript: [entry(4)], events: [event(4)], record: workerRecord(w1, 2) })
      const third = yield* files.open
      assert.deepStrictEqual(yield* third.diagnostics, [], "the repair was complete")
      const after = yield* observe(third, w1)
      assert.deepStrictEqual(after.events.map((e) => e.seq), [1, 2, 3, 4])
      assert.deepStrictEqual(after.transcript.entries, entries(1, 4))
      assert.deepStrictEqual(after.record, Option.some(workerRecord(w1, 2)))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a log shorter than its watermark is clamped to its intact prefix, with a diagnostic", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const first = yield* files.open
      yield* first.commit(w1, { transcript: entries(1, 2), events: [event(1), event(2)], record: workerRecord(w1, 1) })
      const eventsAt2 = yield* files.size(w1, "events.jsonl")
      yield* first.commit(w1, { transcript: entries(3, 4), events: [event(3), event(4)] })
      // lose the last event and a bit of the one before it; lose half of the transcript index
      yield* files.truncate(w1, "events.jsonl", eventsAt2 + 5)
      yield* files.truncate(w1, "transcript.idx", 17 + 4)

      const second = yield* files.open
      const diagnostics = yield* second.diagnostics
      assert.deepStrictEqual(diagnostics.map((d) => [d.code, d.workerId]), [["log_truncated", "w_1"]])
      for (const d of diagnostics) files.assertPathFree(d.message)
      const seen = yield* observe(second, w1)
      assert.deepStrictEqual(seen.events.map((e) => e.seq), [1, 2])
      assert.strictEqual(seen.lastEventSeq, 2)
      assert.deepStrictEqual(seen.transcript.entries, entries(1, 4), "the index is rebuilt from the transcript")
      assert.deepStrictEqual((yield* second.readTranscript(w1, { before: 4, limit: 2 })).entries, entries(2, 3))
      assert.deepStrictEqual(seen.record, Option.some(workerRecord(w1, 1)))

      yield* second.commit(w1, { events: [event(3)] })
      const third = yield* files.open
      assert.deepStrictEqual(yield* third.diagnostics, [], "the clamped watermarks were persisted")
      assert.deepStrictEqual((yield* observe(third, w1)).events.map((e) => e.seq), [1, 2, 3])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a corrupt worker.json is a diagnostic: that Worker is left out, the others load", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const first = yield* files.open
      yield* first.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
      yield* first.commit(w2, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w2, 1) })
      const w3 = Ids.WorkerId.make("w_3")
      yield* first.commit(w3, { record: workerRecord(w3, 1) })
      const two = yield* observe(first, w2)
      yield* files.write(w1, "worker.json", "{\"format\":1,\"record\":{\"workerId\":")
      yield* files.write(w3, "worker.json", JSON.stringify({ format: 1, logs: { eventBytes: "many" } }))
      const eventsBefore = yield* files.size(w1, "events.jsonl")

      const second = yield* files.open
      assert.deepStrictEqual(yield* codesOf(second), ["w_1:worker_record_corrupt", "w_3:worker_record_corrupt"])
      for (const d of yield* second.diagnostics) files.assertPathFree(d.message)
      assert.deepStrictEqual((yield* second.listWorkers).map((r) => r.workerId), ["w_2"])
      assert.deepStrictEqual(yield* observe(second, w2), two)

      // the quarantined Worker is refused, not silently treated as new (which would overwrite its logs)
      for (
        const attempt of [
          second.getWorker(w1),
          second.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 2) }),
          second.readEvents(w1, { after: 0, limit: 10 })
        ]
      ) {
        const failure = yield* Effect.flip(attempt)
        assert.instanceOf(failure, Errors.StoreFailure)
        files.assertPathFree(failure.message)
      }
      assert.strictEqual(yield* files.size(w1, "events.jsonl"), eventsBefore)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a stray file where a Worker directory would be is not a Worker; the store opens around it", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const first = yield* files.open
      yield* first.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
      const one = yield* observe(first, w1)
      yield* fs.writeFileString(path.join(files.directory, "workers", "w_9"), "not a directory")

      const second = yield* files.open
      assert.deepStrictEqual((yield* second.listWorkers).map((r) => r.workerId), ["w_1"])
      assert.deepStrictEqual(yield* observe(second, w1), one)
      assert.deepStrictEqual(yield* second.diagnostics, [])
      assert.isTrue(Option.isNone(yield* second.getWorker(Ids.WorkerId.make("w_9"))))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("no temp files remain after commits and runtime saves; stale ones are removed on open", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const store = yield* files.open
      for (let i = 1; i <= 5; i++) {
        yield* store.commit(w1, { transcript: [entry(i)], events: [event(i)], record: workerRecord(w1, i) })
        yield* store.saveRuntime(new WorkerStore.RuntimeRecord({ runtimeId: Ids.RuntimeId.make("rt_1"), createdAt: i }))
      }
      yield* Effect.forEach(range(6, 15), (i) => store.commit(w1, { events: [event(i)] }), { concurrency: "unbounded" })
      assert.deepStrictEqual(yield* files.files, [
        "runtime.json",
        "runtime.lock",
        "workers",
        "workers/w_1",
        "workers/w_1/events.jsonl",
        "workers/w_1/transcript.idx",
        "workers/w_1/transcript.jsonl",
        "workers/w_1/worker.json"
      ])

      // leftovers of a crash between write and rename
      yield* files.write(w1, "worker.json.abc-1.tmp", "{")
      yield* files.append(w1, "../../runtime.json.abc-2.tmp", "{")
      yield* files.open
      assert.isFalse((yield* files.files).some((name) => name.endsWith(".tmp")))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("group commit: 50 concurrent commits land in order and share far fewer than 50 fsyncs", () => {
    const probe = makeProbe()
    return Effect.gen(function*() {
      const files = yield* disk
      const store = yield* files.open
      yield* store.commit(w1, { record: workerRecord(w1, 1) })
      probe.syncs.clear()

      yield* Effect.forEach(range(1, 50), (seq) => store.commit(w1, { events: [event(seq)] }), {
        concurrency: "unbounded",
        discard: true
      })
      assert.deepStrictEqual((yield* store.readEvents(w1, { after: 0, limit: 100 })).map((e) => e.seq), range(1, 50))
      const eventSyncs = probe.syncs.get("events.jsonl") ?? 0
      assert.isAtLeast(eventSyncs, 1)
      assert.isAtMost(eventSyncs, 5, `${eventSyncs} fsyncs of the event log for 50 commits`)
      assert.isAtMost(probe.syncs.get("worker.json") ?? 0, 0, "worker.json is written through a temp file")
      const recordSyncs = Array.from(probe.syncs).filter(([name]) => name.startsWith("worker.json.")).length
      assert.isAtMost(recordSyncs, 5)
      assert.deepStrictEqual(yield* observe(yield* files.open, w1), yield* observe(store, w1))
    }).pipe(Effect.provide(probed(probe)))
  })

  it.effect("group commit: an invalid commit queued among valid ones fails alone", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const store = yield* files.open
      const changes: ReadonlyArray<WorkerStore.WorkerChange> = [
        { events: [event(1)], transcript: [entry(1)] },
        { events: [event(1)] }, // repeats seq 1
        { events: [event(2)], transcript: [entry(3)] }, // skips transcript seq 2
        { events: [event(2)], transcript: [entry(2)], record: workerRecord(w1, 1) },
        { events: [RuntimeEvent.TextDeltaEvent.make({ seq: 3, at: 1, runId, delta: "x" })] }
      ]
      const outcomes = yield* Effect.forEach(changes, (change) => Effect.result(store.commit(w1, change)), {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Success", "Failure", "Failure", "Success", "Failure"])
      const seen = yield* observe(yield* files.open, w1)
      assert.deepStrictEqual(seen.events, [event(1), event(2)])
      assert.deepStrictEqual(seen.transcript.entries, entries(1, 2))
      assert.deepStrictEqual(seen.record, Option.some(workerRecord(w1, 1)))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("readTranscript and readEvents read O(limit) bytes, not the whole log", () => {
    const probe = makeProbe()
    return Effect.gen(function*() {
      const files = yield* disk
      const store = yield* files.open
      for (let batch = 0; batch < 10; batch++) {
        const from = batch * 500 + 1
        yield* store.commit(w1, {
          transcript: entries(from, from + 499),
          events: range(from, from + 499).map(event)
        })
      }
      const transcriptSize = yield* files.size(w1, "transcript.jsonl")
      const eventsSize = yield* files.size(w1, "events.jsonl")
      assert.isAbove(transcriptSize, 400_000)

      const pages: ReadonlyArray<readonly [Transcript.TranscriptQuery, Array<number>]> = [
        [{ limit: 10 }, range(4991, 5000)],
        [{ after: 2500, limit: 10 }, range(2501, 2510)],
        [{ before: 11, limit: 10 }, range(1, 10)],
        [{ after: 0, limit: 10 }, range(1, 10)]
      ]
      for (const [query, expected] of pages) {
        probe.bytesRead = 0
        const page = yield* store.readTranscript(w1, query)
        assert.deepStrictEqual(page.entries, expected.map(entry), JSON.stringify(query))
        assert.strictEqual(page.total, 5000)
        assert.isAbove(probe.bytesRead, 0)
        assert.isBelow(probe.bytesRead, 2_000, `${probe.bytesRead} bytes read for ${JSON.stringify(query)}`)
      }

      // the first event read builds the in-memory index; later pages read only their own bytes
      yield* store.readEvents(w1, { after: 0, limit: 1 })
      probe.bytesRead = 0
      const events = yield* store.readEvents(w1, { after: 2500, limit: 10 })
      assert.deepStrictEqual(events.map((e) => e.seq), range(2501, 2510))
      assert.isBelow(probe.bytesRead, 1_000)
      assert.isAbove(eventsSize, 100 * probe.bytesRead)
    }).pipe(Effect.provide(probed(probe)))
  })

  it.effect("a write that fails before the commit point changes nothing, and the next commit repairs the tail", () => {
    const probe = makeProbe()
    return Effect.gen(function*() {
      const files = yield* disk
      const store = yield* files.open
      yield* store.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
      const before = yield* observe(store, w1)

      // the logs are appended and fsynced, then replacing worker.json fails
      probe.failRename = true
      const renameFailure = yield* Effect.flip(
        store.commit(w1, { transcript: [entry(2)], events: [event(2)], record: workerRecord(w1, 2) })
      )
      probe.failRename = false
      assert.instanceOf(renameFailure, Errors.StoreFailure)
      files.assertPathFree(renameFailure.message)
      assert.deepStrictEqual(yield* observe(store, w1), before)

      // the event log cannot be opened at all
      probe.failOpenOf = "events.jsonl"
      const openFailure = yield* Effect.flip(store.commit(w1, { events: [event(2)] }))
      probe.failOpenOf = undefined
      files.assertPathFree(openFailure.message)
      assert.deepStrictEqual(yield* observe(store, w1), before)

      yield* store.commit(w1, { transcript: [entry(2)], events: [event(3)], record: workerRecord(w1, 3) })
      const reopened = yield* files.open
      assert.deepStrictEqual(yield* reopened.diagnostics, [], "the failed batch's bytes were cut before appending")
      const seen = yield* observe(reopened, w1)
      assert.deepStrictEqual(seen.events, [event(1), event(3)])
      assert.deepStrictEqual(seen.transcript.entries, entries(1, 2))
      assert.deepStrictEqual(seen.record, Option.some(workerRecord(w1, 3)))
    }).pipe(Effect.provide(probed(probe)))
  })

  it.effect("a clean close lets the next open skip the log checks; that open consumes the marker, so a crash is still caught", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const committed = yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* files.open
        yield* first.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
        return yield* observe(first, w1)
      }))
      assert.include(yield* files.files, "clean", "closing with nothing in flight marks the store clean")

      // bytes past the watermark while stopped: the clean open does not look at the logs ...
      yield* files.append(w1, "transcript.jsonl", "{\"torn")
      const second = yield* files.open
      assert.notInclude(yield* files.files, "clean", "the open consumed the marker")
      assert.deepStrictEqual(yield* second.diagnostics, [])
      // ... but reads stay within the watermarks, and the next append cuts the tail first
      assert.deepStrictEqual(yield* observe(second, w1), committed)
      yield* second.commit(w1, { transcript: [entry(2)], events: [event(2)], record: workerRecord(w1, 2) })
      assert.deepStrictEqual((yield* observe(second, w1)).transcript.entries, entries(1, 2))

      // `second` is never closed (a crash): the next open checks every log again
      yield* files.append(w1, "events.jsonl", "{\"torn")
      const third = yield* files.open
      assert.deepStrictEqual(yield* codesOf(third), ["w_1:torn_tail_truncated"])
      assert.deepStrictEqual((yield* observe(third, w1)).transcript.entries, entries(1, 2))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a close after a failed write leaves no clean marker", () => {
    const probe = makeProbe()
    return Effect.gen(function*() {
      const files = yield* disk
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* files.open
        yield* store.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
        probe.failRename = true
        yield* Effect.flip(
          store.commit(w1, { transcript: [entry(2)], events: [event(2)], record: workerRecord(w1, 2) })
        )
        probe.failRename = false
      }))
      assert.notInclude(yield* files.files, "clean")
      const reopened = yield* files.open
      // the failed batch's appended bytes are found and cut by the full check
      assert.deepStrictEqual(yield* codesOf(reopened), ["w_1:torn_tail_truncated"])
    }).pipe(Effect.provide(probed(probe)))
  })

  it.effect("one store per directory: a second open fails while the first is open, in this process or another", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const fs = yield* FileSystem.FileSystem
      const scope = yield* Scope.make()
      const first = yield* Scope.provide(files.openAs(3_000_001), scope)
      yield* first.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
      const before = yield* files.files

      // the same process again, then a live other process: both refused, nothing in the directory touched
      yield* files.write(w1, "worker.json.abc-1.tmp", "{")
      for (const pid of [3_000_001, 3_000_002]) {
        const refused = yield* Effect.flip(Effect.scoped(files.openAs(pid)))
        assert.instanceOf(refused, Errors.StoreFailure)
        assert.strictEqual(refused.operation, "open")
        assert.strictEqual(
          refused.message,
          pid === 3_000_001
            ? "the data directory is already open in this process"
            : "the data directory is in use by another runtime process"
        )
        files.assertPathFree(refused.message)
        assert.notInclude(refused.message, "3000001")
      }
      assert.deepStrictEqual(yield* files.files, [...before, "workers/w_1/worker.json.abc-1.tmp"].sort())
      assert.deepStrictEqual((yield* observe(first, w1)).transcript.entries, [entry(1)])

      // closing releases the lock; the next store opens
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* fs.exists(files.lockPath))
      const second = yield* files.openAs(3_000_002)
      assert.deepStrictEqual((yield* observe(second, w1)).transcript.entries, [entry(1)])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a lock left by a process that died, or by this pid's previous incarnation, is taken over at once", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const fs = yield* FileSystem.FileSystem
      const ghost = (pid: number) =>
        fs.writeFileString(files.lockPath, JSON.stringify({ pid, instanceId: "store_x", acquiredAt: 0, token: "t" }))

      // a live holder: refused
      yield* ghost(4_242)
      assert.strictEqual(
        (yield* Effect.flip(Effect.scoped(files.openAs(3_000_001)))).message,
        "the data directory is in use by another runtime process"
      )
      // the holder died (SIGKILL, a crash): taken over, and the lock is ours
      files.dead.add(4_242)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* files.openAs(3_000_001)
        const text = yield* fs.readFileString(files.lockPath)
        assert.strictEqual(JSON.parse(text).pid, 3_000_001)
      }))
      assert.isFalse(yield* fs.exists(files.lockPath))

      // a lock bearing our own pid that no open store of this process holds: a restarted container reusing the pid
      yield* ghost(3_000_001)
      yield* Effect.scoped(files.openAs(3_000_001))
      // an unreadable lock (its creator died before writing it) that is fresh is respected
      yield* fs.writeFileString(files.lockPath, "")
      assert.strictEqual(
        (yield* Effect.flip(Effect.scoped(files.openAs(3_000_001)))).message,
        "the data directory is in use by another runtime process"
      )
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("no diagnostic or error names the store directory or any path", () =>
    Effect.gen(function*() {
      const files = yield* disk
      const first = yield* files.open
      yield* first.commit(w1, { transcript: [entry(1)], events: [event(1)], record: workerRecord(w1, 1) })
      yield* first.commit(w2, { events: [event(1)], record: workerRecord(w2, 1) })
      yield* files.append(w1, "events.jsonl", "{\"torn")
      yield* files.write(w2, "worker.json", "[]")
      yield* files.append(w1, "../../runtime.json", "not json")

      const store = yield* files.open
      const messages = (yield* store.diagnostics).map((d) => d.message)
      assert.strictEqual(messages.length, 3)
      const invalid = "../../escape" as Ids.WorkerId // an id that skipped validation
      const failures = yield* Effect.forEach([
        store.commit(w1, { events: [event(1)] }),
        store.commit(invalid, { record: workerRecord(w1, 1) }),
        store.readEvents(invalid, { after: 0, limit: 1 }),
        store.readTranscript(invalid, { limit: 1 }),
        store.getWorker(w2)
      ], Effect.flip)
      for (const failure of failures) assert.instanceOf(failure, Errors.StoreFailure)
      for (const message of [...messages, ...failures.map((f) => f.message)]) files.assertPathFree(message)
      assert.deepStrictEqual(
        yield* files.files,
        [
          "workers",
          "workers/w_1",
          "workers/w_1/events.jsonl",
          "workers/w_1/transcript.idx",
          "workers/w_1/transcript.jsonl",
          "workers/w_1/worker.json",
          "workers/w_2",
          "workers/w_2/events.jsonl",
          "workers/w_2/worker.json"
        ].concat(["runtime.json", "runtime.lock"]).sort(),
        "the invalid id created nothing"
      )
      assert.isTrue(Option.isNone(yield* store.loadRuntime), "a corrupt runtime record reads as none")
    }).pipe(Effect.provide(NodeServices.layer)))
})
