/**
 * Adapter: a read-only `SourceClient` over legacy pod metadata (`<dataDir>/pods/*\/metadata.json`) for one workspace
 * root — the local pod compatibility projection of `shared/reference/legacy-pod.md` §9.
 *
 * Every `listWorkers`, `getWorker` and `probe` re-scans the pods directory, so the projection is always current:
 * at most `maxScan` entries (default 256) in name order, each `metadata.json` decoded with `Schema` (unknown fields
 * ignored). Entries that cannot be used are skipped with a diagnostic, never a failure:
 * - `local_pod_metadata_unreadable` (warning): missing, not a regular file, larger than 1 MiB, or unreadable;
 * - `local_pod_metadata_invalid` (warning): not JSON, not the metadata shape, or a `pod_name` another entry has;
 * - `local_pod_workspace_root_missing` (warning): no (or an empty) `workspace_root`;
 * - `local_pod_workspace_not_visible` (info): another workspace's pod — roots compared lexically, trailing slashes
 *   trimmed;
 * - `local_pod_registry_unavailable` (warning): the data directory or its `pods` directory cannot be listed (the
 *   list is then empty);
 * - `local_pod_scan_limited` (info): more than `maxScan` entries; only the first `maxScan` by name were read.
 * At most `maxDiagnostics` (default 16) are reported, in scan order. Their messages are fixed strings: they never
 * name a path, a pod, a session or another workspace root.
 *
 * A pod becomes a `WorkerView` with an opaque derived id (`boundedIdentifier("local-pod-", pod_name)`, §10; the
 * metadata's `pod_name` is the authority, not the directory name), a sanitized label as its display name, and
 * status `idle` when the metadata has an `active` session, `stopped` when it is metadata only (the legacy `state`
 * `active` / `metadata_only`: the pod may be running, but nothing here can reach it, so it is never `running`).
 *
 * Deliberately not here: talking to a legacy pod (every command is `OperationUnsupported` until a later issue
 * connects them), liveness checks of sockets or pids, the spawn/peer/delegation columns, and any write.
 *
 * **Details** The SHA-256 of the derived ids comes from `effect/crypto`'s `Digest` service when the caller provides
 * one (e.g. `NodeCrypto.layerDigest`), otherwise from the core `Digest.layerWebCrypto` (`globalThis.crypto.subtle`,
 * present in Node 22 and secure browser contexts) — so `make` needs only `FileSystem | Path`.
 */
import { Errors } from "@yoi/domain"
import { Effect, FileSystem, Option, Path, Schema, Stream } from "effect"
import { Digest } from "effect/crypto"
import * as RegistryErrors from "./RegistryErrors.ts"
import type * as SourceClient from "./SourceClient.ts"
import type * as Views from "./Views.ts"

/** @category models */
export interface Options {
  /** The id this source is registered under; every view carries it. */
  readonly runtimeId: string
  /** The legacy data directory; pods live in `<dataDir>/pods/<pod_name>/metadata.json`. */
  readonly dataDir: string
  /** Only pods whose `workspace_root` is this root (lexically, trailing slashes trimmed) are listed. */
  readonly workspaceRoot: string
  /** Entries of the pods directory read per scan, in name order. Default 256. */
  readonly maxScan?: number | undefined
  /** Diagnostics reported per scan. Default 16. */
  readonly maxDiagnostics?: number | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Identifiers and labels
// ---------------------------------------------------------------------------------------------------------------

const MAX_IDENTIFIER_LENGTH = 120
const DIGEST_HEX_LENGTH = 16
const MAX_LABEL_LENGTH = 80
const MAX_METADATA_BYTES = 1024 * 1024

/** C0/C1 controls and DEL, the bidi embedding/override/isolate marks, and the line/paragraph separators. */
const unsafeDisplayCharacters = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029/\\]/gu

/**
 * A safe display hint from an untrusted name: control characters (and bidi marks and line separators), `/` and `\`
 * removed, surrounding whitespace trimmed, at most 80 characters (code points, so no surrogate pair is split).
 * Empty when nothing is left; callers choose the fallback.
 * @category constructors
 */
export const sanitizeLabel = (raw: string): string =>
  Array.from(raw.replace(unsafeDisplayCharacters, "").trim()).slice(0, MAX_LABEL_LENGTH).join("").trim()

const trimDashes = (text: string) => text.replace(/^-+|-+$/g, "")

/**
 * Lowercase ASCII alphanumerics, `-` and `_` kept, every other character (code point, as the legacy Rust `char`)
 * `-`, outer dashes trimmed, `id` if empty.
 */
const identifierBody = (raw: string): string => {
  const body = trimDashes(raw.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/[^a-z0-9_-]/gu, "-"))
  return body === "" ? "id" : body
}

/** §10 steps 2–3, given the hex SHA-256 of `raw`. */
const assembleIdentifier = (prefix: string, raw: string, sha256Hex: string): string => {
  const digest = sha256Hex.slice(0, DIGEST_HEX_LENGTH)
  const suffix = `-${digest}`
  const budget = Math.max(1, MAX_IDENTIFIER_LENGTH - prefix.length - suffix.length)
  let body = identifierBody(raw)
  if (body.length > budget) {
    body = trimDashes(body.slice(0, budget))
    if (body === "") body = "id"
  }
  const id = `${prefix}${body}${suffix}`
  // Only a prefix longer than the whole budget gets here; the digest keeps the id unique.
  return id.length > MAX_IDENTIFIER_LENGTH ? `${prefix.slice(0, MAX_IDENTIFIER_LENGTH - suffix.length)}${suffix}` : id
}

const encoder = new TextEncoder()

/** The caller's `Digest` if it provided one, else the core WebCrypto one. */
const sha256Hex = (raw: string): Effect.Effect<string> =>
  Effect.serviceOption(Digest.Digest).pipe(
    Effect.flatMap(Option.match({
      onSome: (digest) => digest.digestHex(Digest.sha256, encoder.encode(raw)),
      onNone: () =>
        Digest.Digest.use((digest) => digest.digestHex(Digest.sha256, encoder.encode(raw))).pipe(
          Effect.provide(Digest.layerWebCrypto)
        )
    }))
  )

/**
 * The bounded backend identifier of §10: `<prefix><body>-<first 16 hex of sha256(raw)>`, at most 120 characters,
 * where `body` is `raw` lowercased to ASCII alphanumerics, `-` and `_` (everything else `-`, outer dashes trimmed,
 * `id` if empty) and truncated to fit. Opaque and stable: the same raw name always gives the same id, and names that
 * sanitize to the same body still differ by their digest.
 *
 * **Details** An `Effect` only because SHA-256 comes from the `Digest` service (see the module notes); it needs no
 * service and never fails.
 * @category constructors
 */
export const boundedIdentifier = (prefix: string, raw: string): Effect.Effect<string> =>
  Effect.map(sha256Hex(raw), (hex) => assembleIdentifier(prefix, raw, hex))

/** A workspace root for comparison: trailing slashes trimmed (the root `/` itself kept). */
const lexicalRoot = (root: string): string => {
  const trimmed = root.replace(/\/+$/, "")
  return trimmed === "" && root !== "" ? "/" : trimmed
}

// ---------------------------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------------------------

/** The fields of pod-store `metadata.json` (§7) this projection reads; everything else is ignored. */
const PodMetadata = Schema.Struct({
  pod_name: Schema.NonEmptyString,
  active: Schema.optional(Schema.NullOr(Schema.Struct({ session_id: Schema.String }))),
  workspace_root: Schema.optional(Schema.NullOr(Schema.String)),
  resolved_manifest_snapshot: Schema.optional(Schema.Unknown)
})
type PodMetadata = typeof PodMetadata.Type

const decodeMetadata = Schema.decodeUnknownOption(Schema.fromJsonString(PodMetadata))

/** A manifest hint is a string or an object with a string `name`. */
const NameHint = Schema.Union([Schema.String, Schema.Struct({ name: Schema.String })])
const hintText = (hint: typeof NameHint.Type): string => typeof hint === "string" ? hint : hint.name

const decodeRole = Schema.decodeUnknownOption(Schema.Struct({ role: NameHint }))
const decodeRoleClaim = Schema.decodeUnknownOption(Schema.Struct({ role_claim: Schema.Struct({ role: NameHint }) }))
const decodeProfileSelector = Schema.decodeUnknownOption(Schema.Struct({ profile_selector: NameHint }))
const decodeProfile = Schema.decodeUnknownOption(Schema.Struct({ profile: NameHint }))

/** Where a profile name may sit in `resolved_manifest_snapshot`, in order of preference (§9). */
const profileHints: ReadonlyArray<(snapshot: unknown) => Option.Option<typeof NameHint.Type>> = [
  (snapshot) => Option.map(decodeRole(snapshot), (s) => s.role),
  (snapshot) => Option.map(decodeRoleClaim(snapshot), (s) => s.role_claim.role),
  (snapshot) => Option.map(decodeProfileSelector(snapshot), (s) => s.profile_selector),
  (snapshot) => Option.map(decodeProfile(snapshot), (s) => s.profile)
]

const profileNameOf = (snapshot: unknown): string => {
  for (const hint of profileHints) {
    const name = Option.map(hint(snapshot), (found) => sanitizeLabel(hintText(found)))
    if (Option.isSome(name) && name.value !== "") return name.value
  }
  return "legacy"
}

// ---------------------------------------------------------------------------------------------------------------
// The source
// ---------------------------------------------------------------------------------------------------------------

const diagnostic = (
  level: Views.DiagnosticView["level"],
  code: string,
  message: string
): Views.DiagnosticView => ({ level, code, message })

const diagnostics = {
  unreadable: diagnostic("warning", "local_pod_metadata_unreadable", "legacy pod metadata could not be read"),
  invalid: diagnostic("warning", "local_pod_metadata_invalid", "legacy pod metadata is not valid pod metadata"),
  duplicate: diagnostic(
    "warning",
    "local_pod_metadata_invalid",
    "legacy pod metadata names the same pod as another entry and was not included"
  ),
  rootMissing: diagnostic(
    "warning",
    "local_pod_workspace_root_missing",
    "legacy pod metadata has no workspace identity and was not included"
  ),
  notVisible: diagnostic(
    "info",
    "local_pod_workspace_not_visible",
    "legacy pod metadata belongs to another workspace and was not included"
  ),
  unavailable: diagnostic(
    "warning",
    "local_pod_registry_unavailable",
    "the legacy pod data directory cannot be read; no legacy pods are listed"
  ),
  scanLimited: diagnostic(
    "info",
    "local_pod_scan_limited",
    "there are more legacy pod entries than one scan reads; only the first ones by name are listed"
  )
} as const

/** One entry of the pods directory: a pod to show, or why not. */
type Entry =
  | { readonly _tag: "Pod"; readonly metadata: PodMetadata }
  | { readonly _tag: "Skipped"; readonly diagnostic: Views.DiagnosticView }

const skipped = (diagnostic: Views.DiagnosticView): Entry => ({ _tag: "Skipped", diagnostic })

interface Scan {
  readonly workers: ReadonlyArray<Views.WorkerView>
  readonly diagnostics: ReadonlyArray<Views.DiagnosticView>
}

const workerStatuses: ReadonlyArray<string> = ["idle", "running", "stopped", "failed"] satisfies ReadonlyArray<
  Views.WorkerView["status"]
>

/**
 * Builds the source. Nothing is read until the first call; every call scans afresh.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const { runtimeId } = options
  const maxScan = Math.max(0, options.maxScan ?? 256)
  const maxDiagnostics = Math.max(0, options.maxDiagnostics ?? 16)
  const podsDir = path.join(options.dataDir, "pods")
  const workspaceRoot = lexicalRoot(options.workspaceRoot)

  /** Derived ids of the names seen in the last scan, so a steady directory is hashed once. */
  let idCache = new Map<string, string>()

  const readEntry = (name: string): Effect.Effect<Entry> => {
    const file = path.join(podsDir, name, "metadata.json")
    return fs.stat(file).pipe(
      Effect.flatMap((info) =>
        // A FIFO or device would block the read; a huge file is not metadata.
        info.type !== "File" || info.size > BigInt(MAX_METADATA_BYTES)
          ? Effect.succeed(skipped(diagnostics.unreadable))
          : fs.readFileString(file).pipe(
            Effect.map((text): Entry =>
              Option.match(decodeMetadata(text), {
                onNone: () => skipped(diagnostics.invalid),
                onSome: (metadata) => {
                  const root = metadata.workspace_root
                  if (root === undefined || root === null || root === "") return skipped(diagnostics.rootMissing)
                  if (lexicalRoot(root) !== workspaceRoot) return skipped(diagnostics.notVisible)
                  return { _tag: "Pod", metadata }
                }
              })
            )
          )
      ),
      Effect.catch(() => Effect.succeed(skipped(diagnostics.unreadable)))
    )
  }

  const scan: Effect.Effect<Scan> = Effect.gen(function*() {
    const listing = yield* fs.readDirectoryEntries(podsDir).pipe(Effect.option)
    if (Option.isNone(listing)) {
      return { workers: [], diagnostics: [diagnostics.unavailable].slice(0, maxDiagnostics) }
    }
    // Plain files are never pods (lock files, editor droppings); directories, links and unknowns are tried.
    const names = listing.value.filter((entry) => entry.type !== "File").map((entry) => entry.name).sort()
    const found: Array<Views.DiagnosticView> = names.length > maxScan ? [diagnostics.scanLimited] : []
    const entries = yield* Effect.forEach(names.slice(0, maxScan), readEntry, { concurrency: 8 })

    const nextCache = new Map<string, string>()
    const workers: Array<Views.WorkerView> = []
    for (const entry of entries) {
      if (entry._tag === "Skipped") {
        found.push(entry.diagnostic)
        continue
      }
      const { metadata } = entry
      if (nextCache.has(metadata.pod_name)) {
        found.push(diagnostics.duplicate)
        continue
      }
      const workerId = idCache.get(metadata.pod_name) ?? (yield* boundedIdentifier("local-pod-", metadata.pod_name))
      nextCache.set(metadata.pod_name, workerId)
      const label = sanitizeLabel(metadata.pod_name)
      const displayName = label === "" ? "legacy pod" : label
      workers.push({
        runtimeId,
        workerId,
        displayName,
        displayRef: `${displayName}@${runtimeId}`,
        implementation: "legacy_compatibility",
        status: metadata.active !== undefined && metadata.active !== null ? "idle" : "stopped",
        profileName: profileNameOf(metadata.resolved_manifest_snapshot),
        queueLength: 0,
        capabilities: { canAcceptInput: false, canCancel: false, canStop: false }
      })
    }
    idCache = nextCache
    return { workers, diagnostics: found.slice(0, maxDiagnostics) }
  })

  const unsupported = (operation: string) => new RegistryErrors.OperationUnsupported({ runtimeId, operation })

  const client: SourceClient.SourceClient = {
    capabilities: { canCreateWorkers: false, canAcceptInput: false, canStreamEvents: false },
    probe: Effect.map(scan, ({ diagnostics, workers }) => {
      const idle = workers.filter((w) => w.status === "idle").length
      return {
        counts: { idle, running: 0, stopped: workers.length - idle, failed: 0, total: workers.length },
        diagnostics
      }
    }).pipe(Effect.withSpan("LegacySource.probe")),
    listWorkers: Effect.fn("LegacySource.listWorkers")(function*(list: {
      readonly status?: string | undefined
      readonly limit: number
    }) {
      const { status } = list
      if (status !== undefined && !workerStatuses.includes(status)) {
        return yield* new Errors.InvalidRequest({
          field: "status",
          message: "must be one of idle, running, stopped, failed"
        })
      }
      const { workers } = yield* scan
      return workers.filter((w) => status === undefined || w.status === status).slice(0, Math.max(0, list.limit))
    }),
    getWorker: Effect.fn("LegacySource.getWorker")(function*(workerId: string) {
      const { workers } = yield* scan
      const worker = workers.find((w) => w.workerId === workerId)
      if (worker === undefined) return yield* new RegistryErrors.UnknownWorker({ runtimeId, workerId })
      return worker
    }),
    createWorker: () => Effect.fail(unsupported("createWorker")),
    sendInput: () => Effect.fail(unsupported("sendInput")),
    cancelRun: () => Effect.fail(unsupported("cancelRun")),
    stopWorker: () => Effect.fail(unsupported("stopWorker")),
    getTranscript: () => Effect.fail(unsupported("getTranscript")),
    watchWorker: () => Stream.fail(unsupported("watchWorker")),
    getUsage: () => Effect.fail(unsupported("getUsage"))
  }
  return client
})
