/**
 * Failover: seconds from the death of a whole agent/server pair (kill -9 of server A and of agent A@c1
 * while A@c1 executes a task) to the surviving pair resuming that task (server B reports the task's new
 * executor, B@c1). Real processes with the default timing. Anchors from the issue: Ceph mgr's 30 s beacon
 * grace, Kubernetes' 50 s node grace, Consul's 1-10 s; goal under 5 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TaskRecord } from '../src/wire/index.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { CLI_PATH } from './harness.js';

const PASSWORD = 'bench-password-1';

function start(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out };
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startServer(config: string, id: string): Promise<{ child: ChildProcess; url: string; token: string }> {
  const proc = start(['server', '--config', config, '--id', id]);
  const url = await until(() => {
    const line = proc.output().split('\n').find((l) => l.includes('"listening"'));
    return Promise.resolve(line === undefined ? undefined : (JSON.parse(line) as { url: string }).url);
  }, 20_000, `server ${id}`);
  const res = await fetch(`${url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'bench', password: PASSWORD }) });
  return { child: proc.child, url, token: ((await res.json()) as { token: string }).token };
}

async function task(server: { url: string; token: string }, id: string): Promise<TaskRecord | undefined> {
  const res = await fetch(`${server.url}/api/v1/tasks/${id}`, { headers: { authorization: `Bearer ${server.token}` } });
  return res.ok ? ((await res.json()) as TaskRecord) : undefined;
}

const bench: Benchmark = {
  name: 'agents-failover',
  title: 'Agents and servers: failover of a whole agent/server pair',
  async run(ctx: BenchContext): Promise<BenchResult> {
    const image = join(ctx.workDir, 'd0.img');
    writeFileSync(image, Buffer.alloc(1 << 20));
    const config = join(ctx.workDir, 'rig.yaml');
    writeFileSync(
      config,
      stringify({
        secret: 'bench-cluster-secret-0123456789',
        users: [{ name: 'bench', password: PASSWORD }],
        servers: [
          { id: 'A', addressFile: join(ctx.workDir, 'A.addr') },
          { id: 'B', addressFile: join(ctx.workDir, 'B.addr') },
        ],
        clusters: [{ id: 'c1', dataDir: join(ctx.workDir, 'c1'), devices: [{ name: 'd0', uri: image }], driverCommand: ['/bin/sh', '-c', 'sleep 30; echo "{}"'] }],
      }),
    );
    const rounds = Math.max(1, Math.round(5 * ctx.scale));
    const seconds: number[] = [];
    const serverB = await startServer(config, 'B');
    const agentB = start(['agent', '--config', config, '--cluster', 'c1', '--server', 'B']);
    const drivers: number[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        const serverA = await startServer(config, 'A');
        const agentA = start(['agent', '--config', config, '--cluster', 'c1', '--server', 'A']);
        const issued = await until(async () => {
          const res = await fetch(`${serverA.url}/api/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${serverA.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cluster: 'c1', kind: 'fill' }) });
          return res.status === 201 ? ((await res.json()) as TaskRecord) : undefined;
        }, 20_000, 'agent A@c1 to take a task');
        await until(async () => ((await task(serverB, issued.id))?.state === 'running' ? true : undefined), 20_000, 'task running on B');
        const running = await task(serverB, issued.id);
        if (running?.driverPid) drivers.push(running.driverPid);
        const t0 = performance.now();
        serverA.child.kill('SIGKILL');
        agentA.child.kill('SIGKILL');
        await until(async () => ((await task(serverB, issued.id))?.executor?.agentId === 'B@c1' ? true : undefined), 60_000, 'B@c1 to resume the task');
        seconds.push((performance.now() - t0) / 1000);
        ctx.log(`round ${round + 1}: surviving pair resumed the task after ${seconds[seconds.length - 1]?.toFixed(2)} s`);
      }
    } finally {
      serverB.child.kill('SIGKILL');
      agentB.child.kill('SIGTERM');
      for (const pid of drivers) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // finished
        }
      }
    }
    seconds.sort((a, b) => a - b);
    const median = seconds[Math.floor(seconds.length / 2)] ?? 0;
    const worst = seconds[seconds.length - 1] ?? 0;
    return {
      rows: [
        { case: `pair killed -> surviving pair resumes its task, median of ${rounds}`, blockrig: median, peer: 30, peerName: 'Ceph mgr beacon grace (anchor)', unit: 's', higherIsBetter: false },
        { case: `pair killed -> surviving pair resumes its task, median of ${rounds}`, blockrig: median, peer: 50, peerName: 'Kubernetes node grace (anchor)', unit: 's', higherIsBetter: false },
        { case: `pair killed -> surviving pair resumes its task, worst of ${rounds}`, blockrig: worst, peer: 5, peerName: 'goal: under 5 s', unit: 's', higherIsBetter: false },
      ],
      notes:
        'Default timing (heartbeat 1 s, agent expiry 5 s, takeover 3 s). Agents of one cluster share its host, so the surviving agent sees the dead executor\'s pid gone at its next store heartbeat (1 s) and claims the task at once; the time is that plus the broadcast and the report to server B. A dead agent on a hung (not dead) process would be taken over after the 3 s store-heartbeat limit instead.',
    };
  },
};

export default bench;
