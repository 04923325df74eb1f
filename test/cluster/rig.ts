/**
 * Test rig for agents and servers: writes a rig configuration, starts real `blockrig server` and
 * `blockrig cluster up` processes from the built CLI, logs in, and reads both servers' views.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor, type TestProcess } from '../support/processes.js';
import type { ClusterView, RigConfig, TaskRecord } from '../../src/wire/index.js';

/** The cluster secret of test rigs. */
export const TEST_SECRET = 'test-cluster-secret-0123456789';
/** The test user's password (a secret: tests check it never shows up in output). */
export const TEST_PASSWORD = 'test-password-9876';

/** Short timing so failover happens in about a second; expiry and takeover limits leave room for a loaded CI machine (dead pids are seen at once). */
export const FAST_TIMING = { heartbeatMs: 200, agentExpiryMs: 3000, probeMs: 200, storePollMs: 300, retryMs: 200, takeoverMs: 3000, sessionTtlMs: 600_000 };

/** Input of `writeRig`: servers and clusters, with paths relative to `dir`. */
export interface RigSpec {
  servers: { id: string; cluster?: string; host?: string }[];
  clusters: { id: string; devices: { name: string; uri: string }[]; driverCommand?: string[]; meta?: string; volumes?: string; controllers?: number }[];
}

/** Writes `rig.yaml` into `dir` and returns its path. */
export function writeRig(dir: string, spec: RigSpec, name = 'rig.yaml'): string {
  const config: Omit<RigConfig, 'timing'> & { timing: typeof FAST_TIMING } = {
    secret: TEST_SECRET,
    users: [{ name: 'admin', password: TEST_PASSWORD }],
    timing: FAST_TIMING,
    servers: spec.servers.map((s) => ({ id: s.id, ...(s.cluster === undefined ? {} : { cluster: s.cluster }), listen: { host: s.host ?? '127.0.0.1', port: 0 }, addressFile: join(dir, `${s.id}.addr`) })),
    clusters: spec.clusters.map((c) => ({ controllers: 0, ...c, dataDir: join(dir, c.id) })),
  };
  const path = join(dir, name);
  writeFileSync(path, stringify(config));
  return path;
}

/** A started server with a logged-in API client. */
export interface ServerHandle {
  id: string;
  process: TestProcess;
  url: string;
  token: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<{ status: number; body: T }>;
  cluster(id: string): Promise<ClusterView>;
  task(id: string): Promise<TaskRecord | undefined>;
}

/** Starts `blockrig server` and logs in as the test user. `wrap` prefixes the command (ip netns exec). */
export async function startServer(config: string, id: string, wrap: string[] = []): Promise<ServerHandle> {
  const argv = [...wrap, process.execPath, CLI_PATH, 'server', '--config', config, '--id', id];
  const proc = startProcess(argv[0] ?? process.execPath, argv.slice(1));
  await waitFor(() => proc.stdout().includes('"listening"'), 20_000, `server ${id} to listen (stderr: ${proc.stderr()})`);
  const line = proc.stdout().split('\n').find((l) => l.includes('"listening"')) ?? '';
  const url = (JSON.parse(line) as { url: string }).url;
  const login = await fetch(`${url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: TEST_PASSWORD }) });
  const token = ((await login.json()) as { token: string }).token;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const handle: ServerHandle = {
    id,
    process: proc,
    url,
    token,
    get: async <T>(path: string) => (await (await fetch(`${url}${path}`, { headers })).json()) as T,
    post: async <T>(path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as T };
    },
    cluster: (cid: string) => handle.get<ClusterView>(`/api/v1/clusters/${cid}`),
    task: async (tid: string) => {
      const res = await fetch(`${url}/api/v1/tasks/${tid}`, { headers });
      return res.ok ? ((await res.json()) as TaskRecord) : undefined;
    },
  };
  return handle;
}

/** Starts `blockrig cluster up` and waits until one agent per server has started. */
export async function clusterUp(config: string, clusterId: string, expectAgents: number, wrap: string[] = []): Promise<TestProcess> {
  const argv = [...wrap, process.execPath, CLI_PATH, 'cluster', 'up', '--config', config, '--cluster', clusterId];
  const proc = startProcess(argv[0] ?? process.execPath, argv.slice(1));
  await waitFor(() => startedAgents(proc).length >= expectAgents, 20_000, `cluster ${clusterId} agents to start`);
  return proc;
}

/** Agents a `cluster up` process reported starting, latest pid per name. */
export function startedAgents(proc: TestProcess): { name: string; pid: number }[] {
  const latest = new Map<string, number>();
  for (const line of proc.stdout().split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { event: string; role: string; name: string; pid: number };
    if (e.event === 'started' && e.role === 'agent') latest.set(e.name, e.pid);
  }
  return [...latest].map(([name, pid]) => ({ name, pid }));
}

/** The pid of agent `name` as last started by `cluster up`. */
export function agentPid(proc: TestProcess, name: string): number {
  const found = startedAgents(proc).find((a) => a.name === name);
  if (!found) throw new Error(`agent ${name} has not started`);
  return found.pid;
}

/** Lines a test driver command appended to a file (one per driver run). */
export function runsRecorded(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/**
 * A driver command for rigs: a separate process that records its run (task id and pid), works for
 * `--seconds N` (default `seconds`), fails with status 3 when given `--fail`, else prints its status.
 */
export function recordingDriver(runsFile: string, seconds: number): string[] {
  const script = [
    `echo "$BLOCKRIG_TASK_ID $$" >> '${runsFile}'`,
    `secs=${seconds}; fail=0`,
    'while [ $# -gt 0 ]; do case "$1" in --seconds) secs=$2; shift;; --fail) fail=1;; esac; shift; done',
    'sleep "$secs"',
    'if [ "$fail" = 1 ]; then echo "driver: injected failure" >&2; exit 3; fi',
    `echo '{"state":"complete","partitions":4}'`,
  ].join('\n');
  return ['/bin/sh', '-c', script, 'test-driver'];
}

/** Waits until a Unix socket exists at `path` (a server such as nbdkit started listening). */
export async function waitForSocket(path: string, what = path): Promise<void> {
  await waitFor(() => {
    try {
      return statSync(path).isSocket();
    } catch {
      return false;
    }
  }, 10_000, what);
}
