/**
 * The server's recent live events on disk, so that an SSE client reconnecting with `Last-Event-ID` to a
 * restarted server gets what it missed (docs/agents-and-servers.md, "Live events across a restart").
 *
 * SQLite in WAL mode in the server's data folder (`events.db`): each event is inserted as it is
 * published, so what a client was sent has reached the file before a kill -9 (WAL with
 * `synchronous=NORMAL` loses only what the operating system had not written when the machine itself
 * went down). Bounded: the newest `capacity` events are kept, older ones are deleted every 100 inserts.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ServerEventSchema, type ServerEvent } from '../wire/index.js';

/** How many inserts between two deletions of events past the capacity. */
const PRUNE_EVERY = 100;

/** An append-only, bounded journal of one server's events. */
export class EventJournal {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #capacity: number;
  readonly #insert: Database.Statement;
  #sincePrune = 0;

  constructor(dataDir: string, capacity: number) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, 'events.db');
    this.#capacity = capacity;
    this.#db = new Database(this.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec('CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    this.#insert = this.#db.prepare('INSERT OR REPLACE INTO events (id, body) VALUES (?, ?)');
  }

  /** The newest `capacity` events, oldest first; a row that no longer validates is skipped. */
  load(): ServerEvent[] {
    const rows = this.#db.prepare('SELECT body FROM events ORDER BY id DESC LIMIT ?').all(this.#capacity) as { body: string }[];
    return rows.reverse().flatMap((r) => {
      const parsed = ServerEventSchema.safeParse(JSON.parse(r.body));
      return parsed.success ? [parsed.data] : [];
    });
  }

  /** Appends one published event. */
  append(event: ServerEvent): void {
    this.#insert.run(event.id, JSON.stringify(event));
    if (++this.#sincePrune >= PRUNE_EVERY) {
      this.#sincePrune = 0;
      this.#db.prepare('DELETE FROM events WHERE id <= ?').run(event.id - this.#capacity);
    }
  }

  /** Closes the file. */
  close(): void {
    this.#db.close();
  }
}
