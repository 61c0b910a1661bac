/**
 * How a runtime source of the registry is configured (`Registry.Options.sources`): a Runtime in this process
 * (embedded), a runtime process over HTTP (remote), or the read-only projection of legacy pod metadata. The registry
 * turns each into one `SourceClient`, so nothing past its construction branches on the kind.
 *
 * Deliberately not here: building the sources and keeping their health (the registry's `internal/sources.ts`), and
 * any transport detail beyond what a backend must say (a URL and a token).
 */
import type { LegacyPods, RuntimeClient } from "@yoi/domain"
import type { Layer, Redacted } from "effect"

interface SourceBase {
  readonly runtimeId: string
  readonly displayName: string
  /** `backend_internal` (visible to every viewer; the default for embedded) or the workspace it belongs to. */
  readonly workspace?: string | undefined
}

/** A Runtime in this process, reached through the embedded client (no HTTP, no token). @category models */
export interface EmbeddedSource extends SourceBase {
  readonly kind: "embedded"
  readonly client: Layer.Layer<RuntimeClient.RuntimeClient>
}

/** A runtime process reached over HTTP. @category models */
export interface RemoteSource extends SourceBase {
  readonly kind: "remote"
  readonly url: string
  readonly token?: Redacted.Redacted<string> | undefined
}

/**
 * A read-only projection of legacy pod metadata for one workspace root (`LegacyPodSource`). `pods` reads the
 * metadata: the registry may not pick an adapter, so the backend gives it one, e.g.
 * `LegacyPodMetadata.layer.pipe(Layer.provide(NodeServices.layer))` from `@yoi/adapters`.
 * @category models
 */
export interface LegacyPodSourceConfig extends SourceBase {
  readonly kind: "legacy"
  readonly dataDir: string
  readonly workspaceRoot: string
  readonly pods: Layer.Layer<LegacyPods.LegacyPods>
}

/** @category models */
export type SourceConfig = EmbeddedSource | RemoteSource | LegacyPodSourceConfig
