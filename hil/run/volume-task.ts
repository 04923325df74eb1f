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
import type { RigServers } from '../rig/servers.js';
import type { TaskRecord } from '../../src/wire/index.js';
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

/** The metadata image: the controllers' region, which holds the volume table too. */
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
  await fleet.run('meta-format', ['meta', 'format', meta, '--controllers', String(s.controllers.count + 3), '--tasks', '2', '--max-chunks', String(s.task.partitions), ...regionTiming(s.controllers.leaseMs), '--label', 'hil']);
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
  /** The rig's servers, for a task issued through one (`task.via`). */
  readonly servers: RigServers | undefined;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

const FINAL = ['succeeded', 'failed', 'cancelled'];

/** Step 4 of the module comment. */
export class VolumeTask implements ScenarioTask {
  readonly #o: VolumeTaskOptions;
  #mismatchSectors = 0;
  #issuedId: string | undefined;

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
    const kind = task.kind === 'rebuild' ? 'volume-rebuild' : 'volume-scrub';
    let status: unknown;
    if (task.via !== undefined) {
      const args: Record<string, string | number | boolean> = task.kind === 'rebuild' ? { volume: s.volume.name, partitions: task.partitions, member: task.member } : { volume: s.volume.name, partitions: task.partitions, repair: task.repair };
      const record = await served.fleet.follow(kind, signal, () => this.#throughServer(task.via ?? 'A', kind, args, signal));
      if (record.state !== 'succeeded') throw new Error(`task ${record.id} ${record.state}: ${record.error ?? 'no reason given'}`);
      status = record.result;
    } else {
      const rows = volume.layout.rows;
      const chunk = volume.layout.chunkSize;
      const perPartition = Math.ceil(rows / task.partitions);
      const target = task.kind === 'rebuild' ? volume.member(task.member).device?.uri : volume.members.find((m) => m.device?.uri !== undefined)?.device?.uri;
      const common = ['--target', target ?? '', '--offset', '0', '--length', String(rows * chunk), '--partition-size', String(perPartition * chunk), '--chunk-partitions', '1', '--param', `volume=${s.volume.name}`, '--param', `meta=${served.meta}`, '--param', `stepRows=${task.stepRows}`];
      status = await served.fleet.submit(kind, [...common, ...(task.kind === 'rebuild' ? ['--param', `member=${task.member}`] : ['--param', `repair=${task.repair}`])], signal);
    }
    if (task.kind === 'rebuild') {
      // The completion asked (intent record) for the member to be marked in sync; the keeper applies it.
      await waitUntil(() => volume.member(task.member).state !== MemberState.Rebuilding, 10_000, `the harness to mark member ${task.member} in sync`, this.#o.clock);
      this.#o.log(`member ${task.member}: ${volume.member(task.member).state}`);
      return;
    }
    const result = (status as { outcome?: { result?: { mismatchSectors?: unknown } } } | undefined)?.outcome?.result?.mismatchSectors;
    if (typeof result !== 'number') throw new Error(`the scrub task's completion status has no mismatchSectors: ${JSON.stringify(status)?.slice(0, 300) ?? 'no status'}`);
    this.#mismatchSectors = result;
  }

  /** Issues the task through server `via` and waits until a live server reports it final. */
  async #throughServer(via: string, kind: string, args: Record<string, string | number | boolean>, signal: AbortSignal): Promise<TaskRecord> {
    const servers = this.#o.servers;
    if (servers === undefined) throw new Error('the rig has no servers to issue the task through');
    const id = await servers.issueTask(via, kind, args);
    this.#issuedId = id;
    this.#o.log(`task ${id} (${kind}) issued through server ${via}`);
    for (;;) {
      for (const server of servers.ids) {
        const record = await servers.task(server, id);
        if (record !== undefined && FINAL.includes(record.state)) {
          this.#o.log(`task ${id}: ${record.state}, reported by server ${server}; executed by ${record.executors.map((e) => e.agentId).join(' then ')}`);
          return record;
        }
      }
      await this.#o.clock.sleep(200, signal);
    }
  }

  /**
   * What every server reports about the task issued through a server, once each live one reports it final
   * (up to 15 s): per server "killed by the scenario", "not answering" or the state and the servers whose
   * agents executed it, in order.
   */
  async serverReports(): Promise<TaskReport[] | undefined> {
    const { servers, clock } = this.#o;
    const id = this.#issuedId;
    if (servers === undefined || id === undefined) return undefined;
    const live = servers.ids.filter((s) => !servers.killed(s));
    const records = new Map<string, TaskRecord | undefined>();
    const deadline = clock.now() + 15_000;
    for (;;) {
      for (const s of live) records.set(s, await servers.task(s, id));
      if (live.every((s) => FINAL.includes(records.get(s)?.state ?? '')) || clock.now() > deadline) break;
      await clock.sleep(200);
    }
    return servers.ids.map((server) => {
      const r = records.get(server);
      if (servers.killed(server) || r === undefined) return { server, state: servers.killed(server) ? 'killed by the scenario' : 'not answering', executedBy: [] };
      return { server, state: r.state, executedBy: r.executors.map((e) => e.serverId).filter((s, i, all) => i === 0 || all[i - 1] !== s) };
    });
  }
}

/** A task issued through a server, as one server reports it. */
export interface TaskReport {
  readonly server: string;
  /** The task's state, or "killed by the scenario" / "not answering". */
  readonly state: string;
  /** Servers whose agents executed it, in order, consecutive repeats folded. */
  readonly executedBy: readonly string[];
}

/** One line for the log and the expectations: "A: killed by the scenario, B: succeeded (executed via A then B)". */
export function describeTaskReports(reports: readonly TaskReport[]): string {
  return reports.map((r) => `${r.server}: ${r.state}${r.executedBy.length > 0 ? ` (executed via ${r.executedBy.join(' then ')})` : ''}`).join(', ');
}
