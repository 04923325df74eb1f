/**
 * Builds a scenario's rig: the relay (when the scenario has serial hardware), every member device, and the
 * volume over them. Every piece is registered with the run's `Teardown` as soon as it exists. For a volume
 * task (rebuild, scrub) the volume lives in a volume table and the harness serves it while controller
 * processes run the task (`volume-task.ts`); for a region task it is an idle volume held in the harness.
 */
import { createVolume, type Volume } from '../../src/volume/index.js';
import type { Clock } from '../../src/clock.js';
import { buildConsole, type RigConsole } from '../rig/console.js';
import { buildDevice, inject, type BuiltDevice } from '../rig/devices.js';
import type { ProcessSupervisor } from '../rig/processes.js';
import { buildRelay, type RigRelay } from '../rig/relay.js';
import type { Teardown } from '../rig/teardown.js';
import { startTgtd, type RigTgtd } from '../rig/tgtd.js';
import type { Scenario } from '../scenario/schema.js';
import { serveRigVolume, type ServedVolume } from './volume-task.js';

/** A built rig. */
export interface Rig {
  readonly devices: ReadonlyMap<string, BuiltDevice>;
  readonly relay: RigRelay | undefined;
  readonly console: RigConsole | undefined;
  readonly volume: Volume;
  /** The served volume and its controller processes (volume tasks). */
  readonly served: ServedVolume | undefined;
  /** Resolves once every power change the relay made so far reached every process holding the devices. */
  readonly powerSettled: () => Promise<void>;
}

/** What building needs from the run. */
export interface RigContext {
  readonly workDir: string;
  readonly seed: number;
  readonly clock: Clock;
  readonly processes: ProcessSupervisor;
  readonly teardown: Teardown;
  readonly log: (line: string) => void;
  /** The blockrig CLI script the controller processes run. */
  readonly cliPath: string;
}

/** Builds relay, devices and volume, in that order. */
export async function buildRig(s: Scenario, ctx: RigContext): Promise<Rig> {
  const devices = new Map<string, BuiltDevice>();
  let relay: RigRelay | undefined;
  const powerChanges = new Set<Promise<void>>();
  const relayOptions = s.rig.serial?.relay;
  if (relayOptions !== undefined) {
    relay = await buildRelay(relayOptions, {
      workDir: ctx.workDir,
      processes: ctx.processes,
      clock: ctx.clock,
      onPower: (channel, on) => {
        for (const d of devices.values()) {
          if (d.spec.power !== channel) continue;
          ctx.log(`relay: channel ${channel} ${on ? 'on' : 'off'}: device ${d.spec.name} ${on ? 'powered' : 'without power'}`);
          // Every process holding the device loses it, through its control channel.
          const change = inject(d, on ? { op: 'online' } : { op: 'offline', reason: `relay channel ${channel} off` }).then(
            () => undefined,
            (err: unknown) => ctx.log(`relay: device ${d.spec.name}: ${(err as Error).message}`),
          );
          powerChanges.add(change);
          void change.finally(() => powerChanges.delete(change));
        }
      },
    });
    const built = relay;
    ctx.teardown.push('close the relay ports', () => built.close());
    ctx.log(`relay: ${relayOptions.path ?? `simulated board on ${relay.path}`}`);
  }
  let console: RigConsole | undefined;
  const consoleOptions = s.rig.serial?.console;
  if (consoleOptions !== undefined) {
    const built = await buildConsole(
      { path: consoleOptions.path, prompt: consoleOptions.prompt, timeoutMs: consoleOptions.timeout },
      { workDir: ctx.workDir, processes: ctx.processes, clock: ctx.clock, drives: () => [...devices.values()].map((d) => ({ name: d.spec.name, available: d.device.available })) },
    );
    console = built;
    ctx.teardown.push('close the console ports', () => built.close());
    ctx.log(`console: ${consoleOptions.path ?? `simulated firmware on ${built.path}`}, prompt seen`);
  }
  let tgtd: Promise<RigTgtd> | undefined;
  const startedTgtd = (): Promise<RigTgtd> => (tgtd ??= startTgtd(ctx));
  let index = 0;
  for (const spec of s.rig.devices) {
    const built = await buildDevice(spec, { workDir: ctx.workDir, seed: ctx.seed, index: index++, processes: ctx.processes, clock: ctx.clock, tgtd: startedTgtd });
    devices.set(spec.name, built);
    ctx.teardown.push(`close device ${spec.name}`, () => built.device.close());
    ctx.log(`device ${spec.name}: ${spec.kind}, ${spec.size} bytes, ${built.device.inner.uri}`);
  }
  const powerSettled = async (): Promise<void> => {
    while (powerChanges.size > 0) await Promise.all([...powerChanges]);
  };
  if (s.task.kind !== 'region') {
    const served = await serveRigVolume(s, devices, ctx);
    return { devices, relay, console, volume: served.volume, served, powerSettled };
  }
  const member = (name: string): BuiltDevice['device'] => {
    const d = devices.get(name);
    if (d === undefined) throw new Error(`no device ${name}`);
    return d.device;
  };
  const volume = createVolume({
    name: s.volume.name,
    level: s.volume.level,
    chunkSize: s.volume.chunk,
    members: s.volume.members.map(member),
    spares: s.volume.spares.map(member),
    ownsMembers: false,
    clock: ctx.clock,
  });
  ctx.teardown.push(`close volume ${s.volume.name}`, () => volume.close());
  ctx.log(`volume ${s.volume.name}: ${s.volume.level}, ${volume.layout.rows} rows of ${s.volume.chunk} bytes, ${volume.size} bytes`);
  return { devices, relay, console, volume, served: undefined, powerSettled };
}
