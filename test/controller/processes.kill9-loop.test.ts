/**
 * Real processes on a loop device: four `blockrig controller run` processes fill 4,096 partitions while
 * the test kills random controllers with SIGKILL at random times and starts new ones. Afterwards a verify
 * task finds zero mismatches, the audit logs show no partition executed by two processes at once, and
 * `meta check` is clean.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import { TaskState } from '../../src/metadata/task-record.js';
import { findTask, parseTaskId } from '../../src/tasks/progress.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { seededRandom } from './sim/world.js';

const PARTITIONS = 4096;
const PARTITION_SIZE = 16 * 1024;
const TIMING = ['--heartbeat-ms', '200', '--io-timeout-ms', '1000', '--renew-timeout-ms', '2500', '--host-dead-ms', '5000'];

interface AuditLine {
  type: string;
  taskId: string;
  partition?: number;
  at: number;
  pid: number;
  outcome?: string;
}

function hostMonotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

describe('controller processes on a loop device', () => {
  let loopDevice: string | undefined;
  afterAll(() => {
    if (loopDevice !== undefined) execFileSync('losetup', ['-d', loopDevice]);
  });

  it('fill of 4,096 partitions survives kill -9 of random controllers; verify finds 0 mismatches; no overlapping executions; meta check clean', async () => {
    requireRoot('attaching a loop device');
    requireCommand('losetup', 'mount');
    const dir = tempDir();
    const image = join(dir, 'shared.img');
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', `${8 + (PARTITIONS * PARTITION_SIZE) / 2 ** 20}M`, image]);
    loopDevice = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    const dev = loopDevice;
    const fmt = runCli(['meta', 'format', dev, '--controllers', '12', '--tasks', '2', '--max-chunks', '256', ...TIMING, '--json']);
    expect(fmt.status, fmt.stderr).toBe(0);
    const dataOffset = (JSON.parse(fmt.stdout) as { dataOffset: number }).dataOffset;

    const random = seededRandom(4096);
    const controllers: { proc: TestProcess; audit: string }[] = [];
    const killedAt = new Map<number, number>();
    let started = 0;
    const startController = (): void => {
      const audit = join(dir, `audit-${started++}.jsonl`);
      controllers.push({ proc: startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', dev, '--audit', audit, '--quiet']), audit });
    };
    for (let i = 0; i < 4; i++) startController();

    const sub = runCli(['task', 'submit', 'fill', '--meta', dev, '--offset', String(dataOffset), '--length', String(PARTITIONS * PARTITION_SIZE), '--partitions', String(PARTITIONS), '--chunk-partitions', '16', '--json']);
    expect(sub.status, sub.stderr).toBe(0);
    const taskId = parseTaskId((JSON.parse(sub.stdout) as { id: string }).id);

    const region = await MetadataRegion.open(await openDevice(dev, { readOnly: true }));
    const finished = async (): Promise<boolean> => (await findTask(region, taskId)).task.state === TaskState.Finished;
    // Kill a random live controller every 0.5-2.5 s and start a replacement, while the fill runs.
    for (let kills = 0; kills < 8 && !(await finished()); kills++) {
      await new Promise((r) => setTimeout(r, 500 + random() * 2000));
      const live = controllers.filter((c) => c.proc.child.exitCode === null && c.proc.child.signalCode === null);
      const victim = live[Math.floor(random() * live.length)];
      if (victim?.proc.child.pid === undefined) continue;
      killedAt.set(victim.proc.child.pid, hostMonotonicMs());
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      startController();
    }
    await waitFor(finished, 150_000, 'the fill task to finish', 500);
    expect(killedAt.size).toBeGreaterThan(0);

    const verify = runCli(['task', 'submit', 'verify', '--meta', dev, '--offset', String(dataOffset), '--length', String(PARTITIONS * PARTITION_SIZE), '--partitions', String(PARTITIONS), '--chunk-partitions', '64', '--seed', (JSON.parse(sub.stdout) as { id: string }).id, '--wait', '--json'], { timeoutMs: 120_000 });
    expect(verify.status, verify.stderr).toBe(0);
    const completion = JSON.parse(verify.stdout) as { state: string; completedHere: boolean; outcome: { result: { mismatches: number } } };
    expect(completion.state).toBe('finished');
    expect(completion.completedHere).toBe(true);
    expect(completion.outcome.result.mismatches).toBe(0);

    for (const c of controllers) await stopProcess(c.proc.child);
    await region.device.close();

    // Executions per partition: start..end, or start..kill time for a process killed mid-partition.
    const executions = new Map<number, { pid: number; start: number; end: number }[]>();
    const completed = new Set<number>();
    const fillId = (JSON.parse(sub.stdout) as { id: string }).id;
    for (const c of controllers) {
      if (!existsSync(c.audit)) continue;
      const open = new Map<number, { pid: number; start: number }>();
      for (const line of readFileSync(c.audit, 'utf8').split('\n')) {
        if (line === '') continue;
        const a = JSON.parse(line) as AuditLine;
        if (a.taskId !== fillId || a.partition === undefined) continue;
        if (a.type === 'partition-start') open.set(a.partition, { pid: a.pid, start: a.at });
        if (a.type === 'partition-end') {
          const s = open.get(a.partition);
          open.delete(a.partition);
          if (s) executions.set(a.partition, [...(executions.get(a.partition) ?? []), { ...s, end: a.at }]);
          if (a.outcome === 'complete') completed.add(a.partition);
        }
      }
      for (const [p, s] of open) executions.set(p, [...(executions.get(p) ?? []), { ...s, end: killedAt.get(s.pid) ?? Infinity }]);
    }
    expect(completed.size).toBe(PARTITIONS);
    const overlaps: string[] = [];
    for (const [p, list] of executions) {
      for (let i = 0; i < list.length; i++)
        for (let j = i + 1; j < list.length; j++) {
          const a = list[i];
          const b = list[j];
          if (a && b && a.pid !== b.pid && a.start < b.end && b.start < a.end) overlaps.push(`partition ${p}: pid ${a.pid} and pid ${b.pid}`);
        }
    }
    expect(overlaps).toEqual([]);

    const check = runCli(['meta', 'check', dev, '--json']);
    expect(check.status, check.stdout).toBe(0);
    expect((JSON.parse(check.stdout) as { errors: string[] }).errors).toEqual([]);
  }, 240_000);
});
