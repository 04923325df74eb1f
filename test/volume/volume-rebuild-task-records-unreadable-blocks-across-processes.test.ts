/**
 * Bad blocks found by rebuild partitions on any controller process are recorded in the volume table, not
 * only counted: a raid5's surviving member returns EIO on a range (the fault driver, driven through its
 * control channel in every process that opens it), the rebuild task run by `blockrig controller run`
 * processes goes on past it, and its completion asks for the new member to be in sync with that range as a
 * bad block; the serving process applies it and `volume status` shows it (human and --json). A survivor
 * gone altogether (more failures than raid5 tolerates) fails the task with a status and reason.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { broadcastFaultCommand } from '../../drivers/fault-control-client.js';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { FAST_TIMING, cli, image, servedCaughtUp, taskOutcome } from './process-helpers.js';

const MiB = 1024 * 1024;
const MEMBER = 4 * MiB;
const CHUNK = 64 * 1024;
/** Member 2's unreadable range: two 4 KiB blocks inside row 21. */
const BAD = { offset: 21 * CHUNK + 8192, length: 8192 };





/** A raid5 over files whose member 2 is a fault device with a control folder; served; member 1 replaced. */
async function setUp(tag: string): Promise<{ dir: string; meta: string; control: string; fresh: string; processes: TestProcess[] }> {
  const dir = tempDir(`blockrig-vol-badblocks-${tag}-`);
  const meta = image(dir, 'meta.img', 48 * MiB);
  const control = join(dir, 'm2-control');
  cli(['meta', 'format', meta, '--controllers', '8', '--tasks', '4', '--max-chunks', '16', ...FAST_TIMING]);
  const members = [image(dir, 'm0.img', MEMBER), image(dir, 'm1.img', MEMBER), `fault:${image(dir, 'm2.img', MEMBER)}?fault-control=${control}`];
  cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', '--chunk', String(CHUNK), '--assume-clean', ...members.flatMap((m) => ['--member', m])]);
  const serve = startProcess(process.execPath, [CLI_PATH, 'volume', 'serve', 'v', '--meta', meta, '--listen', `unix:${join(dir, 'v.sock')}`, '--no-rebuild', '--poll-ms', '50', '--json']);
  await waitFor(() => serve.stdout().includes('"uri"'), 20_000, 'volume serve to listen');
  cli(['volume', 'fail', 'v', '--meta', meta, '--member', '1']);
  const fresh = image(dir, 'new.img', MEMBER);
  cli(['volume', 'replace', 'v', '--meta', meta, '--member', '1', '--with', fresh]);
  await servedCaughtUp(meta);
  const controllers = [0, 1].map(() => startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', meta, '--quiet']));
  return { dir, meta, control, fresh, processes: [serve, ...controllers] };
}

function submitRebuild(meta: string, fresh: string): string {
  const out = cli(['task', 'submit', 'volume-rebuild', '--meta', meta, '--target', fresh, '--offset', '0', '--length', String(MEMBER), '--partition-size', '512KiB', '--chunk-partitions', '1', '--param', 'volume=v', '--param', `meta=${meta}`, '--param', 'member=1', '--json']);
  return (JSON.parse(out) as { id: string }).id;
}


describe('rebuild tasks record unreadable blocks across controller processes', () => {
  it('raid5: EIO on a survivor range becomes a recorded bad block of the new member; status shows it', async () => {
    const { meta, control, fresh, processes } = await setUp('eio');
    await broadcastFaultCommand(control, { op: 'add', rule: { kind: 'error', ops: ['read'], offset: BAD.offset, length: BAD.length, errno: 'EIO' } });
    const id = submitRebuild(meta, fresh);
    const outcome = await taskOutcome(meta, id);
    expect(outcome.status).toBe('finished');
    expect(outcome.result).toMatchObject({ volume: 'v', member: 1, status: 'finished', failedPartitions: 0, unreadableRanges: 1, badBlocks: [BAD] });

    await servedCaughtUp(meta);
    const status = JSON.parse(cli(['volume', 'status', 'v', '--meta', meta, '--json'])) as { state: string; members: { state: string; badBlocks: { offset: number; length: number }[] }[] };
    expect(status.state).toBe('clean');
    expect(status.members[1]).toMatchObject({ state: 'in-sync', badBlocks: [BAD] });
    const human = cli(['volume', 'status', 'v', '--meta', meta]);
    expect(human).toContain('bad blocks');
    expect(human).toContain(String(BAD.offset));
    for (const p of processes) await stopProcess(p.child);
  }, 120_000);

  it('raid5: a survivor gone altogether fails the rebuild task with a status and the reason; the member stays rebuilding', async () => {
    const { meta, control, fresh, processes } = await setUp('gone');
    await broadcastFaultCommand(control, { op: 'offline', reason: 'test: pulled' });
    const id = submitRebuild(meta, fresh);
    const outcome = await taskOutcome(meta, id);
    expect(outcome.status).toBe('failed');
    expect(outcome.result).toMatchObject({ volume: 'v', member: 1, status: 'failed' });
    expect(outcome.result.failedPartitions).toBeGreaterThan(0);
    expect(String(outcome.result.reason)).toMatch(/member 2 is unavailable/);
    const status = JSON.parse(cli(['volume', 'status', 'v', '--meta', meta, '--json'])) as { members: { state: string }[] };
    expect(status.members[1]?.state).toBe('rebuilding');
    for (const p of processes) await stopProcess(p.child);
  }, 120_000);
});
