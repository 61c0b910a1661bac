/**
 * A read-only `SourceClient` over legacy pod metadata for one workspace root — the local pod compatibility
 * projection of `shared/reference/legacy-pod.md` §9. The metadata comes from the `LegacyPods` port (adapter:
 * `LegacyPodMetadata`); the projection rules are here: which pods this workspace sees, one Worker per `pod_name`
 * (the authority, not the directory name) with an opaque derived id (`boundedIdentifier("local-pod-", pod_name)`,
 * §10) and a sanitized label, and a diagnostic (see `diagnostics`) for every entry not shown — never a failure.
 * Every `listWorkers`, `getWorker` and `probe` scans afresh, so the projection is always current.
 *
 * Deliberately not here: file I/O (the port's), talking to a legacy pod (every command is `OperationUnsupported`),
 * liveness checks, the spawn/peer/delegation columns, and any write.
 *
 * **Details** SHA-256 of the derived ids comes from `effect/crypto`'s `Digest` service when the caller provides one
 * (e.g. `NodeCrypto.layerDigest`), else from the core `Digest.layerWebCrypto`, so `make` needs only `LegacyPods`.
 */
import { Errors, LegacyPods } from "@yoi/domain"
import { Effect, Option, Result, Schema, Stream } from "effect"
import { Digest } from "effect/crypto"
import * as RegistryErrors from "./RegistryErrors.ts"
import type * as SourceClient from "./SourceClient.ts"
import * as Views from "./Views.ts"

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

const diagnostic = Views.diagnosticView

/**
 * Why an entry is not shown, with fixed messages (never a path, a pod, a session or another workspace root):
 * unreadable or invalid metadata (as the port says, or a `pod_name` another entry has), no `workspace_root`,
 * another workspace's pod (roots compared lexically, trailing slashes trimmed), an unlistable pods directory (the
 * list is then empty), or more than `maxScan` entries. At most `maxDiagnostics` (default 16), in scan order.
 */
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
  const pods = yield* LegacyPods.LegacyPods
  const { runtimeId, dataDir } = options
  const maxScan = Math.max(0, options.maxScan ?? 256)
  const maxDiagnostics = Math.max(0, options.maxDiagnostics ?? 16)
  const workspaceRoot = lexicalRoot(options.workspaceRoot)

  /** Derived ids of the names seen in the last scan, so a steady directory is hashed once. */
  let idCache = new Map<string, string>()

  /** A record's metadata if this workspace may see it, else the diagnostic that says why not. */
  const visible = (record: LegacyPods.PodRecord): Result.Result<LegacyPods.PodMetadata, Views.DiagnosticView> => {
    if (record._tag === "Unreadable") return Result.fail(diagnostics.unreadable)
    if (record._tag === "Invalid") return Result.fail(diagnostics.invalid)
    const root = record.metadata.workspace_root
    if (root === undefined || root === null || root === "") return Result.fail(diagnostics.rootMissing)
    if (lexicalRoot(root) !== workspaceRoot) return Result.fail(diagnostics.notVisible)
    return Result.succeed(record.metadata)
  }

  const scan: Effect.Effect<Scan> = Effect.gen(function*() {
    const listing = yield* pods.scan({ dataDir, maxScan })
    if (listing._tag === "Unavailable") {
      return { workers: [], diagnostics: [diagnostics.unavailable].slice(0, maxDiagnostics) }
    }
    const found: Array<Views.DiagnosticView> = listing.limited ? [diagnostics.scanLimited] : []
    const nextCache = new Map<string, string>()
    const workers: Array<Views.WorkerView> = []
    for (const record of listing.records) {
      const shown = visible(record)
      if (Result.isFailure(shown)) {
        found.push(shown.failure)
        continue
      }
      const metadata = shown.success
      if (nextCache.has(metadata.pod_name)) {
        found.push(diagnostics.duplicate)
        continue
      }
      const workerId = idCache.get(metadata.pod_name) ?? (yield* boundedIdentifier("local-pod-", metadata.pod_name))
      nextCache.set(metadata.pod_name, workerId)
      const label = sanitizeLabel(metadata.pod_name)
      workers.push(Views.legacyPodWorkerView({
        runtimeId,
        workerId,
        displayName: label === "" ? "legacy pod" : label,
        active: metadata.active !== undefined && metadata.active !== null,
        profileName: profileNameOf(metadata.resolved_manifest_snapshot)
      }))
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
    }).pipe(Effect.withSpan("LegacyPodSource.probe")),
    listWorkers: Effect.fn("LegacyPodSource.listWorkers")(function*(list: {
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
    getWorker: Effect.fn("LegacyPodSource.getWorker")(function*(workerId: string) {
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
