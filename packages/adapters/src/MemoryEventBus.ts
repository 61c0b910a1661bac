/**
 * Adapter: the `EventBus` port in memory — a bounded replay ring per topic (one per Worker, one for the Runtime)
 * and one bounded queue per subscriber.
 *
 * Publishing never waits: an event is offered to each subscriber's own queue, and a subscriber whose queue is full
 * is closed with `SubscriberLagged` (after what it already buffered is drained), so one stalled watcher cannot
 * slow a run or make memory grow. Deliberately not here: persistence or replay from a store (the Runtime reads
 * durable events it no longer finds here from its `WorkerStore`), and cross-process fan-out.
 */
import { Errors, EventBus, type RuntimeEvent, Sorted } from "@yoi/domain"
import { Cause, Data, Effect, Layer, Queue, Stream } from "effect"

/** @category models */
export interface Options {
  /** Events kept per topic for replay (default 1024; the ring holds between this and twice this). */
  readonly replay?: number | undefined
}

class Lagged extends Data.TaggedError("Lagged")<{}> {}

interface Topic<A> {
  ring: Array<A>
  /** Highest seq evicted from the ring (0 when nothing was). */
  evictedUpTo: number
  readonly subscribers: Set<Queue.Queue<A, Lagged | Cause.Done>>
}

const makeTopics = <A extends { readonly seq: number }>(replay: number) => {
  const topics = new Map<string, Topic<A>>()
  const topicFor = (key: string): Topic<A> => {
    let topic = topics.get(key)
    if (topic === undefined) {
      topic = { ring: [], evictedUpTo: 0, subscribers: new Set() }
      topics.set(key, topic)
    }
    return topic
  }

  const publish = (key: string, event: A) =>
    Effect.sync(() => {
      const topic = topicFor(key)
      topic.ring.push(event)
      if (topic.ring.length > replay * 2) {
        // Trim in batches so publishing stays O(1) amortized.
        const drop = topic.ring.length - replay
        topic.evictedUpTo = topic.ring[drop - 1]!.seq
        topic.ring = topic.ring.slice(drop)
      }
      for (const queue of topic.subscribers) {
        if (!Queue.offerUnsafe(queue, event)) {
          topic.subscribers.delete(queue)
          Queue.failCauseUnsafe(queue, Cause.fail(new Lagged()))
        }
      }
    })

  const subscribe = (key: string, options: EventBus.SubscribeOptions) =>
    Effect.gen(function*() {
      const queue = yield* Queue.bounded<A, Lagged | Cause.Done>(Math.max(1, options.capacity))
      const topic = topicFor(key)
      const start = Sorted.upperBound(topic.ring, options.after, Sorted.bySeq)
      const replayed = topic.ring.slice(start)
      const complete = options.after >= topic.evictedUpTo
      topic.subscribers.add(queue)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          topic.subscribers.delete(queue)
          Queue.shutdownUnsafe(queue)
        })
      )
      let lastDelivered = replayed.length > 0 ? replayed[replayed.length - 1]!.seq : options.after
      const live: Stream.Stream<A, Errors.SubscriberLagged> = Stream.fromQueue(queue).pipe(
        Stream.mapArray((chunk) => {
          lastDelivered = chunk[chunk.length - 1]!.seq
          return chunk
        }),
        Stream.catchTag("Lagged", () => Stream.fail(new Errors.SubscriberLagged({ lastDeliveredSeq: lastDelivered })))
      )
      return { replay: replayed, complete, live }
    })

  return { publish, subscribe }
}

/** @category constructors */
export const make = (options?: Options) =>
  Effect.sync(() => {
    const replay = Math.max(1, options?.replay ?? 1024)
    const workers = makeTopics<RuntimeEvent.WorkerEvent>(replay)
    const runtime = makeTopics<RuntimeEvent.RuntimeEvent>(replay)
    return EventBus.EventBus.of({
      publish: (workerId, event) => workers.publish(workerId, event),
      subscribe: (workerId, options) => workers.subscribe(workerId, options),
      publishRuntime: (event) => runtime.publish("", event),
      subscribeRuntime: (options) => runtime.subscribe("", options)
    })
  })

/** @category layers */
export const layer = (options?: Options): Layer.Layer<EventBus.EventBus> =>
  Layer.effect(EventBus.EventBus, make(options))
