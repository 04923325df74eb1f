/**
 * The online-rebuild proof: `blockrig volume serve` exports a raid5 volume over NBD while fio writes
 * to it with verify=crc32c; a replaced member is rebuilt by a volume-rebuild task split across 3
 * controllers (one stopped part way); a scrub task then finds 0 mismatched sectors, and with another member
 * failed fio verifies everything it wrote.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import { submitTask, waitForTask } from '../../src/tasks/lifecycle.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { startControllerTrio } from './helpers.js';

const MiB = 1024 * 1024;
const MEMBER = 24 * MiB;
const TIMING = { heartbeatIntervalMs: 500, ioTimeoutMs: 2000, renewTimeoutMs: 8000, hostDeadMs: 14_000 };

function file(dir: string, name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

function fio(uri: string, args: string[], cwd: string): { status: number; output: string } {
  const r = spawnSync('fio', ['--ioengine=nbd', `--uri=${uri}`, '--verify=crc32c', '--bs=4k', '--iodepth=8', '--randseed=7', ...args], { encoding: 'utf8', timeout: 120_000, cwd });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

describe('online rebuild across controllers under fio', () => {
  it('raid5 over NBD: fio verify=crc32c during a 3-controller rebuild task, scrub task 0 mismatches, degraded verify', async () => {
    requireCommand('fio', 'fio');
    const dir = tempDir('blockrig-vol-task-fio-');
    const meta = file(dir, 'meta.img', 64 * MiB);
    await formatRegion(await openDevice(meta), { geometry: { hostSlots: 8, taskSlots: 4, maxChunksPerTask: 16 }, timing: TIMING });
    const members = [0, 1, 2].map((i) => file(dir, `m${i}.img`, MEMBER));
    const created = runCli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', '--assume-clean', ...members.flatMap((m) => ['--member', m]), '--json']);
    expect(created.status, created.stderr).toBe(0);

    const serve = startProcess(process.execPath, [CLI_PATH, 'volume', 'serve', 'v', '--meta', meta, '--listen', '127.0.0.1:0', '--no-rebuild', '--poll-ms', '50', '--json']);
    await waitFor(() => serve.stdout().includes('"uri"'), 15_000, 'volume serve to listen');
    const { uri, size } = JSON.parse(serve.stdout()) as { uri: string; size: number };
    const half = size / 2;
    const first = ['--name=first', '--rw=write', `--size=${half}`, '--offset=0'];
    const second = ['--name=second', '--rw=randwrite', `--size=${half}`, `--offset=${half}`];
    expect(fio(uri, [...first, '--do_verify=1'], dir).status).toBe(0);

    expect(runCli(['volume', 'fail', 'v', '--meta', meta, '--member', '1']).status).toBe(0);
    const fresh = file(dir, 'new.img', MEMBER);
    expect(runCli(['volume', 'replace', 'v', '--meta', meta, '--member', '1', '--with', fresh]).status).toBe(0);

    // Controller 0 is stopped after its third partition: the others must take the rest.
    const { kinds, completed, session, stop } = await startControllerTrio(meta);
    // The volume kinds come with the default registry, as every controller process builds it.
    expect(kinds.has('volume-rebuild') && kinds.has('volume-scrub') && kinds.has('volume-initialize')).toBe(true);

    const writing = startProcess('fio', ['--ioengine=nbd', `--uri=${uri}`, '--verify=crc32c', '--bs=4k', '--iodepth=8', '--randseed=7', ...second, '--do_verify=1'], { cwd: dir });
    const rowBytes = Math.floor(MEMBER / (64 * 1024)) * 64 * 1024;
    const task = await submitTask(session, kinds, { kind: 'volume-rebuild', target: fresh, offset: 0, length: rowBytes, partitionSize: MiB, chunkPartitions: 2, params: { volume: 'v', meta, member: 1, stepRows: 4 }, initiator: true });
    const done = await waitForTask(session, kinds, task.taskId);
    expect(done.outcome?.result).toMatchObject({ member: 1, failedPartitions: 0, unreadableRanges: 0 });
    expect(completed.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(await writing.exited, writing.stdout() + writing.stderr()).toBe(0);
    await waitFor(() => serve.stderr().includes('member 1 marked in sync'), 10_000, 'the server to take the rebuilt member in sync');

    const scrub = await submitTask(session, kinds, { kind: 'volume-scrub', target: members[0], offset: 0, length: rowBytes, partitionSize: 4 * MiB, params: { volume: 'v', meta }, initiator: true });
    expect((await waitForTask(session, kinds, scrub.taskId)).outcome?.result).toMatchObject({ mismatchSectors: 0, failedPartitions: 0 });

    expect(runCli(['volume', 'fail', 'v', '--meta', meta, '--member', '0']).status).toBe(0);
    await waitFor(() => serve.stderr().includes('member 0 failed by the volume table'), 10_000, 'the server to drop member 0');
    for (const job of [first, second]) {
      const check = fio(uri, [...job, '--verify_only'], dir);
      expect(check.status, check.output).toBe(0);
    }
    await stop();
    await stopProcess(serve.child);
  });
});
