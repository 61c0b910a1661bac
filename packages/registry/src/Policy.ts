/**
 * Port: who may see and act on which runtimes and Workers. The registry asks it on every call; a Worker the viewer
 * may not see is `WorkerNotVisible` inside the registry and indistinguishable from an unknown one outside.
 *
 * The default (`layerWorkspace`): a viewer sees, and may act on, the runtimes (and their Workers) of its own
 * workspace and the backend-internal ones.
 */
import { Context, Layer } from "effect"

/** Who is asking. A backend derives it from its own session/auth. @category models */
export interface Viewer {
  readonly id: string
  readonly workspace: string
}

/** @category models */
export type Action = "read" | "create" | "input" | "cancel" | "stop"

/** What a decision is about: a runtime (and optionally one of its Workers) with its visibility. @category models */
export interface Target {
  readonly runtimeId: string
  readonly workerId?: string | undefined
  /** `backend_internal`, or the workspace the runtime belongs to. */
  readonly workspace: string
}

/** @category services */
export class Policy extends Context.Service<Policy, {
  canSee(viewer: Viewer, target: Target): boolean
  canAct(viewer: Viewer, action: Action, target: Target): boolean
}>()("@yoi/registry/Policy") {}

/** The workspace name that every viewer can see. @category constructors */
export const backendInternal = "backend_internal"

const sameWorkspace = (viewer: Viewer, target: Target) =>
  target.workspace === backendInternal || target.workspace === viewer.workspace

/** @category layers */
export const layerWorkspace: Layer.Layer<Policy> = Layer.succeed(
  Policy,
  Policy.of({ canSee: sameWorkspace, canAct: (viewer, _action, target) => sameWorkspace(viewer, target) })
)
