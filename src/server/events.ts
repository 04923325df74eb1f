/**
 * The server's live event hub: numbers each event, keeps the last ones for `Last-Event-ID` replay, and
 * hands them to subscribers (the SSE route, tests, the benchmark). With a journal the buffer and the
 * numbering survive a restart: a client that saw event N before the restart is replayed N+1 onwards; one
 * whose N can no longer be answered (pruned, or not from this journal) is told to reset (refetch).
 */
import type { Clock } from '../clock.js';
import type { ServerEvent, ServerEventInput } from '../wire/index.js';
import type { EventJournal } from './event-journal.js';

/** Events kept for replay (in memory and in the journal). */
export const EVENT_BUFFER = 2000;

/** A function that receives each event as it is published. */
export type EventListener = (event: ServerEvent) => void;

/** Why a client must refetch instead of replaying, with the ids the server holds. */
export interface ReplayReset {
  reason: string;
  /** The id of the newest event (the client's `Last-Event-ID` from here on). */
  lastId: number;
  /** The oldest event still held, or null when none. */
  oldestId: number | null;
}

/** What a client reconnecting with `Last-Event-ID` gets: the events it missed, or a reset. */
export type Replay = { reset: null; events: ServerEvent[] } | { reset: ReplayReset; events: [] };

/** Numbers, buffers and fans out live events. */
export class EventHub {
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #buffer: ServerEvent[] = [];
  readonly #listeners = new Set<EventListener>();
  readonly #journal: EventJournal | null;
  #nextId = 1;

  /** With `journal`, the buffer starts with its events and ids continue after its newest one. */
  constructor(clock: Clock, capacity = EVENT_BUFFER, journal: EventJournal | null = null) {
    this.#clock = clock;
    this.#capacity = capacity;
    this.#journal = journal;
    if (journal !== null) {
      this.#buffer.push(...journal.load().slice(-capacity));
      this.#nextId = (this.#buffer.at(-1)?.id ?? 0) + 1;
    }
  }

  /** Publishes an event to every subscriber and the replay buffer (and the journal, first). */
  publish(input: ServerEventInput): ServerEvent {
    const event: ServerEvent = { ...input, id: this.#nextId++, at: new Date(this.#clock.wallTime()).toISOString() };
    this.#journal?.append(event);
    this.#buffer.push(event);
    if (this.#buffer.length > this.#capacity) this.#buffer.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Buffered events with an id above `afterId`, oldest first. */
  since(afterId: number): ServerEvent[] {
    return this.#buffer.filter((e) => e.id > afterId);
  }

  /**
   * What a client that last saw `afterId` (0: none) should get: the buffered events after it, or a reset
   * when events after it are no longer held, or when it names an id this server never issued.
   */
  replay(afterId: number): Replay {
    const lastId = this.#nextId - 1;
    const oldestId = this.#buffer[0]?.id ?? null;
    if (afterId > lastId) return { reset: { reason: `event ${afterId} is not from this server's journal (its newest is ${lastId}): refetch the state`, lastId, oldestId }, events: [] };
    if (afterId > 0 && afterId < lastId && (oldestId === null || afterId < oldestId - 1)) {
      return { reset: { reason: `events after ${afterId} are no longer kept (the oldest held is ${oldestId ?? 'none'}): refetch the state`, lastId, oldestId }, events: [] };
    }
    return { reset: null, events: this.since(afterId) };
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
