/**
 * Port: durable storage of a Runtime — its record, Worker records, durable events and transcripts.
 * Adapters: `MemoryWorkerStore`, `FileSystemWorkerStore`.
 *
 * The Runtime is the single writer of a Worker and assigns every sequence number; the store persists what it is
 * given, in order, and answers bounded reads. A store never decides Worker semantics. Transient events
 * (`*_delta`) never reach it.
 */
import { Context, type Effect, type Option, Result, Schema } from "effect"
import { StoreFailure } from "./Errors.ts"
import { RuntimeId, WorkerId } from "./Ids.ts"
import { InputAccepted } from "./Requests.ts"
import { isTransient, type WorkerEvent } from "./RuntimeEvent.ts"
import type { Diagnostic } from "./RuntimeInfo.ts"
import type { TranscriptEntry, TranscriptPage, TranscriptQuery } from "./Transcript.ts"
import {
  ConfigBundleRef,
  Count,
  CurrentRun,
  LastError,
  ProfileSelector,
  QueuedInput,
  ScopeRule,
  Timestamp,
  UsageTotals,
  WorkerStatus
} from "./Worker.ts"
import { BindingRecord } from "./WorkerExecution.ts"

/** @category models */
export class RuntimeRecord extends Schema.Class<RuntimeRecord>("@yoi/domain/RuntimeRecord")({
  runtimeId: RuntimeId,
  createdAt: Timestamp
}) {}

/** A remembered `SendInput` idempotency key and what it returned. @category models */
export class RecentInput extends Schema.Class<RecentInput>("@yoi/domain/RecentInput")({
  key: Schema.String,
  accepted: InputAccepted
}) {}

/**
 * Everything durable about one Worker except its logs.
 *
 * **Details** `seqReserved` is a high-water mark the Runtime persists before it hands out event seqs beyond it, so
 * seqs of transient (never persisted) events are not reused after a crash.
 * @category models
 */
export class WorkerRecord extends Schema.Class<WorkerRecord>("@yoi/domain/WorkerRecord")({
  workerId: WorkerId,
  displayName: Schema.String,
  profile: ProfileSelector,
  profileName: Schema.String,
  /**
   * The provider and model the Worker was created on. Records written before providers existed have neither:
   * they run on the Runtime's default provider.
   */
  provider: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  configBundle: Schema.optional(ConfigBundleRef),
  requestedCapabilities: Schema.Array(Schema.String),
  scope: Schema.Array(ScopeRule),
  createdAt: Timestamp,
  lastActivityAt: Timestamp,
  status: WorkerStatus,
  currentRun: Schema.optional(CurrentRun),
  queue: Schema.Array(QueuedInput),
  usage: UsageTotals,
  lastError: Schema.optional(LastError),
  seqReserved: Count,
  createIdempotencyKey: Schema.optional(Schema.String),
  recentInputs: Schema.Array(RecentInput),
  /**
   * The Worker's last execution binding, if its execution records one (`WorkerExecution`): never in a view. Kept
   * after a stop or a loss (the host may outlive the process that recorded it); records from before bindings have
   * none.
   */
  binding: Schema.optional(BindingRecord)
}) {}

/** One Worker transition, applied in order: transcript entries, events, then the record. @category models */
export interface WorkerChange {
  readonly transcript?: ReadonlyArray<TranscriptEntry> | undefined
  readonly events?: ReadonlyArray<WorkerEvent> | undefined
  readonly record?: WorkerRecord | undefined
}

/** @category services */
export class WorkerStore extends Context.Service<WorkerStore, {
  readonly loadRuntime: Effect.Effect<Option.Option<RuntimeRecord>, StoreFailure>
  saveRuntime(record: RuntimeRecord): Effect.Effect<void, StoreFailure>
  /** Every Worker record (startup). */
  readonly listWorkers: Effect.Effect<ReadonlyArray<WorkerRecord>, StoreFailure>
  getWorker(workerId: WorkerId): Effect.Effect<Option.Option<WorkerRecord>, StoreFailure>
  /**
   * Persists a transition. Transcript seqs must continue the Worker's transcript (1, 2, …); event seqs must be
   * increasing and greater than the last persisted one (gaps are allowed: transient events take seqs too); transient
   * events are refused; a record must be the Worker's own. Any violation (`checkChange`) fails with `StoreFailure`
   * and writes nothing.
   */
  commit(workerId: WorkerId, change: WorkerChange): Effect.Effect<void, StoreFailure>
  /** Durable events with `seq > after`, ascending, at most `limit`. */
  readEvents(
    workerId: WorkerId,
    options: { readonly after: number; readonly limit: number }
  ): Effect.Effect<ReadonlyArray<WorkerEvent>, StoreFailure>
  /** The highest persisted event seq (0 when none). */
  lastEventSeq(workerId: WorkerId): Effect.Effect<number, StoreFailure>
  /** A bounded page (see `Transcript.pageRange`); cost O(limit). */
  readTranscript(workerId: WorkerId, query: TranscriptQuery): Effect.Effect<TranscriptPage, StoreFailure>
  transcriptCount(workerId: WorkerId): Effect.Effect<number, StoreFailure>
  /** Problems found while opening or reading (torn tails, corrupt records), sanitized. */
  readonly diagnostics: Effect.Effect<ReadonlyArray<Diagnostic>>
}>()("@yoi/domain/WorkerStore") {}

/** How far a Worker's logs reach: what a change must continue. @category models */
export interface LogHeads {
  /** The highest persisted event seq (0 when none). */
  readonly lastEventSeq: number
  /** The number of transcript entries (the last entry's seq). */
  readonly transcriptCount: number
}

/** The heads of a Worker with no logs. @category constructors */
export const emptyLogHeads: LogHeads = { lastEventSeq: 0, transcriptCount: 0 }

const reject = (message: string) => Result.fail(new StoreFailure({ operation: "commit", message }))

/**
 * The rule every store applies before `commit` writes anything: whether `change` may follow a Worker whose logs
 * reach `heads`. Success holds the heads after the change (so a store validating a queue of changes feeds each
 * one's result to the next); failure is the `StoreFailure` `commit` fails with, whose message names seqs and
 * kinds, never a path. Pure and O(size of the change).
 * @category constructors
 */
export const checkChange = (
  workerId: WorkerId,
  heads: LogHeads,
  change: WorkerChange
): Result.Result<LogHeads, StoreFailure> => {
  let transcriptCount = heads.transcriptCount
  for (const entry of change.transcript ?? []) {
    if (entry.seq !== transcriptCount + 1) {
      return reject(`transcript seq ${entry.seq} does not continue the transcript (expected ${transcriptCount + 1})`)
    }
    transcriptCount++
  }
  let lastEventSeq = heads.lastEventSeq
  for (const event of change.events ?? []) {
    if (isTransient(event)) return reject(`transient event ${event._tag} (seq ${event.seq}) is never persisted`)
    if (!(event.seq > lastEventSeq)) return reject(`event seq ${event.seq} does not increase past ${lastEventSeq}`)
    lastEventSeq = event.seq
  }
  if (change.record !== undefined && change.record.workerId !== workerId) {
    return reject("the record belongs to another Worker")
  }
  return Result.succeed({ lastEventSeq, transcriptCount })
}
