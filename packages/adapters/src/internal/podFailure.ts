/**
 * The legacy pod adapter's typed failures: every `EngineFailure` it raises, each with a fixed code and a fixed
 * message, so no socket path, pid, pod name, command line or stderr text can reach a Worker's `lastError`, a run's
 * `run_failed` or a log line built from them. What the pod said (its stderr tail) stays in the binding, server-side.
 *
 * Deliberately not here: deciding which failure applies (the modules that raise them).
 */
import { Errors } from "@yoi/domain"

const messages = {
  legacy_pod_launch_failed: "the legacy pod could not be started",
  legacy_pod_exited_early: "the legacy pod exited before it was ready",
  legacy_pod_timeout: "the legacy pod did not become ready in time",
  legacy_pod_protocol: "the legacy pod broke the protocol",
  legacy_pod_socket_path_too_long: "the legacy pod's socket path would be too long",
  legacy_pod_invalid_name: "the Worker id is not a valid legacy pod name",
  legacy_pod_busy: "the legacy pod is already running a turn",
  legacy_pod_rejected: "the legacy pod rejected the input",
  legacy_pod_acceptance_timeout: "the legacy pod did not accept the input in time",
  legacy_pod_write_failed: "the legacy pod could not be written to",
  limit_reached: "the legacy pod stopped the turn at a limit",
  paused_unsupported: "the legacy pod paused the turn, which this runtime does not support",
  provider_error: "the legacy pod's provider failed",
  tool_error: "a tool of the legacy pod failed",
  internal: "the legacy pod failed internally"
} as const

/** @category models */
export type Code = keyof typeof messages

/** The provider name the failures carry. */
export const provider = "legacy_pod"

/** @category constructors */
export const failure = (code: Code): Errors.EngineFailure =>
  new Errors.EngineFailure({ provider, code, message: messages[code] })
