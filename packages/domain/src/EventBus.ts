/**
 * Port: fan-out of Worker and Runtime events to watchers, with a bounded per-topic replay buffer.
 * Adapter: `MemoryEventBus`.
 *
 * Each subscriber has its own bounded buffer: a subscriber that falls behind is closed with `SubscriberLagged`
 * while publishers never wait, so a slow watcher never slows a run or grows memory without bound. Replay from the
 * store of events older than the buffer is the Runtime's job; the bus only says whether its buffer covered the
 * cursor.
 */
import { Context, type Effect, type Scope, type Stream } from "effect"
import type { SubscriberLagged } from "./Errors.ts"
import type { WorkerId } from "./Ids.ts"
import type { RuntimeEvent, WorkerEvent } from "./RuntimeEvent.ts"

/** @category models */
export interface Subscription<A> {
  /** Buffered events with `seq > after`, ascending, taken atomically with subscribing. */
  readonly replay: ReadonlyArray<A>
  /** False when events with `seq > after` were already evicted from the buffer. */
  readonly complete: boolean
  /** Events published after subscribing; fails with `SubscriberLagged` when the subscriber falls behind. */
  readonly live: Stream.Stream<A, SubscriberLagged>
}

/** @category models */
export interface SubscribeOptions {
  readonly after: number
  /** This subscriber's buffer. */
  readonly capacity: number
}

/** @category services */
export class EventBus extends Context.Service<EventBus, {
  publish(workerId: WorkerId, event: WorkerEvent): Effect.Effect<void>
  subscribe(workerId: WorkerId, options: SubscribeOptions): Effect.Effect<Subscription<WorkerEvent>, never, Scope.Scope>
  publishRuntime(event: RuntimeEvent): Effect.Effect<void>
  subscribeRuntime(options: SubscribeOptions): Effect.Effect<Subscription<RuntimeEvent>, never, Scope.Scope>
}>()("@yoi/domain/EventBus") {}
