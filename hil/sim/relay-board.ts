/**
 * A simulated relay board on the far end of a serial line: the protocol of `docs/serial.md`, with
 * `channels` relays that start on. `onChange` lets a rig map a channel's power to a device (the HIL rig
 * takes the device offline when its channel is cut).
 */
import { onLines } from '../../src/serial/lines.js';
import type { SerialTransport } from '../../src/serial/transport.js';

/** Options of the simulated board. */
export interface RelayBoardOptions {
  channels?: number;
  onChange?: (channel: number, on: boolean) => void;
}

/** A running simulated board. */
export interface RelayBoard {
  /** Current power of each channel (1-based). */
  readonly power: boolean[];
  stop(): Promise<void>;
}

/** Starts answering the relay protocol on `transport`. */
export function startRelayBoard(transport: SerialTransport, options: RelayBoardOptions = {}): RelayBoard {
  const power = Array.from({ length: options.channels ?? 8 }, () => true);
  const answer = (line: string): string => {
    const words = line.trim().toUpperCase().split(/\s+/);
    const [verb, arg] = words;
    if (verb === 'PING' && words.length === 1) return 'PONG';
    if (verb === 'STATUS' && words.length === 1) return `STATUS ${power.map((on, i) => `${i + 1}=${on ? 'ON' : 'OFF'}`).join(' ')}`;
    if ((verb === 'ON' || verb === 'OFF') && words.length === 2) {
      const channel = Number(arg);
      if (!Number.isInteger(channel) || channel < 1 || channel > power.length) return `ERR no channel ${arg}; this board has 1-${power.length}`;
      const on = verb === 'ON';
      if (power[channel - 1] !== on) {
        power[channel - 1] = on;
        options.onChange?.(channel, on);
      }
      return `OK ${channel} ${verb}`;
    }
    return `ERR unknown command ${JSON.stringify(line.trim())}`;
  };
  const unsubscribe = onLines(transport, (line) => {
    if (line.trim() === '') return;
    void transport.write(`${answer(line)}\r\n`).catch(() => undefined);
  });
  return {
    power,
    stop: async () => {
      unsubscribe();
      await transport.close();
    },
  };
}
