/**
 * An expect-style firmware console over a serial line: send a line, wait for a pattern with a timeout.
 * Received text accumulates in a buffer; a successful `expect` consumes the buffer up to the end of the
 * match, as expect(1) and pexpect do, so the next `expect` sees only what came after.
 */
import { systemClock, type Clock } from '../clock.js';
import { SerialError, TimeoutError } from '../errors.js';
import type { SerialTransport } from './transport.js';

/** Options of `FirmwareConsole`. */
export interface ConsoleOptions {
  clock?: Clock;
  /** Line ending sent after each `sendLine` (default "\r\n", what most firmware shells want). */
  lineEnding?: string;
  /** Default `expect` timeout in ms. */
  timeoutMs?: number;
  /** Cap on buffered unread text; older text is dropped first. */
  maxBuffer?: number;
}

/** The result of a successful `expect`. */
export interface ExpectMatch {
  /** The regular-expression match (groups included). */
  match: RegExpExecArray;
  /** Text received before the match. */
  before: string;
}

interface Waiter {
  pattern: RegExp;
  resolve: (m: ExpectMatch) => void;
}

/** See the module comment. */
export class FirmwareConsole {
  readonly #transport: SerialTransport;
  readonly #clock: Clock;
  readonly #lineEnding: string;
  readonly #timeoutMs: number;
  readonly #maxBuffer: number;
  readonly #unsubscribe: () => void;
  #buffer = '';
  #transcript = '';
  #waiter: Waiter | undefined;

  constructor(transport: SerialTransport, options: ConsoleOptions = {}) {
    this.#transport = transport;
    this.#clock = options.clock ?? systemClock;
    this.#lineEnding = options.lineEnding ?? '\r\n';
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxBuffer = options.maxBuffer ?? 1 << 20;
    this.#unsubscribe = transport.onData((chunk) => this.#receive(chunk.toString('utf8')));
  }

  /** Everything received so far, for reports and logs. */
  get transcript(): string {
    return this.#transcript;
  }

  /** Sends `text` followed by the line ending. */
  sendLine(text: string): Promise<void> {
    return this.#transport.write(`${text}${this.#lineEnding}`);
  }

  /**
   * Waits until received text matches `pattern` (a string matches literally) and consumes it.
   * Rejects with `TimeoutError` naming the pattern and the tail of what was received.
   */
  async expect(pattern: RegExp | string, timeoutMs = this.#timeoutMs): Promise<ExpectMatch> {
    if (this.#waiter !== undefined) throw new SerialError(`console on ${this.#transport.name} is already waiting for ${String(this.#waiter.pattern)}`);
    const regex = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    const ready = this.#take(regex);
    if (ready) return ready;
    const abort = new AbortController();
    const matched = new Promise<ExpectMatch>((resolve) => {
      this.#waiter = { pattern: regex, resolve };
    });
    const timedOut = this.#clock.sleep(timeoutMs, abort.signal).then(
      () => 'timeout' as const,
      () => 'cancelled' as const,
    );
    try {
      const outcome = await Promise.race([matched, timedOut]);
      if (outcome === 'timeout' || outcome === 'cancelled') {
        const tail = this.#buffer.slice(-200);
        throw new TimeoutError(`no ${String(regex)} from ${this.#transport.name} within ${timeoutMs} ms; last received: ${JSON.stringify(tail)}`, {
          details: { port: this.#transport.name, pattern: String(regex), received: tail },
        });
      }
      return outcome;
    } finally {
      this.#waiter = undefined;
      abort.abort();
    }
  }

  /** Sends a line, then waits for `pattern`. */
  async command(line: string, pattern: RegExp | string, timeoutMs?: number): Promise<ExpectMatch> {
    await this.sendLine(line);
    return this.expect(pattern, timeoutMs);
  }

  /** Stops listening and closes the port. */
  async close(): Promise<void> {
    this.#unsubscribe();
    await this.#transport.close();
  }

  #receive(text: string): void {
    this.#transcript += text;
    this.#buffer += text;
    if (this.#buffer.length > this.#maxBuffer) this.#buffer = this.#buffer.slice(-this.#maxBuffer);
    if (this.#waiter) {
      const found = this.#take(this.#waiter.pattern);
      if (found) this.#waiter.resolve(found);
    }
  }

  #take(regex: RegExp): ExpectMatch | undefined {
    const flags = regex.flags.replace('g', '').replace('y', '');
    const match = new RegExp(regex.source, flags).exec(this.#buffer);
    if (!match) return undefined;
    const before = this.#buffer.slice(0, match.index);
    this.#buffer = this.#buffer.slice(match.index + match[0].length);
    return { match, before };
  }
}
