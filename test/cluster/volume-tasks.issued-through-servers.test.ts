/**
 * The volume task kinds through the servers of a real rig (separate server, agent, controller, driver and
 * `volume serve` processes): a raid5 whose member was corrupted is scrubbed (the mismatch is counted and
 * located), initialized (parity rewritten) and scrubbed clean; a member fails, the spare takes its slot and
 * a volume-rebuild task rebuilds it while the volume is served; a repairing scrub then finds nothing; a
 * volume-copy task moves a member to a new device.
 * Bad arguments are refused with 400 naming the field.
 */
import { openSync, closeSync, writeSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import type { ApiErrorBody, TaskRecord, VolumeView } from '../../src/wire/index.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startServer, TEST_PASSWORD, writeRig, type ServerHandle } from './rig.js';

const MiB = 1 << 20;
const CHUNK = 64 * 1024;
const dir = tempDir('blockrig-voltasks-');
const meta = join(dir, 'meta.img');
const table = join(dir, 'volumes.img');
const members = ['m0', 'm1', 'm2', 'spare'].map((n) => join(dir, `${n}.img`));
let serverA: ServerHandle;
let serverB: ServerHandle;
let up: TestProcess;
let serve: TestProcess;

interface VolumeCompletion {
  kind: string;
  counts: { complete: number; failed: number };
  partitionStates: string[];
  outcome: { status: string; result: { mismatchSectors?: number; mismatchedPartitions?: number[]; member?: number; failedPartitions: number } };
  mismatchLocations?: { partition: number; offset: number; length: number }[];
}

function image(path: string, size: number): void {
  writeFileSync(path, '');
  truncateSync(path, size);
}

async function run(server: ServerHandle, kind: string, args: Record<string, unknown>): Promise<{ task: TaskRecord; status: VolumeCompletion }> {
  const issued = await server.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind, args });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  let task: TaskRecord | undefined;
  await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((task = await server.task(issued.body.id))?.state ?? ''), 90_000, `${kind} ${issued.body.id} to end`);
  if (!task) throw new Error('unreachable');
  expect(task.state, task.error ?? '').toBe('succeeded');
  return { task, status: task.result as VolumeCompletion };
}

async function volume(server: ServerHandle): Promise<VolumeView | undefined> {
  return (await server.cluster('c1')).volumes.find((v) => v.name === 'v5');
}

beforeAll(async () => {
  image(meta, 32 * MiB);
  image(table, 4 * MiB);
  for (const m of members) image(m, 8 * MiB);
  const device = await openDevice(meta);
  await formatRegion(device, { force: true, timing: { heartbeatIntervalMs: 200 } });
  await device.close();
  const created = runCli(['volume', 'create', 'v5', '--meta', table, '--level', 'raid5', '--chunk', '64KiB', '--assume-clean', ...members.slice(0, 3).flatMap((m) => ['--member', m]), '--spare', members[3] ?? '']);
  expect(created.status, created.stderr).toBe(0);
  // A stale parity: bytes on member 2 in row 40 that the other members do not account for.
  const fd = openSync(members[2] ?? '', 'r+');
  writeSync(fd, Buffer.from('stale parity'), 0, 12, 40 * CHUNK + 512);
  closeSync(fd);
  serve = startProcess(process.execPath, [CLI_PATH, 'volume', 'serve', 'v5', '--meta', table, '--listen', '127.0.0.1:0', '--no-rebuild', '--poll-ms', '100', '--json']);
  await waitFor(() => serve.stdout().includes('"uri"'), 15_000, 'volume serve to listen');
  const config = writeRig(dir, {
    servers: [{ id: 'A' }, { id: 'B' }],
    clusters: [{ id: 'c1', meta, volumes: table, controllers: 2, devices: members.map((m, i) => ({ name: `d${i}`, uri: m })) }],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  up = await clusterUp(config, 'c1', 2);
  await waitFor(async () => (await volume(serverA)) !== undefined && (await serverB.cluster('c1')).agents.some((a) => a.alive), 30_000, 'agents registered and the volume reported');
});

afterAll(async () => {
  for (const p of [up, serverA?.process, serverB?.process, serve]) if (p) await stopProcess(p.child);
});

describe('volume task kinds issued through the servers', () => {
  it('a scrub through server A counts the stale parity and says which member bytes hold it', async () => {
    const { task, status } = await run(serverA, 'volume-scrub', { volume: 'v5', partitions: 8 });
    expect(task.executor?.agentId).toBe('A@c1');
    expect(status.kind).toBe('volume-scrub');
    expect(status.counts).toMatchObject({ complete: 8, failed: 0 });
    expect(status.partitionStates).toEqual(Array(8).fill('COMPLETE'));
    expect(status.outcome.result.mismatchSectors).toBe(1);
    // 128 rows in 8 partitions of 16 rows: row 40 is in partition 2, member bytes [2 MiB, 3 MiB).
    expect(status.mismatchLocations).toEqual([{ partition: 2, offset: 2 * MiB, length: MiB }]);
  });

  it('an initialize through server B rewrites the parity; a scrub then finds nothing', async () => {
    const init = await run(serverB, 'volume-initialize', { volume: 'v5', partitions: 4 });
    expect(init.task.executor?.agentId).toBe('B@c1');
    expect(init.status.outcome.result.mismatchSectors).toBe(1);
    const again = await run(serverA, 'volume-scrub', { volume: 'v5' });
    expect(again.status.outcome.result).toMatchObject({ mismatchSectors: 0, failedPartitions: 0 });
    expect(again.status.mismatchLocations).toEqual([]);
  });

  it('a member fails, the spare takes its slot, and a volume-rebuild task rebuilds it while the volume is served', async () => {
    const failed = await serverA.post<VolumeView>('/api/v1/clusters/c1/volumes/v5/fail', { member: 1 });
    expect(failed.status).toBe(200);
    // Issued at once, as from the dashboard: the driver waits for the serving process to move the spare in.
    const { status } = await run(serverB, 'volume-rebuild', { volume: 'v5', partitions: 8 });
    expect(status.outcome.result).toMatchObject({ member: 1, failedPartitions: 0 });
    expect(status.counts.complete).toBe(8);
    await waitFor(async () => (await volume(serverA))?.state === 'clean', 20_000, 'the volume clean again');
    expect((await volume(serverA))?.members[1]?.uri).toBe(members[3]);
    const repair = await run(serverA, 'volume-scrub', { volume: 'v5', repair: true });
    expect(repair.status.outcome.result.mismatchSectors).toBe(0);
  });

  it('a volume-copy task through server B copies a member to a new device, which takes its slot', async () => {
    const fresh = join(dir, 'fresh.img');
    image(fresh, 8 * MiB);
    const { status } = await run(serverB, 'volume-copy', { volume: 'v5', member: 0, to: fresh, partitions: 4 });
    expect(status.outcome.result).toMatchObject({ member: 0, to: fresh, status: 'finished' });
    await waitFor(async () => (await volume(serverA))?.members[0]?.uri === fresh, 20_000, 'the copy to take member 0\'s slot');
    const check = await run(serverA, 'volume-scrub', { volume: 'v5' });
    expect(check.status.outcome.result.mismatchSectors).toBe(0);
  });

  it('blockrig task submit through the servers runs a volume scrub (--wait --json, human output) and names a bad option', () => {
    const env = { ...process.env, BLOCKRIG_PASSWORD: TEST_PASSWORD };
    const servers = ['--server', serverA.url, '--server', serverB.url];
    const json = runCli(['task', 'submit', 'volume-scrub', '--cluster', 'c1', '--volume', 'v5', '--partitions', '4', '--wait', '--json', ...servers], { env });
    expect(json.status, json.stderr).toBe(0);
    const record = JSON.parse(json.stdout) as TaskRecord;
    expect(record).toMatchObject({ kind: 'volume-scrub', state: 'succeeded', args: { volume: 'v5', partitions: 4 } });
    expect((record.result as VolumeCompletion).outcome.result.mismatchSectors).toBe(0);
    const human = runCli(['task', 'submit', 'volume-scrub', '--cluster', 'c1', '--volume', 'v5', '--wait', ...servers], { env });
    expect(human.status, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/kind:\s+volume-scrub/);
    expect(human.stdout).toMatch(/state:\s+succeeded/);
    expect(human.stdout).toMatch(/args:\s+volume=v5/);
    expect(human.stdout).toMatch(/result:\s+0 mismatched sectors\n/);
    const missing = runCli(['task', 'submit', 'volume-rebuild', '--cluster', 'c1', ...servers], { env });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--volume: name the volume');
    const unknown = runCli(['task', 'submit', 'volume-scrub', '--cluster', 'c1', '--volume', 'nope', ...servers], { env });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no volume "nope"');
  });

  it('bad arguments are refused with 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'volume-scrub', args: {} }, 'args.volume'],
      [{ kind: 'volume-scrub', args: { volume: 'v5', repair: 'yes' } }, 'args.repair'],
      [{ kind: 'volume-rebuild', args: { volume: 'v5', member: 'one' } }, 'args.member'],
      [{ kind: 'volume-initialize', args: { volume: 'v5', colour: 'red' } }, 'args.colour'],
      [{ kind: 'volume-scrub', args: { volume: 'v5', partitions: 0 } }, 'args.partitions'],
      [{ kind: 'volume-scrub', args: { volume: 'nope' } }, 'args.volume'],
      [{ kind: 'volume-copy', args: { volume: 'v5', member: 0 } }, 'args.to'],
      [{ kind: 'volume-mangle', args: { volume: 'v5' } }, 'kind'],
    ];
    for (const [body, field] of cases) {
      const res = await serverA.post<ApiErrorBody>('/api/v1/tasks', { cluster: 'c1', ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.field, JSON.stringify(res.body)).toBe(field);
      expect(res.body.error.code).toBe('BLOCKRIG_E_INVALID_ARGUMENT');
    }
  });
});
