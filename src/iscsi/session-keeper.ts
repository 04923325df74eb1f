/**
 * Keeps one logged-in session to a target: hands it out while it lives and, once it has ended (the target
 * restarted, a protocol error, a timeout), logs in again, both in the background every `reconnectDelayMs`
 * and at once when a caller asks. Concurrent callers share one attempt. A fresh session is checked by the
 * owner's `verify` (is it still the same LUN?) before anyone uses it.
 */
import type { Clock } from '../clock.js';
import type { InitiatorOffer } from './negotiation.js';
import { openSession } from './open-session.js';
import type { IscsiSession } from './session.js';
import type { IscsiTargetAddress } from './uri.js';

/** What the keeper needs from its owner. */
export interface SessionKeeperOptions {
  address: IscsiTargetAddress;
  clock: Clock;
  offer?: InitiatorOffer;
  /** Pause between background login attempts. */
  reconnectDelayMs: number;
  /** Checks a session logged in again before it is handed out; throws to refuse it. */
  verify(session: IscsiSession): Promise<void>;
  /** The session ended; `reason` says why. */
  onLost(reason: string): void;
  /** A new session replaced the one that ended. */
  onRestored(): void;
}

/** One session, kept alive. */
export class SessionKeeper {
  readonly #o: SessionKeeperOptions;
  readonly #stop = new AbortController();
  #session: IscsiSession | undefined;
  #connecting: Promise<IscsiSession> | undefined;
  #opened = 1;
  #closed = false;

  constructor(first: IscsiSession, options: SessionKeeperOptions) {
    this.#o = options;
    this.#adopt(first);
  }

  /** Sessions logged in so far (the first plus each new login). */
  get opened(): number {
    return this.#opened;
  }

  /** The live session, if there is one now. */
  get current(): IscsiSession | undefined {
    return this.#session;
  }

  /** The live session, logging in again when the last one ended. */
  get(): Promise<IscsiSession> {
    if (this.#session !== undefined) return Promise.resolve(this.#session);
    this.#connecting ??= this.#login().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Stops logging in again and logs out of the live session. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    await this.#connecting?.catch(() => undefined);
    const session = this.#session;
    this.#session = undefined;
    await session?.logout();
  }

  async #login(): Promise<IscsiSession> {
    const session = await openSession(this.#o.address, this.#o.clock, this.#o.offer);
    try {
      await this.#o.verify(session);
      if (this.#closed) throw new Error('closed while logging in again');
    } catch (err) {
      await session.logout();
      throw err;
    }
    this.#opened++;
    this.#adopt(session);
    this.#o.onRestored();
    return session;
  }

  #adopt(session: IscsiSession): void {
    this.#session = session;
    session.onLost((err) => {
      if (this.#session !== session) return;
      this.#session = undefined;
      if (this.#closed) return;
      this.#o.onLost(`iSCSI session ended: ${err.message}`);
      void this.#reconnectInBackground();
    });
  }

  async #reconnectInBackground(): Promise<void> {
    while (!this.#closed && this.#session === undefined) {
      try {
        await this.#o.clock.sleep(this.#o.reconnectDelayMs, this.#stop.signal);
      } catch {
        return;
      }
      await this.get().catch(() => undefined);
    }
  }
}
