/**
 * `npm start -- --demo`: a short scenario to watch in the dashboard while the rig runs, played through the
 * servers as an operator would (every step is something the dashboard and the CLI can do too):
 *   1. member 1 of the raid5 on cluster c1 fails (through server A); the spare takes its slot;
 *   2. a `volume-rebuild` task rebuilds the spare, its partitions shared by c1's controllers, while the
 *      NBD export keeps serving; the volume is clean again;
 *   3. a `volume-scrub` task (check) runs over the volume through server B and reports its mismatches;
 *   4. a device of cluster c2 goes missing (its image is moved away) and comes back.
 */
import { renameSync } from 'node:fs';
import { z } from 'zod';
import { ApiClient } from '../cli/client/api-client.js';
import { BlockrigError, ErrorCode } from '../errors.js';
import { ClusterViewSchema, FINAL_TASK_STATES, partitionCells, TaskRecordSchema, taskProgress, VolumeViewSchema, type TaskKind, type TaskRecord, type VolumeView } from '../wire/index.js';
import type { EmbeddedRig, RigReady } from './embedded-rig.js';

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('aborted'))), { once: true });
  });
}

/** "d0.img:in-sync d3.img:rebuilding ..." */
function memberStates(view: VolumeView): string {
  return view.members.map((m) => `${m.uri.replace(/^.*\//, '')}:${m.state}`).join(' ');
}

/** "5/16 partitions COMPLETE" */
function partitionsDone(task: TaskRecord): string {
  const cells = partitionCells(taskProgress(task));
  return cells.length === 0 ? 'no partitions reported yet' : `${cells.filter((c) => c.state === 'COMPLETE').length}/${cells.length} partitions COMPLETE`;
}

/** Plays the scenario; rejects when aborted (Ctrl-C) or when a step fails. */
export async function playDemo(rig: EmbeddedRig, ready: RigReady, say: (line: string) => void, signal: AbortSignal): Promise<void> {
  const plan = rig.plan;
  if (!plan) throw new BlockrigError(ErrorCode.Internal, 'the rig has not started');
  const via = (server: string): ApiClient => {
    const url = ready.dashboards.find((d) => d.server === server)?.url;
    return url === undefined ? rig.client() : new ApiClient({ servers: [url], user: plan.user, password: plan.password });
  };
  const volumeOf = async (client: ApiClient, cluster: string, name: string): Promise<VolumeView | undefined> =>
    (await client.get(ClusterViewSchema, `/api/v1/clusters/${cluster}`)).volumes.find((v) => v.name === name);
  const waitForVolume = async (client: ApiClient, cluster: string, name: string, what: string, done: (v: VolumeView) => boolean): Promise<VolumeView> => {
    for (let i = 0; i < 240; i++) {
      const view = await volumeOf(client, cluster, name);
      if (view !== undefined && done(view)) return view;
      await sleep(250, signal);
    }
    throw new BlockrigError(ErrorCode.Timeout, `volume ${name} did not become ${what} within a minute: see the logs in ${plan.dir}`);
  };
  const task = async (server: string, cluster: string, kind: TaskKind, args: Record<string, string | number | boolean>): Promise<TaskRecord> => {
    const client = via(server);
    let t = await client.post(TaskRecordSchema, '/api/v1/tasks', { cluster, kind, args });
    say(`${kind} task ${t.id} issued on cluster ${cluster} through server ${server}; watch its partitions in the Tasks panel`);
    let last = '';
    while (!FINAL_TASK_STATES.includes(t.state)) {
      await sleep(500, signal);
      t = await client.get(TaskRecordSchema, `/api/v1/tasks/${t.id}`);
      const progress = `${t.state}, ${partitionsDone(t)}`;
      if (progress !== last && t.state === 'running') say(`task ${t.id}: ${progress}`);
      last = progress;
    }
    say(`task ${t.id} ${t.state}, ${partitionsDone(t)}${t.error === null ? '' : `: ${t.error}`}`);
    if (t.state !== 'succeeded') throw new BlockrigError(ErrorCode.TaskFailed, `the ${kind} task ${t.id} ${t.state}: ${t.error ?? 'see the task in the dashboard'}`);
    return t;
  };

  const c1 = plan.clusters[0];
  if (!c1) throw new BlockrigError(ErrorCode.Internal, 'the rig has no cluster c1');
  const v5 = c1.volume.name;
  const a = via('A');
  await sleep(1500, signal);
  say(`member 1 of volume ${v5} fails (through server A, as the dashboard's Fail button does); the spare takes its slot`);
  await a.post(VolumeViewSchema, `/api/v1/clusters/${c1.id}/volumes/${v5}/fail`, { member: 1 });
  const degraded = await waitForVolume(a, c1.id, v5, 'rebuilding', (v) => v.members[1]?.state === 'rebuilding');
  say(`volume ${v5}: ${degraded.state}, members ${memberStates(degraded)}`);

  say(`rebuilding the spare with a volume-rebuild task: ${c1.controllers} controllers share its partitions while the NBD export keeps serving`);
  await task('A', c1.id, 'volume-rebuild', { volume: v5, partitions: 16 });
  const clean = await waitForVolume(a, c1.id, v5, 'clean', (v) => v.state === 'clean');
  say(`volume ${v5}: ${clean.state}, members ${memberStates(clean)}`);

  say(`scrubbing volume ${v5} (check) through server B`);
  const scrub = await task('B', c1.id, 'volume-scrub', { volume: v5, partitions: 16 });
  const result = z.object({ outcome: z.object({ result: z.object({ mismatchSectors: z.number() }) }) }).safeParse(scrub.result);
  say(`scrub of ${v5}: ${result.success ? result.data.outcome.result.mismatchSectors : '?'} mismatched sectors`);

  const c2 = plan.clusters[1];
  const spare = c2?.devices[c2.devices.length - 1];
  if (c2 && spare) {
    say(`device ${spare.name} of cluster ${c2.id} goes missing (its image is moved away); the Devices panel shows it unavailable`);
    renameSync(spare.path, `${spare.path}.pulled`);
    try {
      for (let i = 0; i < 20; i++) {
        await sleep(500, signal);
        const view = await a.get(ClusterViewSchema, `/api/v1/clusters/${c2.id}`);
        if (view.devices.find((d) => d.name === spare.name)?.available === false) break;
      }
      await sleep(3000, signal);
    } finally {
      renameSync(`${spare.path}.pulled`, spare.path);
    }
    say(`device ${spare.name} of cluster ${c2.id} is back`);
  }
}
