/**
 * `LegacyPodMetadata` on a real temp directory: the records of a scan (name order, plain files skipped), what is
 * unreadable or invalid, the bounds (size, FIFO, `maxScan`), and an unlistable directory.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { LegacyPods } from "@yoi/domain"
import { Effect, FileSystem, Layer, Path } from "effect"
import { execFileSync } from "node:child_process"
import * as LegacyPodMetadata from "../src/LegacyPodMetadata.ts"

const fixture = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const base = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-legacy-metadata-" })
  const dataDir = path.join(base, "data")
  const podsDir = path.join(dataDir, "pods")
  yield* fs.makeDirectory(podsDir, { recursive: true })
  const writeRaw = Effect.fnUntraced(function*(dir: string, text: string) {
    yield* fs.makeDirectory(path.join(podsDir, dir), { recursive: true })
    yield* fs.writeFileString(path.join(podsDir, dir, "metadata.json"), text)
  })
  const scan = (options: { readonly dataDir?: string; readonly maxScan?: number } = {}) =>
    Effect.flatMap(
      LegacyPods.LegacyPods,
      (pods) => pods.scan({ dataDir: options.dataDir ?? dataDir, maxScan: options.maxScan ?? 256 })
    )
  return { fs, path, base, dataDir, podsDir, writeRaw, scan }
})

const names = (scan: LegacyPods.PodScan) =>
  scan._tag === "Listed"
    ? scan.records.map((record) => record._tag === "Pod" ? record.metadata.pod_name : record._tag)
    : []

const tags = (scan: LegacyPods.PodScan) =>
  scan._tag === "Unavailable" ? "Unavailable" : scan.records.map((record) => record._tag)

layer(LegacyPodMetadata.layer.pipe(Layer.provideMerge(NodeServices.layer)))("LegacyPodMetadata", (it) => {
  it.effect("decodes each entry's metadata.json in name order; plain files are never pods", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.writeRaw("b-pod", JSON.stringify({ pod_name: "beta", workspace_root: "/w", extra: [1] }))
      yield* f.writeRaw("a-pod", JSON.stringify({ pod_name: "alpha", active: { session_id: "s", more: 1 } }))
      yield* f.writeRaw("c-broken", "{ \"pod_name\": ")
      yield* f.writeRaw("d-shape", JSON.stringify({ pod_name: 42 }))
      yield* f.writeRaw("e-empty-name", JSON.stringify({ pod_name: "" }))
      yield* f.fs.makeDirectory(f.path.join(f.podsDir, "f-dir", "metadata.json"), { recursive: true })
      yield* f.fs.makeDirectory(f.path.join(f.podsDir, "g-no-metadata"))
      yield* f.fs.writeFileString(f.path.join(f.podsDir, "0-stray.lock"), "not a pod")
      const scan = yield* f.scan()
      assert.deepStrictEqual(scan, {
        _tag: "Listed",
        limited: false,
        records: [
          { _tag: "Pod", metadata: { pod_name: "alpha", active: { session_id: "s" } } },
          { _tag: "Pod", metadata: { pod_name: "beta", workspace_root: "/w" } },
          { _tag: "Invalid" },
          { _tag: "Invalid" },
          { _tag: "Invalid" },
          { _tag: "Unreadable" },
          { _tag: "Unreadable" }
        ]
      })
    }))

  it.effect(
    "metadata larger than 1 MiB or not a regular file is unreadable, and never read",
    () =>
      Effect.gen(function*() {
        const f = yield* fixture
        yield* f.writeRaw("big", JSON.stringify({ pod_name: "big", padding: "x".repeat(1024 * 1024) }))
        yield* f.fs.makeDirectory(f.path.join(f.podsDir, "fifo"))
        // Reading a FIFO with no writer would block forever: only `stat` may touch it.
        execFileSync("mkfifo", [f.path.join(f.podsDir, "fifo", "metadata.json")])
        yield* f.writeRaw("small", JSON.stringify({ pod_name: "small", padding: "x".repeat(1000) }))
        assert.deepStrictEqual(tags(yield* f.scan()), ["Unreadable", "Unreadable", "Pod"])
      }),
    { timeout: 10_000 }
  )

  it.effect("reads at most maxScan entries by name and says there were more", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      for (const name of ["e", "c", "a", "d", "b"]) yield* f.writeRaw(name, JSON.stringify({ pod_name: name }))
      yield* f.fs.writeFileString(f.path.join(f.podsDir, "0-aaa.lock"), "")
      const three = yield* f.scan({ maxScan: 3 })
      assert.deepStrictEqual([names(three), three._tag === "Listed" && three.limited], [["a", "b", "c"], true])
      const five = yield* f.scan({ maxScan: 5 })
      assert.deepStrictEqual([names(five), five._tag === "Listed" && five.limited], [["a", "b", "c", "d", "e"], false])
      const none = yield* f.scan({ maxScan: 0 })
      assert.deepStrictEqual([names(none), none._tag === "Listed" && none.limited], [[], true])
    }))

  it.effect("a missing data dir, a data dir without pods, or a file is Unavailable; an empty pods dir is not", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.fs.makeDirectory(f.path.join(f.base, "empty-data"))
      yield* f.fs.writeFileString(f.path.join(f.base, "file-data"), "")
      for (const dataDir of ["nowhere", "empty-data", "file-data"]) {
        assert.deepStrictEqual(yield* f.scan({ dataDir: f.path.join(f.base, dataDir) }), { _tag: "Unavailable" })
      }
      assert.deepStrictEqual(yield* f.scan(), { _tag: "Listed", records: [], limited: false })
    }))
})
