/**
 * The kill -9 process scenario shared by the loop-device and nbdkit-export tests: four controller
 * processes fill 4,096 partitions of a device while random ones get SIGKILL and are replaced; then a
 * verify task must find 0 mismatches, the audit logs must show no overlapping executions of any
 * partition, and `meta check` must be clean.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import { TaskState } from '../../src/metadata/task-record.js';
import { findTask, parseTaskId } from '../../src/tasks/progress.js';
import { CLI_PATH, runCli, runCliAsync } from '../support/cli.js';
import { startProcess, stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { seededRandom } from '../../src/random.js';

/** Partitions of the fill. */
export const PARTITIONS = 4096;
/** Bytes per partition. */
export const PARTITION_SIZE = 16 * 1024;
/** Bytes a device needs: the region (under 8 MiB with the geometry below) and the data. */
export const DEVICE_BYTES = 8 * 1024 * 1024 + PARTITIONS * PARTITION_SIZE;
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

/** Runs the scenario on the device `dev` (every process opens it by this URI); `dir` holds the audit files. */
export async function fillUnderKills(dev: string, dir: string, seed: number): Promise<void> {
  const fmt = runCli(['meta', 'format', dev, '--controllers', '12', '--tasks', '2', '--max-chunks', '256', ...TIMING, '--json']);
  expect(fmt.status, fmt.stderr).toBe(0);
  const dataOffset = (JSON.parse(fmt.stdout) as { dataOffset: number }).dataOffset;

  const random = seededRandom(seed);
  const controllers: { proc: TestProcess; audit: string }[] = [];
  const killedAt = new Map<number, number>();
  let started = 0;
  const startController = (): void => {
    const audit = join(dir, `audit-${started++}.jsonl`);
    controllers.push({ proc: startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', dev, '--audit', audit, '--quiet']), audit });
  };
  for (let i = 0; i < 4; i++) startController();

  const sub = runCli(['task', 'submit', 'fill', '--meta', dev, '--offset', String(dataOffset), '--length', String(PARTITIONS * PARTITION_SIZE), '--partitions', String(PARTITIONS), '--chunk-partitions', '64', '--json']);
  expect(sub.status, sub.stderr).toBe(0);
  const taskId = parseTaskId((JSON.parse(sub.stdout) as { id: string }).id);

  const region = await MetadataRegion.open(await openDevice(dev, { readOnly: true }));
  const finished = async (): Promise<boolean> => (await findTask(region, taskId)).task.state === TaskState.Finished;
  // Kill random live controllers at random times and start replacements, while the fill runs. The first
  // two victims must hold a chunk claim mid-chunk when they die, so that a reclaim must happen: a candidate
  // is frozen first (SIGSTOP) so that its audit stands still, and killed only when the audit shows it
  // inside a chunk; otherwise it goes on (SIGCONT). Partitions take well under a millisecond, so a holder
  // picked from a running process's audit has usually finished its chunk before the kill lands.
  for (let kills = 0; kills < 8 && !(await finished()); kills++) {
    await new Promise((r) => setTimeout(r, kills < 2 ? 10 + random() * 30 : 200 + random() * 2000));
    const live = controllers.filter((c) => c.proc.child.exitCode === null && c.proc.child.signalCode === null);
    const victim = live[Math.floor(random() * live.length)];
    const pid = victim?.proc.child.pid;
    if (victim === undefined || pid === undefined) {
      kills--;
      continue;
    }
    const stoppedAt = hostMonotonicMs();
    victim.proc.child.kill('SIGSTOP');
    if (kills < 2) {
      await new Promise((r) => setTimeout(r, 20));
      if (!holdsClaim(victim.audit)) {
        victim.proc.child.kill('SIGCONT');
        kills--;
        continue;
      }
    }
    killedAt.set(pid, stoppedAt);
    victim.proc.child.kill('SIGKILL');
    await victim.proc.exited;
    startController();
  }
  await waitFor(finished, 150_000, 'the fill task to finish', 500);
  expect(killedAt.size).toBeGreaterThan(0);

  const verify = await runCliAsync(['task', 'submit', 'verify', '--meta', dev, '--offset', String(dataOffset), '--length', String(PARTITIONS * PARTITION_SIZE), '--partitions', String(PARTITIONS), '--chunk-partitions', '64', '--seed', (JSON.parse(sub.stdout) as { id: string }).id, '--wait', '--json'], { timeoutMs: 120_000 });
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
  // At least one chunk was held by a process when it was killed and later claimed by another: a real reclaim.
  const lastLines = controllers.filter((c) => c.proc.child.pid !== undefined && killedAt.has(c.proc.child.pid)).map((c) => (existsSync(c.audit) ? readFileSync(c.audit, 'utf8').trim().split('\n').slice(-2).join(' | ') : 'no audit'));
  expect(reclaimedChunks(controllers.map((c) => c.audit), fillId, killedAt), `killed controllers' last audit lines: ${lastLines.join(' || ')}`).toBeGreaterThan(0);
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
}

/**
 * Chunks a killed process held with partitions it had not completed (so someone had to take them over),
 * each of which must have been claimed later by another process; returns how many there were.
 */
function reclaimedChunks(audits: readonly string[], taskId: string, killedAt: ReadonlyMap<number, number>): number {
  const lines: (AuditLine & { chunk?: number })[] = [];
  for (const file of audits) {
    if (!existsSync(file)) continue;
    for (const l of readFileSync(file, 'utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as AuditLine & { chunk?: number });
  }
  const mine = lines.filter((x) => x.taskId === taskId).sort((a, b) => a.at - b.at);
  const held = new Map<string, number>();
  for (const l of mine) {
    if (l.chunk === undefined) continue;
    const key = `${l.pid}/${l.chunk}`;
    if (l.type === 'claimed') held.set(key, l.at);
    if (l.type === 'released') held.delete(key);
  }
  let count = 0;
  for (const [key, at] of held) {
    const [pid, chunk] = key.split('/').map(Number) as [number, number];
    if (!killedAt.has(pid)) continue;
    const done = new Set(mine.filter((l) => l.pid === pid && l.type === 'partition-end' && l.outcome === 'complete').map((l) => l.partition));
    const first = chunk * 64;
    let incomplete = false;
    for (let p = first; p < first + 64; p++) if (!done.has(p)) incomplete = true;
    if (!incomplete) continue;
    const takenOver = mine.some((l) => l.type === 'claimed' && l.chunk === chunk && l.pid !== pid && l.at > at);
    expect(takenOver, `chunk ${chunk} left incomplete by killed pid ${pid} was claimed by another process`).toBe(true);
    count++;
  }
  return count;
}

/**
 * True when the audit file of a frozen controller shows a chunk claimed and not released, with partitions of
 * it still to do.
 */
function holdsClaim(audit: string): boolean {
  if (!existsSync(audit)) return false;
  let open = 0;
  let last: AuditLine | undefined;
  for (const l of readFileSync(audit, 'utf8').split('\n')) {
    if (l === '') continue;
    if (l.includes('"type":"claimed"')) open++;
    if (l.includes('"type":"released"')) open--;
    last = JSON.parse(l) as AuditLine;
  }
  // Frozen (SIGSTOP) between its claim and its release, with partitions of the chunk still to do: the
  // chunk stays unfinished when it dies. (After the chunk's last partition its completion write may be in
  // flight and land anyway.)
  return open > 0 && (last?.type === 'claimed' || (last?.partition !== undefined && last.partition % 64 < 63));
}
