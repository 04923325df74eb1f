/**
 * The rig's power relay. With `path`, blockrig drives a real board on that serial port and the hardware
 * cuts the drive's power itself. Without it, socat makes a pseudo-terminal pair, the simulated board
 * (`hil/sim/relay-board.ts`) answers on one end, and blockrig's `PowerRelay` talks to the other end, so the
 * whole serial path (port, line protocol, timeouts) is the real one; the simulated board's power changes
 * are mapped to taking the device on that channel offline and back.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../src/clock.js';
import { PowerRelay } from '../../src/serial/relay.js';
import { openSerialPort, type SerialTransport } from '../../src/serial/transport.js';
import { startRelayBoard, type RelayBoard } from '../sim/relay-board.js';
import { findProgram, waitUntil, type ProcessSupervisor } from './processes.js';

/** A relay ready to switch channels; `close` releases the ports (the supervisor stops socat). */
export interface RigRelay {
  readonly relay: PowerRelay;
  /**
   * Switches a channel; calls are queued, since the line carries one command and its reply at a time and
   * two faults may switch channels at the same moment.
   */
  setPower(channel: number, on: boolean): Promise<void>;
  /** The port blockrig talks to. */
  readonly path: string;
  close(): Promise<void>;
}

/** What the relay needs from the run. */
export interface RelayBuildContext {
  readonly workDir: string;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  /** Called when the simulated board switches a channel (real boards switch real power instead). */
  readonly onPower: (channel: number, on: boolean) => void;
}

/** Opens a real relay board at `path`, or starts a simulated one behind a socat pty pair. */
export async function buildRelay(options: { path?: string | undefined; channels: number }, ctx: RelayBuildContext): Promise<RigRelay> {
  if (options.path !== undefined) {
    const relay = new PowerRelay(await openSerialPort(options.path), { clock: ctx.clock });
    await relay.ping();
    return { relay, path: options.path, setPower: serialize(relay), close: () => relay.close() };
  }
  const socat = findProgram('socat', 'socat');
  const host = join(ctx.workDir, 'relay-host');
  const far = join(ctx.workDir, 'relay-board');
  const proc = await ctx.processes.start('socat:relay', socat, [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${far}`]);
  await waitUntil(() => (existsSync(host) && existsSync(far)) || proc.exited, 5000, `socat to create ${host} and ${far}`, ctx.clock);
  let boardEnd: SerialTransport | undefined;
  let board: RelayBoard | undefined;
  let relay: PowerRelay | undefined;
  try {
    boardEnd = await openSerialPort(far);
    board = startRelayBoard(boardEnd, { channels: options.channels, onChange: ctx.onPower });
    relay = new PowerRelay(await openSerialPort(host), { clock: ctx.clock });
    await relay.ping();
  } catch (err) {
    await relay?.close();
    await (board?.stop() ?? boardEnd?.close());
    throw err;
  }
  const started = { relay, board };
  return {
    relay,
    path: host,
    setPower: serialize(relay),
    close: async () => {
      await started.relay.close();
      await started.board.stop();
    },
  };
}

/** Runs `setPower` calls one after the other. */
function serialize(relay: PowerRelay): (channel: number, on: boolean) => Promise<void> {
  let last: Promise<void> = Promise.resolve();
  return (channel, on) => {
    const next = last.catch(() => undefined).then(() => relay.setPower(channel, on));
    last = next;
    return next;
  };
}
