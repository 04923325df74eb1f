/**
 * The rig's controller firmware console. With `path`, blockrig talks to a real console on that serial
 * port. Without it, socat makes a pseudo-terminal pair and the simulated firmware (`hil/sim/
 * firmware-console.ts`) answers on the far end; its `drives` command lists the rig's devices with their
 * power state (`drive 2 d2 offline`), so a scenario can check through the console what the bench sees.
 * Either way the rig waits for the prompt before it goes on, and the whole transcript goes to the report.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../src/clock.js';
import { FirmwareConsole } from '../../src/serial/console.js';
import { openSerialPort, type SerialTransport } from '../../src/serial/transport.js';
import { startFirmwareConsole, type FirmwareSim } from '../sim/firmware-console.js';
import { findProgram, waitUntil, type ProcessSupervisor } from './processes.js';

/** A console ready for commands. */
export interface RigConsole {
  readonly console: FirmwareConsole;
  readonly path: string;
  close(): Promise<void>;
}

/** What the console needs from the run. */
export interface ConsoleBuildContext {
  readonly workDir: string;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  /** For the simulated firmware's `drives`: each device's name and whether it is available. */
  readonly drives: () => { name: string; available: boolean }[];
}

/** Opens a real console at `path`, or starts the simulated firmware behind a socat pty pair; waits for `prompt`. */
export async function buildConsole(options: { path?: string | undefined; prompt: string; timeoutMs: number }, ctx: ConsoleBuildContext): Promise<RigConsole> {
  const prompt = new RegExp(options.prompt);
  if (options.path !== undefined) {
    const console = new FirmwareConsole(await openSerialPort(options.path), { clock: ctx.clock, timeoutMs: options.timeoutMs });
    try {
      await console.command('', prompt);
    } catch (err) {
      await console.close();
      throw err;
    }
    return { console, path: options.path, close: () => console.close() };
  }
  const socat = findProgram('socat', 'socat');
  const host = join(ctx.workDir, 'console-host');
  const far = join(ctx.workDir, 'console-firmware');
  const proc = await ctx.processes.start('socat:console', socat, [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${far}`]);
  await waitUntil(() => (existsSync(host) && existsSync(far)) || proc.exited, 5000, `socat to create ${host} and ${far}`, ctx.clock);
  let firmwareEnd: SerialTransport | undefined;
  let firmware: FirmwareSim | undefined;
  let console: FirmwareConsole | undefined;
  try {
    // The host end opens first so that it hears the boot banner.
    console = new FirmwareConsole(await openSerialPort(host), { clock: ctx.clock, timeoutMs: options.timeoutMs });
    firmwareEnd = await openSerialPort(far);
    firmware = startFirmwareConsole(firmwareEnd, { drives: () => ctx.drives().map((d) => `${d.name} ${d.available ? 'online' : 'offline'}`) });
    await console.expect(prompt);
  } catch (err) {
    await console?.close();
    await (firmware?.stop() ?? firmwareEnd?.close());
    throw err;
  }
  const started = { console, firmware };
  return {
    console,
    path: host,
    close: async () => {
      await started.console.close();
      await started.firmware.stop();
    },
  };
}
