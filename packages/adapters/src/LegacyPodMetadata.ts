/**
 * Adapter: the `LegacyPods` port over a legacy data directory through `FileSystem | Path` — lists `<dataDir>/pods`,
 * reads each entry's `metadata.json` with bounds, and decodes it with `LegacyPods.PodMetadata`.
 *
 * Bounds: at most `maxScan` entries per scan, in name order (plain files are skipped: lock files, editor droppings);
 * a `metadata.json` is read only when `stat` says it is a regular file of at most 1 MiB (a FIFO or device would
 * block the read; a huge file is not metadata); eight entries are read at a time.
 *
 * Deliberately not here: which workspace sees a pod, ids, labels and diagnostics (the registry's `LegacyPodSource`),
 * and any write or liveness check.
 */
import { LegacyPods } from "@yoi/domain"
import { Effect, FileSystem, Layer, Option, Path, Schema } from "effect"

const MAX_METADATA_BYTES = 1024 * 1024

const decodeMetadata = Schema.decodeUnknownOption(Schema.fromJsonString(LegacyPods.PodMetadata))

/** @category constructors */
export const make = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  const readRecord = (podsDir: string, name: string): Effect.Effect<LegacyPods.PodRecord> => {
    const file = path.join(podsDir, name, "metadata.json")
    return fs.stat(file).pipe(
      Effect.flatMap((info) =>
        info.type !== "File" || info.size > BigInt(MAX_METADATA_BYTES)
          ? Effect.succeed<LegacyPods.PodRecord>({ _tag: "Unreadable" })
          : fs.readFileString(file).pipe(
            Effect.map((text): LegacyPods.PodRecord =>
              Option.match(decodeMetadata(text), {
                onNone: () => ({ _tag: "Invalid" }),
                onSome: (metadata) => ({ _tag: "Pod", metadata })
              })
            )
          )
      ),
      Effect.catch(() => Effect.succeed<LegacyPods.PodRecord>({ _tag: "Unreadable" }))
    )
  }

  return LegacyPods.LegacyPods.of({
    scan: Effect.fn("LegacyPodMetadata.scan")(function*(options) {
      const podsDir = path.join(options.dataDir, "pods")
      const listing = yield* fs.readDirectoryEntries(podsDir).pipe(Effect.option)
      if (Option.isNone(listing)) return { _tag: "Unavailable" } as const
      const names = listing.value.filter((entry) => entry.type !== "File").map((entry) => entry.name).sort()
      const maxScan = Math.max(0, options.maxScan)
      const records = yield* Effect.forEach(names.slice(0, maxScan), (name) => readRecord(podsDir, name), {
        concurrency: 8
      })
      return { _tag: "Listed", records, limited: names.length > maxScan } as const
    })
  })
})

/** @category layers */
export const layer: Layer.Layer<LegacyPods.LegacyPods, never, FileSystem.FileSystem | Path.Path> = Layer.effect(
  LegacyPods.LegacyPods,
  make
)
