/**
 * Builds the rig's member devices: an image file per device (sparse), opened through the driver layer as a
 * file, a kernel loop device, an nbdkit export (with its error, delay and rate filters), a qemu-nbd
 * export or a LUN of the rig's tgtd (opened with blockrig's iSCSI initiator), or held in memory. Every
 * device is wrapped in the fault driver with a seed derived from the scenario's, so every fault the
 * timeline injects goes through the same documented rule engine and replays the same way under the same
 * seed. Every device but a memory one is opened by its URI `fault:<inner>?fault-control=DIR&fault-seed=N`,
 * the same URI the controller processes open, so that a fault sent through the control channel
 * (`inject`) reaches the harness and every controller alike.
 */
import { existsSync } from 'node:fs';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDevice } from '../../drivers/index.js';
import { broadcastFaultCommand } from '../../drivers/fault-control-client.js';
import type { FaultCommand } from '../../drivers/fault-control.js';
import { createFaultDevice, FaultDevice } from '../../drivers/fault.js';
import { createMemoryDevice } from '../../drivers/memory.js';
import type { Clock } from '../../src/clock.js';
import type { RigDevice } from '../scenario/schema.js';
import { findProgram, waitUntil, type ProcessSupervisor, type RigProcess } from './processes.js';
import type { RigTgtd } from './tgtd.js';

/** One member device of a running rig. */
export interface BuiltDevice {
  readonly spec: RigDevice;
  /** The fault wrapper the harness's volume uses. */
  readonly device: FaultDevice;
  /** The URI every process opens it by (undefined for memory: no other process can open it). */
  readonly uri: string | undefined;
  /** Its fault control folder (undefined for memory). */
  readonly control: string | undefined;
  /** The image file behind it (none for memory). */
  readonly image: string | undefined;
  /** The nbdkit or qemu-nbd process serving it. */
  readonly server: RigProcess | undefined;
}

/** What `buildDevice` needs from the run. */
export interface DeviceBuildContext {
  readonly workDir: string;
  readonly seed: number;
  readonly index: number;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  /** The rig's tgtd, started on first use (for `kind: iscsi`). */
  readonly tgtd: () => Promise<RigTgtd>;
}

/** Creates and opens one device; the caller closes `device` (which detaches loop devices) at teardown. */
export async function buildDevice(spec: RigDevice, ctx: DeviceBuildContext): Promise<BuiltDevice> {
  const faultOptions = { seed: (ctx.seed * 1_000_003 + ctx.index * 7919) >>> 0, clock: ctx.clock, uri: `fault:${spec.name}` };
  if (spec.kind === 'memory') {
    return { spec, image: undefined, server: undefined, uri: undefined, control: undefined, device: createFaultDevice(createMemoryDevice({ size: spec.size }), faultOptions) };
  }
  const image = join(ctx.workDir, `${spec.name}.img`);
  await writeFile(image, '');
  await truncate(image, spec.size);
  let server: RigProcess | undefined;
  let uri: string;
  if (spec.kind === 'file') uri = image;
  // O_DIRECT on each process's own /dev/loopN: no block-device cache, so every process sees the others' writes.
  else if (spec.kind === 'loop') uri = `loop://${image}?direct=1`;
  else if (spec.kind === 'iscsi') uri = (await ctx.tgtd()).addLun(spec.name, image);
  else {
    const socket = join(ctx.workDir, `${spec.name}.sock`);
    server = spec.kind === 'nbdkit' ? await startNbdkit(spec, image, socket, ctx) : await startQemuNbd(spec, image, socket, ctx);
    await waitUntil(() => existsSync(socket) || server?.exited === true, 10_000, `${spec.kind} to listen on ${socket}`, ctx.clock);
    if (server.exited) throw new Error(`${spec.kind} for device ${spec.name} exited at start:\n${server.log()}`);
    // A rig's export that dies is a pulled drive: give up reconnecting after 2 s rather than NBD's 30 s,
    // so the volume fails the member while the scenario still runs.
    uri = `nbd+unix:///${spec.name}?socket=${socket}&reconnect=2s&timeout=10s`;
  }
  const control = join(ctx.workDir, 'f', spec.name);
  const faultUri = `fault:${uri}${uri.includes('?') ? '&' : '?'}fault-control=${control}&fault-seed=${faultOptions.seed}`;
  const device = await openDevice(faultUri);
  if (!(device instanceof FaultDevice)) throw new Error(`${faultUri} did not open as a fault device`);
  return { spec, image, server, uri: faultUri, control, device };
}

/**
 * Injects a fault into every process that holds the device (the harness and each controller process)
 * through its control channel, and returns once each live one applied it; a memory device, held by the
 * harness alone, is changed in place. Returns how many openers applied it and which did not answer (a
 * stopped controller applies it when it runs again); throws when one refused it.
 */
export async function inject(built: BuiltDevice, command: FaultCommand): Promise<{ applied: number; silent: number[] }> {
  if (built.control === undefined) {
    built.device.apply(command);
    return { applied: 1, silent: [] };
  }
  const { deliveries } = await broadcastFaultCommand(built.control, command);
  const refused = deliveries.filter((d) => d.outcome === 'refused');
  if (refused.length > 0) throw new Error(`device ${built.spec.name}: ${refused.map((d) => `pid ${d.pid} refused: ${d.error?.message ?? ''}`).join('; ')}`);
  return { applied: deliveries.filter((d) => d.outcome === 'applied').length, silent: deliveries.filter((d) => d.outcome === 'no-answer').map((d) => d.pid) };
}

/** nbdkit's file plugin behind the filters the scenario asks for, in the order error, delay, rate. */
async function startNbdkit(spec: RigDevice, image: string, socket: string, ctx: DeviceBuildContext): Promise<RigProcess> {
  const nbdkit = findProgram('nbdkit', 'nbdkit');
  const filters: string[] = [];
  const params: string[] = [];
  const f = spec.filters;
  if (f?.error !== undefined) {
    const armFile = join(ctx.workDir, `${spec.name}.errors-armed`);
    if (f.error.armed) await writeFile(armFile, '');
    filters.push('--filter=error');
    params.push(`error-rate=${f.error.rate}`, `error-file=${armFile}`);
  }
  if (f?.delay !== undefined) {
    filters.push('--filter=delay');
    params.push(`delay-read=${f.delay}ms`, `delay-write=${f.delay}ms`);
  }
  if (f?.rate !== undefined) {
    filters.push('--filter=rate');
    params.push(`rate=${f.rate}`);
  }
  // -f keeps nbdkit in the foreground so the pid we hold is the server's; --exit-with-parent stops it even
  // when blockrig itself is killed with SIGKILL.
  return ctx.processes.start(`nbdkit:${spec.name}`, nbdkit, ['-f', '--exit-with-parent', '-U', socket, '-e', spec.name, ...filters, 'file', `file=${image}`, ...params]);
}

/** qemu-nbd serving the raw image; --persistent keeps it up across client reconnects. */
function startQemuNbd(spec: RigDevice, image: string, socket: string, ctx: DeviceBuildContext): Promise<RigProcess> {
  const qemuNbd = findProgram('qemu-nbd', 'qemu-utils');
  return ctx.processes.start(`qemu-nbd:${spec.name}`, qemuNbd, ['-f', 'raw', '-k', socket, '-x', spec.name, '--persistent', '--shared=64', image]);
}
