/**
 * Volume tasks (`rebuild`, `scrub`) run by real controller processes, the way an operator runs them:
 *
 * 1. `blockrig meta format` on a metadata image of the work folder, then `blockrig volume create --meta
 *    --assume-clean` over the members' URIs (`fault:<inner>?fault-control=DIR&fault-seed=N`, so each
 *    process that opens a member obeys the fault timeline through the control channel).
 * 2. The harness is the process serving the volume: it assembles the volume from the table over the
 *    devices it holds and runs a `VolumeKeeper` (as `blockrig volume serve --no-rebuild` does), so it
 *    applies what the table asks (a replacement, the rebuilt member marked in sync) and its workload writes
 *    reach every member, the one being rebuilt included.
 * 3. One `blockrig controller run` process per controller (`fleet.ts`).
 * 4. A rebuild: `blockrig volume fail` and `volume replace --with` the scenario's device, then `task submit
 *    volume-rebuild --target <new member> --param member=N`; the harness waits until its keeper has marked
 *    the member in sync. A scrub: `task submit volume-scrub --param repair=...`; its mismatched sectors are
 *    the task's result.
 */
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDevice } from '../../drivers/index.js';
import type { BlockDevice } from '../../drivers/types.js';
import type { Clock } from '../../src/clock.js';
import { MemberState } from '../../src/volume/member.js';
import type { Volume } from '../../src/volume/volume.js';
import { assembleStoredVolume } from '../../src/volume/volume-admin.js';
import { VolumeKeeper } from '../../src/volume/volume-keeper.js';
import { VolumeTable } from '../../src/volume/volume-table.js';
import { inject, type BuiltDevice } from '../rig/devices.js';
import type { ProcessSupervisor } from '../rig/processes.js';
import { waitUntil } from '../rig/processes.js';
import type { Teardown } from '../rig/teardown.js';
import type { Scenario } from '../scenario/schema.js';
import { ControllerFleet, regionTiming, type ControllerEvent, type ScenarioTask } from './fleet.js';

/** What building the served volume needs from the run. */
export interface ServedVolumeContext {
  readonly workDir: string;
  readonly cliPath: string;
  readonly processes: ProcessSupervisor;
  readonly teardown: Teardown;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** The volume the harness serves, with its table and controllers. */
export interface ServedVolume {
  readonly volume: Volume;
  readonly meta: string;
  readonly fleet: ControllerFleet;
}

/** The metadata image: the region for the controllers, the volume table at its end. */
const META_BYTES = 16 * 1024 * 1024;

/** Steps 1 to 3 of the module comment; everything is registered for teardown as it comes up. */
export async function serveRigVolume(s: Scenario, devices: ReadonlyMap<string, BuiltDevice>, ctx: ServedVolumeContext): Promise<ServedVolume> {
  if (s.task.kind === 'region') throw new Error('a region task does not use a served volume');
  const uriOf = (name: string): string => {
    const uri = devices.get(name)?.uri;
    if (uri === undefined) throw new Error(`device ${name} cannot be opened by another process`);
    return uri;
  };
  const meta = join(ctx.workDir, 'meta.img');
  await writeFile(meta, '');
  await truncate(meta, META_BYTES);
  const metaDevice = await openDevice(meta);
  ctx.teardown.push('close the metadata device', () => metaDevice.close());
  const fleet = new ControllerFleet({ meta, metaDevice, controllers: s.controllers.count, workDir: ctx.workDir, cliPath: ctx.cliPath, processes: ctx.processes, clock: ctx.clock, log: ctx.log });
  await fleet.run('meta-format', ['meta', 'format', meta, '--controllers', String(s.controllers.count + 2), '--tasks', '2', '--max-chunks', String(s.task.partitions), ...regionTiming(s.controllers.leaseMs), '--label', 'hil']);
  const v = s.volume;
  await fleet.run('volume-create', ['volume', 'create', v.name, '--meta', meta, '--level', v.level, '--chunk', String(v.chunk), '--assume-clean', ...v.members.flatMap((m) => ['--member', uriOf(m)]), ...v.spares.flatMap((m) => ['--spare', uriOf(m)])]);
  // Members are the devices the harness already holds (the faults and the report follow them).
  const byUri = new Map([...devices.values()].flatMap((d) => (d.uri === undefined ? [] : [[d.uri, d.device] as const])));
  const open = (uri: string): Promise<BlockDevice> => Promise.resolve(byUri.get(uri) ?? openDevice(uri));
  const table = new VolumeTable(metaDevice);
  const { volume, stored } = await assembleStoredVolume(table, v.name, open);
  ctx.teardown.push(`close volume ${v.name}`, () => volume.close());
  const keeper = new VolumeKeeper({ table, volume, stored, open, clock: ctx.clock, pollMs: 100, rebuild: false, log: (m) => ctx.log(`volume ${v.name}: ${m}`) });
  keeper.start();
  ctx.teardown.push(`stop serving volume ${v.name}`, () => keeper.stop());
  ctx.log(`volume ${v.name}: ${v.level}, ${volume.layout.rows} rows of ${v.chunk} bytes, ${volume.size} bytes, in the volume table of ${meta}, served by the harness`);
  ctx.teardown.push('stop the controller processes', () => fleet.stop());
  await fleet.start();
  return { volume, meta, fleet };
}

/** Options of `VolumeTask`. */
export interface VolumeTaskOptions {
  readonly scenario: Scenario;
  readonly served: ServedVolume;
  readonly devices: ReadonlyMap<string, BuiltDevice>;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** Step 4 of the module comment. */
export class VolumeTask implements ScenarioTask {
  readonly #o: VolumeTaskOptions;
  #mismatchSectors = 0;

  constructor(options: VolumeTaskOptions) {
    this.#o = options;
  }

  get progress(): number {
    return this.#o.served.fleet.progress;
  }

  get reclaimed(): number {
    return this.#o.served.fleet.reclaimed;
  }

  get events(): readonly ControllerEvent[] {
    return this.#o.served.fleet.events;
  }

  /** Mismatching 512-byte sectors the scrub task reported. */
  get mismatchSectors(): number {
    return this.#mismatchSectors;
  }

  onProgress(listener: () => void): () => void {
    return this.#o.served.fleet.onProgress(listener);
  }

  kill(id: number): void {
    this.#o.served.fleet.kill(id);
  }

  pause(id: number, ms: number): void {
    this.#o.served.fleet.pause(id, ms);
  }

  /**
   * A rebuild fails the member and puts the replacement in its slot through the table, and waits until the
   * harness's keeper applied it. Returns one line for the run log.
   */
  async prepare(): Promise<string> {
    const { scenario: s, served, devices } = this.#o;
    const task = s.task;
    const volume = served.volume;
    if (task.kind === 'region') throw new Error('not a volume task');
    if (task.rate !== undefined) {
      // The pace of the task: every process that writes the new member (or reads the first) waits as on a slow link.
      const paced = devices.get(task.kind === 'rebuild' ? task.with : (s.volume.members[0] ?? ''));
      if (paced === undefined) throw new Error('no device to pace the task on');
      await inject(paced, { op: 'add', rule: { id: 'task-rate', kind: 'latency', ms: 0, bytesPerSecond: task.rate, ops: [task.kind === 'rebuild' ? 'write' : 'read'] } });
    }
    if (task.kind === 'scrub') return `${task.repair ? 'check and repair' : 'check'} of ${volume.layout.rows} rows`;
    const replacement = devices.get(task.with);
    if (replacement?.uri === undefined) throw new Error(`device ${task.with} cannot be opened by the controller processes`);
    const name = s.volume.name;
    await served.fleet.run('volume-fail', ['volume', 'fail', name, '--meta', served.meta, '--member', String(task.member)]);
    // A spare may take the slot at once; otherwise the scenario's replacement does.
    await waitUntil(() => volume.member(task.member).state !== MemberState.InSync, 10_000, `the harness to fail member ${task.member}`, this.#o.clock);
    if (volume.member(task.member).state === MemberState.Failed) {
      await served.fleet.run('volume-replace', ['volume', 'replace', name, '--meta', served.meta, '--member', String(task.member), '--with', replacement.uri]);
    }
    await waitUntil(() => volume.member(task.member).state === MemberState.Rebuilding, 10_000, `the harness to put the replacement in slot ${task.member}`, this.#o.clock);
    return `member ${task.member} (${s.volume.members[task.member] ?? '?'}) failed, rebuilding onto ${volume.member(task.member).device?.uri ?? '?'}`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { scenario: s, served } = this.#o;
    const task = s.task;
    if (task.kind === 'region') throw new Error('not a volume task');
    const volume = served.volume;
    const rows = volume.layout.rows;
    const chunk = volume.layout.chunkSize;
    const perPartition = Math.ceil(rows / task.partitions);
    const common = ['--offset', '0', '--length', String(rows * chunk), '--partition-size', String(perPartition * chunk), '--chunk-partitions', '1', '--param', `volume=${s.volume.name}`, '--param', `meta=${served.meta}`, '--param', `stepRows=${task.stepRows}`];
    if (task.kind === 'rebuild') {
      const target = volume.member(task.member).device?.uri ?? '';
      await served.fleet.submit('volume-rebuild', ['--target', target, ...common, '--param', `member=${task.member}`], signal);
      // The completion asked (intent record) for the member to be marked in sync; the keeper applies it.
      await waitUntil(() => volume.member(task.member).state !== MemberState.Rebuilding, 10_000, `the harness to mark member ${task.member} in sync`, this.#o.clock);
      this.#o.log(`member ${task.member}: ${volume.member(task.member).state}`);
      return;
    }
    const target = volume.members.find((m) => m.device?.uri !== undefined)?.device?.uri ?? '';
    const status = await served.fleet.submit('volume-scrub', ['--target', target, ...common, '--param', `repair=${task.repair}`], signal);
    const result = (status as { outcome?: { result?: { mismatchSectors?: unknown } } } | undefined)?.outcome?.result?.mismatchSectors;
    if (typeof result !== 'number') throw new Error(`the scrub task's completion status has no mismatchSectors: ${JSON.stringify(status)?.slice(0, 300) ?? 'no status'}`);
    this.#mismatchSectors = result;
  }
}
