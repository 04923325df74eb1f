/**
 * Proactive replacement with real processes: `blockrig volume copy` records the copy in the volume table
 * and submits a volume-copy task that two `blockrig controller run` processes carry out while nbdcopy
 * rewrites the whole volume through `blockrig volume serve`; then the copy holds member 1's slot in sync,
 * and with another member failed the volume reads back what was written during the copy. Refusals name
 * the problem.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { patternBytes } from './helpers.js';
import { FAST_TIMING, cli, image, nbdcopy, servedCaughtUp, taskOutcome } from './process-helpers.js';

const MiB = 1024 * 1024;
const MEMBER = 8 * MiB;





describe('volume copy', () => {
  it('raid5: a volume-copy task on 2 controller processes copies member 1 while nbdcopy rewrites the volume; the copy takes the slot', async () => {
    requireCommand('nbdcopy', 'libnbd-bin');
    const dir = tempDir('blockrig-vol-copy-');
    const meta = image(dir, 'meta.img', 48 * MiB);
    cli(['meta', 'format', meta, '--controllers', '8', '--tasks', '4', '--max-chunks', '16', ...FAST_TIMING]);
    const members = [0, 1, 2].map((i) => image(dir, `m${i}.img`, MEMBER));
    cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', '--chunk', '64KiB', '--assume-clean', ...members.flatMap((m) => ['--member', m])]);
    const serve = startProcess(process.execPath, [CLI_PATH, 'volume', 'serve', 'v', '--meta', meta, '--listen', `unix:${join(dir, 'v.sock')}`, '--no-rebuild', '--poll-ms', '50', '--json']);
    await waitFor(() => serve.stdout().includes('"uri"'), 20_000, 'volume serve to listen');
    const { uri, size } = JSON.parse(serve.stdout()) as { uri: string; size: number };
    writeFileSync(join(dir, 'a.bin'), patternBytes(size, 61));
    nbdcopy(join(dir, 'a.bin'), uri);
    const controllers = [0, 1].map(() => startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', meta, '--quiet']));

    const fresh = image(dir, 'copy.img', MEMBER);
    const started = JSON.parse(cli(['volume', 'copy', 'v', '--meta', meta, '--member', '1', '--to', fresh, '--partition-size', '1MiB', '--rate-limit', '2MiB', '--json'])) as { id: string; partitions: number };
    expect(started.partitions).toBe(8);
    const during = JSON.parse(cli(['volume', 'status', 'v', '--meta', meta, '--json'])) as { members: { state: string; copyTo?: string }[] };
    expect(during.members[1]).toMatchObject({ state: 'in-sync', copyTo: fresh });
    // The whole volume is rewritten while the copy runs: the serving process writes both devices.
    const model = patternBytes(size, 62);
    writeFileSync(join(dir, 'b.bin'), model);
    nbdcopy(join(dir, 'b.bin'), uri);

    const outcome = await taskOutcome(meta, started.id);
    expect(outcome.result).toMatchObject({ volume: 'v', member: 1, to: fresh, status: 'finished', failedPartitions: 0 });
    await servedCaughtUp(meta);
    const after = JSON.parse(cli(['volume', 'status', 'v', '--meta', meta, '--json'])) as { state: string; members: { uri: string; state: string; copyTo?: string }[] };
    expect(after.state).toBe('clean');
    expect(after.members.map((m) => m.uri)).toEqual([members[0], fresh, members[2]]);
    expect(after.members[1]?.copyTo).toBeUndefined();

    // Only the copy can supply member 1's share now.
    cli(['volume', 'fail', 'v', '--meta', meta, '--member', '0']);
    await servedCaughtUp(meta);
    nbdcopy(uri, join(dir, 'read.bin'));
    expect(readFileSync(join(dir, 'read.bin')).equals(model)).toBe(true);
    for (const p of [...controllers, serve]) await stopProcess(p.child);
  }, 120_000);

  it('refuses a failed member, a device already in the volume, and an unknown member', () => {
    const dir = tempDir('blockrig-vol-copy-refusals-');
    const meta = image(dir, 'meta.img', 48 * MiB);
    cli(['meta', 'format', meta, '--controllers', '4', '--tasks', '2', '--max-chunks', '8']);
    const members = [0, 1, 2].map((i) => image(dir, `m${i}.img`, MEMBER));
    cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', '--assume-clean', ...members.flatMap((m) => ['--member', m])]);
    const fresh = image(dir, 'copy.img', MEMBER);
    const inUse = runCli(['volume', 'copy', 'v', '--meta', meta, '--member', '1', '--to', members[2] ?? '']);
    expect(inUse.status).toBe(11);
    expect(inUse.stderr).toContain('already part of volume v');
    const unknown = runCli(['volume', 'copy', 'v', '--meta', meta, '--member', '7', '--to', fresh]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('has no member 7');
    cli(['volume', 'fail', 'v', '--meta', meta, '--member', '1']);
    const failed = runCli(['volume', 'copy', 'v', '--meta', meta, '--member', '1', '--to', fresh]);
    expect(failed.status).toBe(11);
    expect(failed.stderr).toContain('only an in-sync member can be copied');
  });
});
