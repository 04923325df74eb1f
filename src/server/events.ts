/**
 * The server's live event hub: numbers each event, keeps the last ones for `Last-Event-ID` replay, and
 * hands them to subscribers (the SSE route, tests, the benchmark).
 */
import type { Clock } from '../clock.js';
import type { ServerEvent, ServerEventInput } from '../wire/index.js';

/** A function that receives each event as it is published. */
export type EventListener = (event: ServerEvent) => void;

/** Numbers, buffers and fans out live events. */
export class EventHub {
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #buffer: ServerEvent[] = [];
  readonly #listeners = new Set<EventListener>();
  #nextId = 1;

  constructor(clock: Clock, capacity = 2000) {
    this.#clock = clock;
    this.#capacity = capacity;
  }

  /** Publishes an event to every subscriber and the replay buffer. */
  publish(input: ServerEventInput): ServerEvent {
    const event: ServerEvent = { ...input, id: this.#nextId++, at: new Date(this.#clock.wallTime()).toISOString() };
    this.#buffer.push(event);
    if (this.#buffer.length > this.#capacity) this.#buffer.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Buffered events with an id above `afterId`, oldest first. */
  since(afterId: number): ServerEvent[] {
    return this.#buffer.filter((e) => e.id > afterId);
  }

  /** Adds a subscriber; returns a function that removes it. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Number of live subscribers. */
  get subscribers(): number {
    return this.#listeners.size;
  }
}
