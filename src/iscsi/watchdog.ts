/**
 * The session's one timer (a timer per command costs more than the command on a fast target). It wakes every
 * quarter of the shorter of timeout and keepalive and
 * - fails the session when the oldest outstanding command (commands held back by a closed CmdSN window
 *   included, so a target that never opens its window cannot hang us) has waited the whole timeout;
 * - with a keepalive, pings a target it has not heard from for that long (RFC 7143 11.18), and fails the
 *   session when a ping has gone unanswered for the timeout.
 * Without a keepalive it sleeps only while commands are outstanding.
 */
import type { Clock } from '../clock.js';
import { TimeoutError } from '../errors.js';

/** What the watchdog sees of its session. */
export interface WatchedSession {
  readonly portal: string;
  /** True until the session has ended. */
  alive(): boolean;
  /** The oldest outstanding command, if any. */
  oldestCommand(): { submitted: number; opcode: number } | undefined;
  /** When a PDU last arrived. */
  lastHeard(): number;
  /** When the unanswered ping went out, if one is out. */
  pingSentAt(): number | undefined;
  sendPing(now: number): void;
  fail(err: Error): void;
}

/** Timeouts and keepalive of one session. */
export class SessionWatchdog {
  #running = false;
  readonly #stop = new AbortController();

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly keepaliveMs: number,
    private readonly session: WatchedSession,
  ) {}

  /** Starts watching unless it already is (the session calls it for every command). */
  ensure(): void {
    if (!this.#running) void this.#loop();
  }

  /** Stops for good (the session ended). */
  stop(): void {
    this.#stop.abort();
  }

  async #loop(): Promise<void> {
    this.#running = true;
    const { session, timeoutMs, keepaliveMs } = this;
    const interval = Math.max(1, Math.min(timeoutMs, keepaliveMs || Infinity) / 4);
    try {
      while (session.alive() && (session.oldestCommand() !== undefined || keepaliveMs > 0)) {
        await this.clock.sleep(interval, this.#stop.signal);
        const now = this.clock.now();
        const oldest = session.oldestCommand();
        const pingSent = session.pingSentAt();
        if (oldest !== undefined && now - oldest.submitted >= timeoutMs) {
          session.fail(new TimeoutError(`the iSCSI target at ${session.portal} did not complete SCSI command 0x${oldest.opcode.toString(16)} within ${timeoutMs} ms`));
        } else if (pingSent !== undefined && now - pingSent >= timeoutMs) {
          session.fail(new TimeoutError(`the iSCSI target at ${session.portal} did not answer a NOP-Out ping within ${timeoutMs} ms`));
        } else if (keepaliveMs > 0 && pingSent === undefined && now - session.lastHeard() >= keepaliveMs) {
          session.sendPing(now);
        }
      }
    } catch {
      // Stopped while asleep: the session ended.
    } finally {
      this.#running = false;
    }
  }
}
