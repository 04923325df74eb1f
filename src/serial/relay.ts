/**
 * The power relay client: switches a drive's power over a serial line with the line protocol in
 * `docs/serial.md` (`PING`, `ON n`, `OFF n`, `STATUS`; replies `PONG`, `OK n ON|OFF`, `STATUS 1=ON 2=OFF`,
 * `ERR text`).
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { InvalidArgumentError, SerialError } from '../errors.js';
import { FirmwareConsole } from './console.js';
import type { SerialTransport } from './transport.js';

const REPLY = /^(PONG|OK (\d+) (ON|OFF)|STATUS((?: \d+=(?:ON|OFF))*)|ERR (.*?))\r?\n/m;

/** Power state of every channel, by channel number. */
export type RelayStatus = Record<number, boolean>;

/** See the module comment. */
export class PowerRelay {
  readonly #console: FirmwareConsole;
  readonly #clock: Clock;

  constructor(transport: SerialTransport, options: { clock?: Clock; timeoutMs?: number } = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#console = new FirmwareConsole(transport, { clock: this.#clock, lineEnding: '\n', timeoutMs: options.timeoutMs ?? 2000 });
  }

  /** Checks the board answers. */
  async ping(): Promise<void> {
    const reply = await this.#ask('PING');
    if (reply[1] !== 'PONG') throw new SerialError(`relay answered ${JSON.stringify(reply[0])} to PING`);
  }

  /** Switches one channel on or off; resolves when the board confirmed it. */
  async setPower(channel: number, on: boolean): Promise<void> {
    checkChannel(channel);
    const reply = await this.#ask(`${on ? 'ON' : 'OFF'} ${channel}`);
    if (reply[2] !== String(channel) || reply[3] !== (on ? 'ON' : 'OFF')) {
      throw new SerialError(`relay answered ${JSON.stringify(reply[0].trim())} to switching channel ${channel} ${on ? 'on' : 'off'}`);
    }
  }

  /** Cuts a channel's power for `offMs`, then restores it. */
  async powerCycle(channel: number, offMs = 1000): Promise<void> {
    await this.setPower(channel, false);
    await this.#clock.sleep(offMs);
    await this.setPower(channel, true);
  }

  /** Reads every channel's state. */
  async status(): Promise<RelayStatus> {
    const reply = await this.#ask('STATUS');
    if (reply[4] === undefined) throw new SerialError(`relay answered ${JSON.stringify(reply[0].trim())} to STATUS`);
    const status: RelayStatus = {};
    for (const [, ch, state] of reply[4].matchAll(/(\d+)=(ON|OFF)/g)) status[Number(ch)] = state === 'ON';
    return status;
  }

  /** Closes the port. */
  close(): Promise<void> {
    return this.#console.close();
  }

  async #ask(line: string): Promise<RegExpExecArray> {
    const { match } = await this.#console.command(line, REPLY);
    if (match[5] !== undefined) throw new SerialError(`relay refused "${line}": ${match[5]}`, { details: { command: line, reply: match[5] } });
    return match;
  }
}

function checkChannel(channel: number): void {
  if (!Number.isInteger(channel) || channel < 1 || channel > 64) {
    throw new InvalidArgumentError(`relay channel must be an integer from 1 to 64, got ${channel}`, { details: { field: 'channel', value: channel } });
  }
}
