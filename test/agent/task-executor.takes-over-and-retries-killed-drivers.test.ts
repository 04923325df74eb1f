/**
 * The agent's task executor with an in-process fake driver launcher and a real cluster store: completion
 * is stored, only a killed driver is started again (and at most three times), and a task of a dead
 * executor is taken over by exactly one agent, which adopts the running driver instead of starting one.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { TaskExecutor } from '../../src/agent/task-executor.js';
import type { DriverOutcome, StartedDriver, TaskRunner } from '../../src/agent/task-runner.js';
import { ClusterStore } from '../../src/cluster/store.js';
import type { Executor, TaskRecord } from '../../src/wire/index.js';
import { waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-executor-');
const DEAD_PID = 4_000_000; // above pid_max's default: never a live process
const ok: DriverOutcome = { ok: true, exitCode: 0, status: { state: 'complete' }, error: null };
const killed: DriverOutcome = { ok: false, exitCode: null, status: null, error: 'the driver process was killed before it finished' };

/** Launches nothing: each start or adopt resolves with the next scripted outcome. */
class ScriptedRunner implements TaskRunner {
  readonly starts: number[] = [];
  readonly adopted: number[] = [];
  constructor(private readonly outcomes: DriverOutcome[]) {}
  start(_task: TaskRecord, attempt: number): StartedDriver {
    this.starts.push(attempt);
    return { pid: 1000 + attempt, done: Promise.resolve(this.outcomes.shift() ?? ok) };
  }
  adopt(_task: TaskRecord, _attempt: number, pid: number): Promise<DriverOutcome> {
    this.adopted.push(pid);
    return Promise.resolve(this.outcomes.shift() ?? ok);
  }
  control(): void {}
}

function executor(name: string, runner: TaskRunner, me: Executor): { store: ClusterStore; exec: TaskExecutor } {
  const store = new ClusterStore(join(dir, name), 'c1');
  const exec = new TaskExecutor({ store, runner, me, clock: new ManualClock(), takeoverMs: 3000, stored: () => undefined, log: () => undefined });
  return { store, exec };
}

const me: Executor = { agentId: 'A@c1', serverId: 'A', host: hostname(), pid: process.pid };
const issue = { cluster: 'c1', kind: 'fill' as const, args: {} };

describe('task executor', () => {
  it('stores the completion status of its driver', async () => {
    const runner = new ScriptedRunner([ok]);
    const { store, exec } = executor('ok', runner, me);
    const { task } = exec.accept('t1', issue);
    expect(task.executor).toEqual(me);
    await waitFor(() => store.task('t1')?.state === 'succeeded', 5000, 'success');
    expect(store.task('t1')?.result).toEqual({ state: 'complete' });
    expect(runner.starts).toEqual([1]);
  });

  it('starts another driver only when the last one was killed, and gives up after three', async () => {
    const retried = new ScriptedRunner([killed, ok]);
    const first = executor('retry', retried, me);
    first.exec.accept('t1', issue);
    await waitFor(() => first.store.task('t1')?.state === 'succeeded', 5000, 'success after a retry');
    expect(retried.starts).toEqual([1, 2]);
    expect(first.store.task('t1')?.attempts).toBe(2);

    const hopeless = new ScriptedRunner([killed, killed, killed]);
    const second = executor('hopeless', hopeless, me);
    second.exec.accept('t2', issue);
    await waitFor(() => second.store.task('t2')?.state === 'failed', 5000, 'failure');
    expect(hopeless.starts).toEqual([1, 2, 3]);
    expect(second.store.task('t2')?.error).toMatch(/gave up after 3/);
  });

  it('a driver that fails with a status is not started again', async () => {
    const runner = new ScriptedRunner([{ ok: false, exitCode: 3, status: null, error: 'the driver process exited with status 3' }]);
    const { store, exec } = executor('fails', runner, me);
    exec.accept('t1', issue);
    await waitFor(() => store.task('t1')?.state === 'failed', 5000, 'failure');
    expect(runner.starts).toEqual([1]);
  });

  it('takes over the task of a dead executor once, adopting its running driver', async () => {
    const seed = new ClusterStore(join(dir, 'takeover'), 'c1');
    const dead: Executor = { agentId: 'B@c1', serverId: 'B', host: hostname(), pid: DEAD_PID };
    seed.acceptTask('t1', issue, 'B', dead, '2026-01-01T00:00:00.000Z');
    seed.updateTask('t1', { state: 'running', driverPid: 777, attempts: 1 }, '2026-01-01T00:00:01.000Z', dead);
    const runners = [new ScriptedRunner([ok]), new ScriptedRunner([ok])];
    const agents = [
      executor('takeover', runners[0] as TaskRunner, me),
      executor('takeover', runners[1] as TaskRunner, { ...me, agentId: 'C@c1', serverId: 'C' }),
    ];
    for (const a of agents) a.exec.reconcile();
    await waitFor(() => seed.task('t1')?.state === 'succeeded', 5000, 'takeover to finish');
    expect(runners.flatMap((r) => r.adopted)).toEqual([777]);
    expect(runners.flatMap((r) => r.starts)).toEqual([]);
    expect(seed.task('t1')?.executors.map((e) => e.agentId)).toEqual(['B@c1', 'A@c1']);
  });
});
