/**
 * Port: the metadata of a legacy pod store, read-only — what a data directory's `pods/` holds, one record per entry
 * in name order, each `pods/<entry>/metadata.json` decoded as `PodMetadata` (unknown fields ignored) or said to be
 * unusable. Adapter: `LegacyPodMetadata` (a directory through `FileSystem`).
 *
 * The port reports I/O and shape only; what a record means (which workspace may see it, a duplicate `pod_name`, the
 * derived ids, the views and diagnostics) is the registry's `LegacyPodSource`.
 *
 * Deliberately not here: talking to a pod (sockets, pids), and any write.
 */
import { Context, type Effect, Schema } from "effect"

/** The fields of pod-store `metadata.json` the projection reads; everything else is ignored. @category schemas */
export const PodMetadata = Schema.Struct({
  pod_name: Schema.NonEmptyString,
  active: Schema.optional(Schema.NullOr(Schema.Struct({ session_id: Schema.String }))),
  workspace_root: Schema.optional(Schema.NullOr(Schema.String)),
  resolved_manifest_snapshot: Schema.optional(Schema.Unknown)
})
/** @category models */
export type PodMetadata = typeof PodMetadata.Type

/**
 * One entry of the pods directory: its decoded metadata; `Unreadable` (missing, not a regular file, larger than the
 * adapter's bound, or unreadable); or `Invalid` (not JSON, or not the metadata shape).
 * @category models
 */
export type PodRecord =
  | { readonly _tag: "Pod"; readonly metadata: PodMetadata }
  | { readonly _tag: "Unreadable" }
  | { readonly _tag: "Invalid" }

/**
 * One scan: `Unavailable` when the data directory or its `pods` directory cannot be listed; else the records of the
 * first `maxScan` entries by name (plain files are never pods and are not counted), `limited` when there were more.
 * @category models
 */
export type PodScan =
  | { readonly _tag: "Unavailable" }
  | { readonly _tag: "Listed"; readonly records: ReadonlyArray<PodRecord>; readonly limited: boolean }

/** @category services */
export class LegacyPods extends Context.Service<LegacyPods, {
  /** Reads the pods of `dataDir` afresh; never fails (what cannot be read is said in the scan). */
  scan(options: { readonly dataDir: string; readonly maxScan: number }): Effect.Effect<PodScan>
}>()("@yoi/domain/LegacyPods") {}
