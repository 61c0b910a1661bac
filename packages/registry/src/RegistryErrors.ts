/**
 * The registry's own errors: what a backend's routing boundary over many runtimes can answer besides the runtime's
 * errors, which it passes through unchanged. They never cross the Runtime protocol (no runtime answers them), so
 * they live here and not in `@yoi/domain`'s `Errors`. Each is a `Schema.TaggedError` so a backend can encode it, and
 * none has a field able to hold a runtime's address, token or path.
 *
 * Deliberately not here: the sorting of transport failures (`SourceClient`) and the browser error codes
 * (`BrowserErrors`).
 */
import { Schema } from "effect"

/** No runtime with this id is registered. @category errors */
export class UnknownRuntime extends Schema.TaggedError<UnknownRuntime>()("UnknownRuntime", {
  runtimeId: Schema.String
}) {}

/** The runtime has no such Worker (a registry-side lookup, e.g. a legacy projection). @category errors */
export class UnknownWorker extends Schema.TaggedError<UnknownWorker>()("UnknownWorker", {
  runtimeId: Schema.String,
  workerId: Schema.String
}) {}

/**
 * The runtime cannot be reached right now. `reason`: `unreachable` (down, refused), `timeout` (no answer in time),
 * `unauthorized` (it rejected the registry's credentials). Never carries the runtime's address.
 * @category errors
 */
export class RuntimeUnavailable extends Schema.TaggedError<RuntimeUnavailable>()("RuntimeUnavailable", {
  runtimeId: Schema.String,
  reason: Schema.Literals(["unreachable", "timeout", "unauthorized"])
}) {}

/** The runtime (or this kind of source) does not support the operation. @category errors */
export class OperationUnsupported extends Schema.TaggedError<OperationUnsupported>()("OperationUnsupported", {
  runtimeId: Schema.String,
  operation: Schema.String
}) {}

/** The viewer may not see this Worker. Inside the registry only: outside it is indistinguishable from unknown. @category errors */
export class WorkerNotVisible extends Schema.TaggedError<WorkerNotVisible>()("WorkerNotVisible", {
  runtimeId: Schema.String,
  workerId: Schema.String
}) {}
