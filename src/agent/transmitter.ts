/**
 * An agent's transmission to its server (claims 000/15-18): registers when needed, sends the stored
 * snapshot right after registering, then the stored changes after the server's `transmitted` cursor, in
 * order, advancing the cursor only when the server has them. Woken by `kick()` after a local store or a
 * broadcast, and every `storePollMs` anyway. Heartbeats from here too; a 401 or an unreachable server
 * makes it register again (looking the address up anew) and resend a snapshot.
 */
import type { Clock } from '../clock.js';
import type { ClusterStore } from '../cluster/store.js';
import { ErrorCode, isBlockrigError } from '../errors.js';
import type { Timing } from '../wire/index.js';
import type { ServerLink } from './server-link.js';

/** What a transmitter needs. */
export interface TransmitterOptions {
  link: ServerLink;
  store: ClusterStore;
  serverId: string;
  agentId: string;
  clock: Clock;
  timing: Timing;
  /** Fault injection for tests: changes younger than this are not transmitted yet. */
  holdAfterStoreMs: number;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** Keeps one server up to date with the cluster's persistent data. */
export class Transmitter {
  readonly #o: TransmitterOptions;
  #needSnapshot = true;
  #pumping: Promise<void> | null = null;
  #pumpAgain = false;
  #wake: (() => void) | null = null;

  constructor(options: TransmitterOptions) {
    this.#o = options;
  }

  /** True once registered and the snapshot is delivered (commands may be taken). */
  get ready(): boolean {
    return this.#o.link.registered && !this.#needSnapshot;
  }

  /** Starts the transmit and heartbeat loops; they end when the signal aborts. */
  start(): void {
    void this.#transmitLoop();
    void this.#heartbeatLoop();
  }

  /** Wakes the transmit loop (a change was stored or broadcast). */
  kick(): void {
    this.#pumpAgain = true;
    this.#wake?.();
  }

  /** Forgets the registration (the server went away); the next round registers again. */
  reconnect(): void {
    this.#o.link.drop();
    this.kick();
  }

  /** Resolves when a round in progress has ended. */
  async settled(): Promise<void> {
    this.#wake?.();
    await this.#pumping?.catch(() => undefined);
  }

  async #ensureRegistered(): Promise<void> {
    if (this.#o.link.registered) return;
    await this.#o.link.register();
    this.#needSnapshot = true;
    this.#o.log(`agent ${this.#o.agentId} registered with server ${this.#o.serverId}`);
  }

  async #pump(): Promise<void> {
    const { store, serverId, link } = this.#o;
    await this.#ensureRegistered();
    if (this.#needSnapshot) {
      const snapshot = store.snapshot();
      await link.report({ snapshot, changes: [] });
      store.markTransmitted(serverId, snapshot.seq);
      this.#needSnapshot = false;
    }
    for (;;) {
      const cursor = store.transmittedSeq(serverId);
      const changes = store.changesAfter(cursor, 500);
      if (changes.length === 0) return;
      if ((changes[0]?.seq ?? 0) > cursor + 1) {
        // The changes this server lacks were pruned: a snapshot carries them all.
        this.#needSnapshot = true;
        await this.#pump();
        return;
      }
      await link.report({ changes });
      store.markTransmitted(serverId, changes[changes.length - 1]?.seq ?? 0);
    }
  }

  async #transmitLoop(): Promise<void> {
    const { signal, timing, clock } = this.#o;
    while (!signal.aborted) {
      this.#pumpAgain = false;
      let delay = timing.storePollMs;
      try {
        if (!this.#holding()) {
          this.#pumping = this.#pump();
          await this.#pumping;
        }
      } catch (err) {
        if (!(isBlockrigError(err, ErrorCode.AgentUnavailable) || isBlockrigError(err, ErrorCode.Unauthorized))) this.#o.log(`transmit: ${(err as Error).message}`);
        delay = timing.retryMs;
      } finally {
        this.#pumping = null;
      }
      if (this.#pumpAgain || signal.aborted) continue;
      await new Promise<void>((resolve) => {
        const ac = new AbortController();
        this.#wake = () => {
          this.#wake = null;
          ac.abort();
          resolve();
        };
        clock.sleep(delay, ac.signal).then(
          () => this.#wake?.(),
          () => undefined,
        );
      });
    }
  }

  /** With the test hold on, a change younger than the hold is not transmitted yet. */
  #holding(): boolean {
    const { store, serverId, holdAfterStoreMs, clock } = this.#o;
    if (holdAfterStoreMs === 0) return false;
    const pending = store.changesAfter(store.transmittedSeq(serverId), 1)[0];
    return pending !== undefined && clock.wallTime() - Date.parse(pending.at) < holdAfterStoreMs;
  }

  async #heartbeatLoop(): Promise<void> {
    const { signal, timing, clock, link } = this.#o;
    while (!signal.aborted) {
      if (link.registered) {
        try {
          await link.heartbeat();
        } catch (err) {
          if (isBlockrigError(err, ErrorCode.Unauthorized) || isBlockrigError(err, ErrorCode.AgentUnavailable)) this.reconnect();
        }
      }
      await clock.sleep(timing.heartbeatMs, signal).catch(() => undefined);
    }
  }
}
