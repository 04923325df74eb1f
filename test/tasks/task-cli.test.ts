/** `blockrig task submit|list|show|cancel --meta` and `controller run`, as an operator uses them, on an image file. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../src/errors.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const FAST = ['--controllers', '6', '--tasks', '3', '--max-chunks', '16', '--heartbeat-ms', '100', '--io-timeout-ms', '500', '--renew-timeout-ms', '1000', '--host-dead-ms', '2200'];

interface Status {
  id: string;
  state: string;
  kind: string;
  counts: { ready: number; complete: number };
  partitions: { partition: number; state: string; owner: number | null }[];
  outcome: { status: string; result: Record<string, unknown> } | null;
}

describe('blockrig task on a metadata region', () => {
  const dir = tempDir();
  const img = join(dir, 'tasks.img');

  it('submits, lists, shows and cancels a task; bad input is named', () => {
    writeFileSync(img, Buffer.alloc(8 * 1024 * 1024));
    expect(runCli(['meta', 'format', img, ...FAST]).status).toBe(0);
    const sub = runCli(['task', 'submit', 'checksum', '--meta', img, '--partitions', '8', '--json']);
    expect(sub.status, sub.stderr).toBe(0);
    const id = (JSON.parse(sub.stdout) as Status).id;
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    const list = runCli(['task', 'list', '--meta', img, '--json']);
    expect((JSON.parse(list.stdout) as { tasks: Status[] }).tasks.map((t) => [t.id, t.state])).toEqual([[id, 'active']]);
    const show = JSON.parse(runCli(['task', 'show', id, '--meta', img, '--json']).stdout) as Status;
    expect(show.partitions).toHaveLength(8);
    expect(show.partitions.every((p) => p.state === 'READY' && p.owner === null)).toBe(true);
    const cancel = runCli(['task', 'cancel', id, '--meta', img]);
    expect(cancel.status, cancel.stderr).toBe(0);
    expect((JSON.parse(runCli(['task', 'show', id, '--meta', img, '--json']).stdout) as Status).state).toBe('cancelled');
    const again = runCli(['task', 'cancel', id, '--meta', img]);
    expect(again.status).toBe(ERROR_TABLE.BLOCKRIG_E_CONFLICT.exit);
    expect(again.stderr).toMatch(/already cancelled/);

    const unknown = runCli(['task', 'submit', 'shred', '--meta', img, '--partitions', '4']);
    expect(unknown.status).toBe(ERROR_TABLE.BLOCKRIG_E_INVALID_ARGUMENT.exit);
    expect(unknown.stderr).toMatch(/unknown task kind "shred"; known kinds: checksum, fill, verify/);
    const noSeed = runCli(['task', 'submit', 'verify', '--meta', img, '--partitions', '4']);
    expect(noSeed.status).toBe(ERROR_TABLE.BLOCKRIG_E_INVALID_ARGUMENT.exit);
    expect(noSeed.stderr).toMatch(/parameter seed/);
    const missing = runCli(['task', 'show', 'deadbeef', '--meta', img]);
    expect(missing.status).toBe(ERROR_TABLE.BLOCKRIG_E_NOT_FOUND.exit);
  });

  it('runs fill then verify with two controller processes; --wait --json prints the completion status', async () => {
    const controllers = [0, 1].map(() => startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', img, '--quiet']));
    try {
      const fill = runCli(['task', 'submit', 'fill', '--meta', img, '--partitions', '32', '--wait', '--json']);
      expect(fill.status, fill.stderr).toBe(0);
      const done = JSON.parse(fill.stdout) as Status & { completedHere: boolean };
      expect(done.state).toBe('finished');
      expect(done.completedHere).toBe(true);
      expect(done.counts.complete).toBe(32);
      const verify = runCli(['task', 'submit', 'verify', '--meta', img, '--partitions', '32', '--seed', done.id, '--wait', '--json']);
      expect(verify.status, verify.stderr).toBe(0);
      expect((JSON.parse(verify.stdout) as Status).outcome?.result.mismatches).toBe(0);
      const wrong = runCli(['task', 'submit', 'verify', '--meta', img, '--partitions', '32', '--seed', '1', '--wait', '--json']);
      expect(wrong.status).toBe(0);
      expect(Number((JSON.parse(wrong.stdout) as Status).outcome?.result.mismatches)).toBeGreaterThan(0);
    } finally {
      for (const c of controllers) await stopProcess(c.child);
    }
    for (const c of controllers) expect(await c.exited).toBe(0);
    expect(runCli(['meta', 'check', img]).status).toBe(0);
  }, 120_000);
});
