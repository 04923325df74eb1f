/**
 * `npm start -- --demo`: a short scenario to watch in the dashboard while the rig runs. Each step says
 * what it does; steps whose parts are not in this build are skipped with a line saying so.
 *   1. a checksum task on cluster c1 through server A, followed to its end;
 *   2. a member of the raid5 fails, the spare takes over and rebuilds online (the export keeps serving);
 *   3. a device of cluster c2 goes missing (its image is moved away) and comes back;
 *   4. a fill and then a verify task (same pattern seed) on cluster c2 through server B.
 */
import { execFile } from 'node:child_process';
import { renameSync } from 'node:fs';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ClusterViewSchema, FINAL_TASK_STATES, TaskRecordSchema, type TaskKind } from '../wire/index.js';
import { ApiClient } from '../cli/client/api-client.js';
import type { EmbeddedRig, RigReady } from './embedded-rig.js';

const run = promisify(execFile);

const VolumeViewSchema = z.looseObject({ state: z.string(), members: z.array(z.looseObject({ index: z.number(), uri: z.string().optional(), state: z.string() })) });

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('aborted'))), { once: true });
  });
}

/** Plays the scenario; rejects when aborted (Ctrl-C) or when a step fails. */
export async function playDemo(rig: EmbeddedRig, ready: RigReady, say: (line: string) => void, signal: AbortSignal): Promise<void> {
  const plan = rig.plan;
  if (!plan) throw new Error('the rig has not started');
  const client = rig.client();
  const cli = async (args: string[]): Promise<string> => (await run(process.execPath, [process.argv[1] ?? 'dist/cli.js', ...args], { signal })).stdout;

  const canRunTasks = !ready.missing.some((m) => m.startsWith('region task'));
  const task = async (cluster: string, kind: TaskKind, via: string, args: Record<string, string | number> = {}): Promise<void> => {
    if (!canRunTasks) {
      say(`skipping the ${kind} task on cluster ${cluster}: this build has no region task driver`);
      return;
    }
    const url = ready.dashboards.find((d) => d.server === via)?.url;
    const viaClient = url === undefined ? client : new ApiClient({ servers: [url], user: plan.user, password: plan.password });
    say(`issuing a ${kind} task on cluster ${cluster} through server ${via} (8 partitions); watch it in the Tasks panel`);
    let t = await viaClient.post(TaskRecordSchema, '/api/v1/tasks', { cluster, kind, args: { partitions: 8, ...args } });
    while (!FINAL_TASK_STATES.includes(t.state)) {
      await sleep(500, signal);
      t = await viaClient.get(TaskRecordSchema, `/api/v1/tasks/${t.id}`);
    }
    say(`task ${t.id} ${t.state}${t.error === null ? '' : `: ${t.error}`}`);
  };

  await task('c1', 'checksum', 'A');
  await sleep(1500, signal);

  const c1 = plan.clusters[0];
  if (ready.exports.length > 0 && c1) {
    say(`member 1 of volume ${c1.volume.name} fails (blockrig volume fail); the spare takes its place and rebuilds while the NBD export keeps serving`);
    await cli(['volume', 'fail', c1.volume.name, '--meta', c1.volumeTable, '--member', '1']);
    for (let i = 0; i < 120; i++) {
      await sleep(1000, signal);
      const view = VolumeViewSchema.parse(JSON.parse(await cli(['volume', 'status', c1.volume.name, '--meta', c1.volumeTable, '--json'])));
      const states = view.members.map((m) => `${(m.uri ?? String(m.index)).replace(/^.*\//, '')}:${m.state}`);
      const synced = view.members.every((m) => m.state === 'in-sync');
      if (i % 5 === 0 || synced) say(`volume ${c1.volume.name}: ${view.state}, members ${states.join(' ')}`);
      if (synced) break;
    }
  } else say('skipping the member failure: this build has no volumes');

  const c2 = plan.clusters[1];
  const spare = c2?.devices[c2.devices.length - 1];
  if (c2 && spare) {
    say(`device ${spare.name} of cluster ${c2.id} goes missing (its image is moved away); the Devices panel shows it unavailable`);
    renameSync(spare.path, `${spare.path}.pulled`);
    try {
      for (let i = 0; i < 20; i++) {
        await sleep(500, signal);
        const view = await client.get(ClusterViewSchema, `/api/v1/clusters/${c2.id}`);
        if (view.devices.find((d) => d.name === spare.name)?.available === false) break;
      }
      await sleep(3000, signal);
    } finally {
      renameSync(`${spare.path}.pulled`, spare.path);
    }
    say(`device ${spare.name} of cluster ${c2.id} is back`);
  }

  // verify checks a pattern: fill writes it first (over the data set after the metadata region, nothing else's).
  await task('c2', 'fill', 'B', { seed: '7f3a09c1' });
  await task('c2', 'verify', 'B', { seed: '7f3a09c1' });
}
