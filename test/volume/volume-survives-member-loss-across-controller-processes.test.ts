/**
 * The proof with real processes only: a metadata region formatted by `blockrig meta format`, a
 * volume made by `blockrig volume create` and exported by `blockrig volume serve` (NBD), known data written
 * through the export by nbdcopy, a member failed (loop members: `volume fail`; nbdkit members: nbdkit's
 * error filter switched on, so the serving process fails it on EIO), everything read back through the
 * degraded volume, `volume replace`, the rebuild task run by 3 `blockrig controller run` processes while one
 * is SIGKILLed holding a claim (another process must claim its chunk), then a scrub task with 0
 * mismatches, and with other members failed as far as the level allows, the data read back identical.
 * Levels: raid5 and raid6 on loop devices, raid1 and raid5 on nbdkit memory exports.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import { TaskState, isTerminal } from '../../src/metadata/task-record.js';
import { findTask, parseTaskId } from '../../src/tasks/progress.js';
import { startNbdkit } from '../nbd/peers.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { patternBytes } from './helpers.js';
import { FAST_TIMING, cli, image, nbdcopy, servedCaughtUp, storedVolume } from './process-helpers.js';

const MiB = 1024 * 1024;
const MEMBER = 16 * MiB;
const CHUNK = 64 * 1024;

type Level = 'raid1' | 'raid5' | 'raid6';
interface Case {
  level: Level;
  members: number;
  kind: 'loop' | 'nbdkit';
}
const CASES: Case[] = [
  { level: 'raid5', members: 3, kind: 'loop' },
  { level: 'raid6', members: 4, kind: 'loop' },
  { level: 'raid1', members: 3, kind: 'nbdkit' },
  { level: 'raid5', members: 3, kind: 'nbdkit' },
];

const attached: string[] = [];
afterAll(() => {
  for (const dev of attached) execFileSync('losetup', ['-d', dev]);
});


/** A member device: a loop device over a fresh image, or an nbdkit memory export behind the error filter. */
async function member(c: Case, dir: string, tag: string): Promise<{ uri: string; fail: () => void }> {
  if (c.kind === 'loop') {
    const dev = execFileSync('losetup', ['-f', '--show', image(dir, `${tag}.img`, MEMBER)], { encoding: 'utf8' }).trim();
    attached.push(dev);
    return { uri: dev, fail: () => expect(runCli(['volume', 'fail', 'v', '--meta', join(dir, 'meta.img'), '--member', tag.slice(1)]).status).toBe(0) };
  }
  const errorFile = join(dir, `inject-${tag}`);
  const peer = await startNbdkit(dir, tag, ['memory', `size=${MEMBER}`, 'error-rate=1', `error-file=${errorFile}`], ['--filter=error']);
  return { uri: peer.uri, fail: () => writeFileSync(errorFile, '') };
}





interface Audit {
  type: string;
  taskId: string;
  chunk?: number;
  partition?: number;
  pid: number;
  at: number;
}
function audit(file: string): Audit[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Audit) : [];
}
/** Chunks of the task claimed and not released in one audit file. */
function openClaims(lines: Audit[], taskId: string): number[] {
  const open = new Set<number>();
  for (const l of lines) {
    if (l.taskId !== taskId || l.chunk === undefined) continue;
    if (l.type === 'claimed') open.add(l.chunk);
    if (l.type === 'released') open.delete(l.chunk);
  }
  return [...open];
}

describe('a volume survives member loss; its rebuild survives a controller kill -9 (real processes)', () => {
  for (const c of CASES) {
    it(`${c.level} on ${c.kind} members: write over NBD, fail, degraded read, replace, rebuild by 3 controllers (one killed), scrub 0 mismatches, data identical`, async () => {
      requireCommand('nbdcopy', 'libnbd-bin');
      if (c.kind === 'loop') {
        requireRoot('attaching loop devices');
        requireCommand('losetup', 'mount');
      } else requireCommand('nbdkit', 'nbdkit');
      const dir = tempDir(`blockrig-vol-procs-${c.level}-${c.kind}-`);
      const meta = image(dir, 'meta.img', 64 * MiB);
      cli(['meta', 'format', meta, '--controllers', '8', '--tasks', '4', '--max-chunks', '32', ...FAST_TIMING]);
      const members = await Promise.all(Array.from({ length: c.members }, (_, i) => member(c, dir, `m${i}`)));
      cli(['volume', 'create', 'v', '--meta', meta, '--level', c.level, '--chunk', String(CHUNK), '--assume-clean', ...members.flatMap((m) => ['--member', m.uri])]);

      const serve: TestProcess = startProcess(process.execPath, [CLI_PATH, 'volume', 'serve', 'v', '--meta', meta, '--listen', `unix:${join(dir, 'v.sock')}`, '--no-rebuild', '--poll-ms', '50', '--json']);
      await waitFor(() => serve.stdout().includes('"uri"'), 20_000, 'volume serve to listen').catch((err: unknown) => {
        throw new Error(`${String(err)}: ${serve.stderr()}`);
      });
      const { uri, size } = JSON.parse(serve.stdout()) as { uri: string; size: number };
      const model = patternBytes(size, c.members * 7 + c.level.length);
      writeFileSync(join(dir, 'model.bin'), model);
      nbdcopy(join(dir, 'model.bin'), uri);

      // Member 1 fails; everything reads back through the degraded volume.
      members[1]?.fail();
      if (c.kind === 'loop') await servedCaughtUp(meta);
      nbdcopy(uri, join(dir, 'degraded.bin'));
      expect(readFileSync(join(dir, 'degraded.bin')).equals(model)).toBe(true);
      await waitFor(async () => (await storedVolume(meta)).entry.members[1]?.state === 'failed', 20_000, 'member 1 to be recorded failed');

      const fresh = await member(c, dir, 'new');
      cli(['volume', 'replace', 'v', '--meta', meta, '--member', '1', '--with', fresh.uri]);
      await servedCaughtUp(meta);

      const audits = [0, 1, 2].map((i) => join(dir, `audit-${i}.jsonl`));
      const controllers = audits.map((a) => startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', meta, '--audit', a, '--quiet']));
      const rowBytes = Math.floor(MEMBER / CHUNK) * CHUNK;
      const submitted = JSON.parse(
        cli(['task', 'submit', 'volume-rebuild', '--meta', meta, '--target', fresh.uri, '--offset', '0', '--length', String(rowBytes), '--partition-size', '1MiB', '--chunk-partitions', '2',
          '--param', 'volume=v', '--param', `meta=${meta}`, '--param', 'member=1', '--param', 'stepRows=2', '--param', 'rateLimit=2MiB', '--json']),
      ) as { id: string };
      const taskId = parseTaskId(submitted.id);

      // SIGKILL the first controller seen holding a claim on the rebuild with a partition under way.
      let victim: { index: number; chunks: number[]; pid: number; claimedAt: number } | undefined;
      await waitFor(() => {
        for (const [index, file] of audits.entries()) {
          const lines = audit(file);
          const chunks = openClaims(lines, submitted.id);
          const pid = controllers[index]?.child.pid;
          if (chunks.length > 0 && lines.at(-1)?.type === 'partition-start' && pid !== undefined) {
            victim = { index, chunks, pid, claimedAt: Math.max(...lines.filter((l) => l.type === 'claimed').map((l) => l.at)) };
            return true;
          }
        }
        return false;
      }, 60_000, 'a controller holding a rebuild chunk', 20);
      const killed = victim as { index: number; chunks: number[]; pid: number; claimedAt: number };
      const killedAt = Date.now();
      controllers[killed.index]?.child.kill('SIGKILL');
      await controllers[killed.index]?.exited;

      const region = await MetadataRegion.open(await openDevice(meta, { readOnly: true }));
      await waitFor(async () => isTerminal((await findTask(region, taskId)).task.state), 90_000, 'the rebuild task to end', 250);
      const done = (await findTask(region, taskId)).task;
      await region.device.close();
      expect(done.state).toBe(TaskState.Finished);
      expect(done.outcome?.result).toMatchObject({ volume: 'v', member: 1, failedPartitions: 0, unreadableRanges: 0 });
      // Another process claimed the chunk the killed one held, after it did (audit times share the host's monotonic clock).
      const others = audits.filter((_, i) => i !== killed.index).flatMap(audit);
      const reclaimed = killed.chunks.filter((chunk) => others.some((l) => l.taskId === submitted.id && l.type === 'claimed' && l.chunk === chunk && l.at > killed.claimedAt));
      expect(reclaimed, `chunks ${killed.chunks.join(',')} of killed pid ${killed.pid} (killed ${Date.now() - killedAt} ms ago)`).toEqual(killed.chunks);

      await servedCaughtUp(meta);
      expect((await storedVolume(meta)).entry.members.map((m) => m.state)).toEqual(Array(c.members).fill('in-sync'));
      const scrub = JSON.parse(
        cli(['task', 'submit', 'volume-scrub', '--meta', meta, '--target', members[0]?.uri ?? '', '--offset', '0', '--length', String(rowBytes), '--partition-size', '2MiB', '--param', 'volume=v', '--param', `meta=${meta}`, '--wait', '--json'], 120_000),
      ) as { state: string; outcome: { result: Record<string, unknown> } };
      expect(scrub.state).toBe('finished');
      expect(scrub.outcome.result).toMatchObject({ mismatchSectors: 0, failedPartitions: 0 });

      // Lose the other members as far as the level allows: the rebuilt member must carry its share.
      const tolerance = c.level === 'raid1' ? c.members - 1 : c.level === 'raid5' ? 1 : 2;
      for (const index of [0, 2, 3].slice(0, tolerance)) cli(['volume', 'fail', 'v', '--meta', meta, '--member', String(index)]);
      await servedCaughtUp(meta);
      nbdcopy(uri, join(dir, 'after.bin'));
      expect(readFileSync(join(dir, 'after.bin')).equals(model)).toBe(true);

      for (const p of [...controllers, serve]) await stopProcess(p.child);
    }, 180_000);
  }
});
