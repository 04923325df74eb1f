/**
 * The volume CLI end to end, as real processes over file images: create, serve over NBD, fail members,
 * replace them while fio writes with crc32c verification (the serving process rebuilds online), scrub with
 * 0 mismatches, then fail other members and have fio verify everything it wrote through the degraded volume.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const MiB = 1024 * 1024;
const MEMBER = 24 * MiB;

interface Case {
  level: 'raid1' | 'raid5' | 'raid6';
  members: number;
  /** Members failed and replaced while fio writes. */
  replaced: number[];
  /** Members failed afterwards, while fio verifies. */
  failedAfter: number[];
}

const CASES: Case[] = [
  { level: 'raid1', members: 3, replaced: [1], failedAfter: [0, 2] },
  { level: 'raid5', members: 3, replaced: [1], failedAfter: [0] },
  { level: 'raid6', members: 4, replaced: [0, 3], failedAfter: [1, 2] },
];

function cli(args: string[]): { status: number; json: Record<string, unknown>; stderr: string } {
  const r = runCli([...args, '--json']);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = { raw: r.stdout };
  }
  return { status: r.status, json, stderr: r.stderr };
}

/** Runs fio's nbd engine; returns its exit status and output. */
function fio(uri: string, args: string[], cwd: string): { status: number; output: string } {
  // cwd: fio leaves its verify state files (local-NAME-0-verify.state) in the working directory.
  const r = spawnSync('fio', ['--ioengine=nbd', `--uri=${uri}`, '--verify=crc32c', '--bs=4k', '--iodepth=8', '--randseed=42', ...args], { encoding: 'utf8', timeout: 120_000, cwd });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

describe('blockrig volume (CLI, NBD, fio)', () => {
  for (const c of CASES) {
    it(`${c.level}: online rebuild under fio verify=crc32c, scrub 0 mismatches, degraded read-back verified`, async () => {
      requireCommand('fio', 'fio');
      const dir = tempDir(`blockrig-vol-${c.level}-`);
      const meta = join(dir, 'meta.img');
      truncateSync(writeFileAndReturn(meta), 4 * MiB);
      const members = Array.from({ length: c.members }, (_, i) => join(dir, `m${i}.img`));
      // Members start with different random junk: create must initialize the redundancy.
      for (const m of members) writeFileSync(m, randomBytes(MEMBER));
      const created = cli(['volume', 'create', 'v', '--meta', meta, '--level', c.level, '--chunk', '64KiB', ...members.flatMap((m) => ['--member', m])]);
      expect(created.status, created.stderr).toBe(0);
      expect(created.json).toMatchObject({ name: 'v', level: c.level, state: 'clean' });

      const serve = startProcess(process.execPath, [CLI_PATH, 'volume', 'serve', 'v', '--meta', meta, '--listen', '127.0.0.1:0', '--poll-ms', '50', '--json']);
      await waitFor(() => serve.stdout().includes('"uri"'), 15_000, 'volume serve to listen');
      const uri = (JSON.parse(serve.stdout()) as { uri: string }).uri;
      const size = (JSON.parse(serve.stdout()) as { size: number }).size;
      const half = Math.floor(size / 2 / MiB) * MiB;
      const first = ['--name=first', '--rw=write', `--size=${half}`, '--offset=0'];
      const second = ['--name=second', '--rw=randwrite', `--size=${half}`, `--offset=${half}`];

      expect(fio(uri, [...first, '--do_verify=1'], dir).status).toBe(0);
      for (const i of c.replaced) expect(cli(['volume', 'fail', 'v', '--meta', meta, '--member', String(i)]).status).toBe(0);
      // fio writes with inline verification while the replacements are made, picked up and rebuilt online.
      const during = startProcess('fio', ['--ioengine=nbd', `--uri=${uri}`, '--verify=crc32c', '--bs=4k', '--iodepth=8', '--randseed=42', ...second, '--do_verify=1'], { cwd: dir });
      for (const i of c.replaced) {
        const fresh = join(dir, `new${i}.img`);
        truncateSync(writeFileAndReturn(fresh), MEMBER);
        expect(cli(['volume', 'replace', 'v', '--meta', meta, '--member', String(i), '--with', fresh]).status).toBe(0);
      }
      expect(await during.exited, during.stdout() + during.stderr()).toBe(0);
      await waitFor(() => cli(['volume', 'status', 'v', '--meta', meta]).json.state === 'clean', 60_000, 'the online rebuild to finish');
      await waitFor(() => (serve.stderr().match(/ rebuilt/g) ?? []).length === c.replaced.length, 10_000, 'the server to report the rebuild');

      const scrub = cli(['volume', 'scrub', 'v', '--meta', meta]);
      expect(scrub.status, scrub.stderr).toBe(0);
      expect(scrub.json).toMatchObject({ mismatches: [], mismatchBytes: 0, rowsSkipped: 0 });

      for (const i of c.failedAfter) expect(cli(['volume', 'fail', 'v', '--meta', meta, '--member', String(i)]).status).toBe(0);
      await waitFor(() => serve.stderr().split('failed by the volume table').length - 1 >= c.replaced.length + c.failedAfter.length, 10_000, 'the server to drop the failed members');
      for (const job of [first, second]) {
        const check = fio(uri, [...job, '--verify_only'], dir);
        expect(check.status, check.output).toBe(0);
        expect(check.output).not.toMatch(/verify: bad/);
      }
      await stopProcess(serve.child);
      expect(await serve.exited).toBe(0);
    });
  }

  it('raid5: a server killed with SIGKILL mid-rebuild resumes from the recorded progress, with rate and ETA in status', async () => {
    requireCommand('fio', 'fio');
    const dir = tempDir('blockrig-vol-kill-');
    const meta = join(dir, 'meta.img');
    truncateSync(writeFileAndReturn(meta), 4 * MiB);
    const members = [0, 1, 2].map((i) => join(dir, `m${i}.img`));
    for (const m of members) truncateSync(writeFileAndReturn(m), MEMBER);
    expect(cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', '--assume-clean', ...members.flatMap((m) => ['--member', m])]).status).toBe(0);
    const serveArgs = [CLI_PATH, 'volume', 'serve', 'v', '--meta', meta, '--listen', '127.0.0.1:0', '--poll-ms', '50', '--rebuild-rate', '8MiB', '--json'];
    let serve = startProcess(process.execPath, serveArgs);
    await waitFor(() => serve.stdout().includes('"uri"'), 15_000, 'volume serve to listen');
    let uri = (JSON.parse(serve.stdout()) as { uri: string }).uri;
    const size = (JSON.parse(serve.stdout()) as { size: number }).size;
    const job = ['--name=all', '--rw=write', `--size=${size}`, '--offset=0'];
    expect(fio(uri, [...job, '--do_verify=1'], dir).status).toBe(0);
    expect(cli(['volume', 'fail', 'v', '--meta', meta, '--member', '2']).status).toBe(0);
    const fresh = join(dir, 'new.img');
    truncateSync(writeFileAndReturn(fresh), MEMBER);
    expect(cli(['volume', 'replace', 'v', '--meta', meta, '--member', '2', '--with', fresh]).status).toBe(0);

    type Progress = { percent: number | null; rate: number | null; etaSeconds: number | null };
    const progress = (): Progress | undefined => (cli(['volume', 'status', 'v', '--meta', meta]).json.progress as Progress[] | undefined)?.[0];
    await waitFor(() => (progress()?.percent ?? 0) > 10, 30_000, 'the rebuild to pass 10%');
    const before = progress() as Progress;
    expect(before.rate).toBeGreaterThan(0);
    expect(before.etaSeconds).toBeGreaterThan(0);
    serve.child.kill('SIGKILL');
    await serve.exited;
    const recorded = progress() as Progress;
    expect(recorded.percent).toBeLessThan(100);

    serve = startProcess(process.execPath, serveArgs);
    await waitFor(() => serve.stdout().includes('"uri"'), 15_000, 'volume serve to listen again');
    uri = (JSON.parse(serve.stdout()) as { uri: string }).uri;
    // Progress never goes back: the new server starts from the rows the killed one recorded.
    expect(progress()?.percent ?? 100).toBeGreaterThanOrEqual(recorded.percent ?? 0);
    await waitFor(() => cli(['volume', 'status', 'v', '--meta', meta]).json.state === 'clean', 60_000, 'the resumed rebuild to finish');
    expect(cli(['volume', 'scrub', 'v', '--meta', meta]).json).toMatchObject({ mismatches: [], rowsSkipped: 0 });
    expect(cli(['volume', 'fail', 'v', '--meta', meta, '--member', '0']).status).toBe(0);
    await waitFor(() => serve.stderr().includes('member 0 failed by the volume table'), 10_000, 'the server to drop member 0');
    const check = fio(uri, [...job, '--verify_only'], dir);
    expect(check.status, check.output).toBe(0);
    await stopProcess(serve.child);
  });

  it('maps refusals to exit statuses and names the field', () => {
    const dir = tempDir('blockrig-vol-err-');
    const meta = join(dir, 'meta.img');
    truncateSync(writeFileAndReturn(meta), 4 * MiB);
    const members = [0, 1, 2].map((i) => join(dir, `m${i}.img`));
    for (const m of members) truncateSync(writeFileAndReturn(m), 4 * MiB);
    expect(cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid7', ...members.flatMap((m) => ['--member', m])]).status).toBe(2);
    expect(cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', '--assume-clean', ...members.flatMap((m) => ['--member', m])]).status).toBe(0);
    expect(cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid5', ...members.flatMap((m) => ['--member', m])]).status).toBe(11);
    expect(cli(['volume', 'status', 'nope', '--meta', meta]).status).toBe(3);
    expect(cli(['volume', 'fail', 'v', '--meta', meta, '--member', '0']).status).toBe(0);
    const second = cli(['volume', 'fail', 'v', '--meta', meta, '--member', '1']);
    expect(second.status).toBe(11);
    expect(second.json).toMatchObject({ error: { code: 'BLOCKRIG_E_CONFLICT' } });
    const bad = cli(['volume', 'fail', 'v', '--meta', meta, '--member', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.json).toMatchObject({ error: { details: { field: 'member' } } });
    expect(cli(['volume', 'replace', 'v', '--meta', meta, '--member', '1', '--with', members[0] as string]).status).toBe(11);
    const status = cli(['volume', 'status', 'v', '--meta', meta]);
    expect(status.json).toMatchObject({ state: 'degraded', members: [{ state: 'failed' }, { state: 'in-sync' }, { state: 'in-sync' }] });
  });
});

function writeFileAndReturn(path: string): string {
  writeFileSync(path, '');
  return path;
}
