/**
 * Servers and agents of a rig: a rig configuration (`docs/agents-and-servers.md`) naming servers A and B
 * and one cluster holding the rig's devices, two `blockrig server` processes and one `blockrig cluster up`
 * (which starts an agent per server at the cluster). The agents probe the devices by URI in their own
 * processes, so they see faults that are real at the OS level (an export whose process died, a missing
 * file), not the harness's in-process fault rules. The harness logs in to each server and reads what each
 * reports about the devices, which is how a scenario checks "device states reported by both servers".
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Clock } from '../../src/clock.js';
import type { ClusterView, TaskRecord } from '../../src/wire/index.js';
import type { BuiltDevice } from './devices.js';
import { createRigHosts, type RigHosts } from './netns.js';
import { waitUntil, type ProcessSupervisor, type RigProcess } from './processes.js';
import type { Teardown } from './teardown.js';

/** The id of the rig's cluster in the configuration. */
export const RIG_CLUSTER = 'rig';

/** A running server the harness is logged in to. */
interface RunningServer {
  readonly id: string;
  readonly process: RigProcess;
  readonly url: string;
  readonly token: string;
}

/** The servers and agents of a rig. */
export interface RigServers {
  /** Server ids, in order (A, B, ...). */
  readonly ids: readonly string[];
  /** The devices the agents watch (memory devices are invisible outside the harness's process). */
  readonly watched: readonly string[];
  /** What server `id` reports about the rig's cluster; undefined when it does not answer. */
  view(id: string): Promise<ClusterView | undefined>;
  /** Issues a task to the rig's cluster through server `id`; resolves with its id (the server refusing it throws). */
  issueTask(id: string, kind: string, args: Record<string, string | number | boolean>): Promise<string>;
  /** Task `taskId` as server `id` reports it; undefined when it does not answer or was killed. */
  task(id: string, taskId: string): Promise<TaskRecord | undefined>;
  /** SIGKILL of server `id`. */
  killServer(id: string): void;
  /** SIGKILL of the agent registered with server `id` (`cluster up` starts it again after a retry delay). */
  killAgent(id: string): void;
  /** True once `killServer(id)` was called. */
  killed(id: string): boolean;
  /** Cuts (true) or restores (false) the link between the hosts; throws without `hosts`. */
  cutLink(cut: boolean): void;
}

/** What starting servers needs from the run. */
export interface ServersContext {
  readonly workDir: string;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  /** The blockrig CLI script the server, agents and driver processes run. */
  readonly cliPath: string;
  readonly log: (line: string) => void;
  readonly teardown: Teardown;
  /** Run server A and the cluster in one network namespace and server B in another. */
  readonly hosts: boolean;
  /**
   * The metadata image holding the region and the volume table of the served volume: tasks issued through
   * the servers run on it, by a driver process the agent starts (without partitions of its own: the
   * harness's controller processes run them).
   */
  readonly meta?: string;
}

/** The URI an agent process can open for a rig device, or undefined for memory devices. */
function agentUri(d: BuiltDevice): string | undefined {
  if (d.spec.kind === 'memory') return undefined;
  if (d.spec.kind === 'file' || d.spec.kind === 'loop') return d.image;
  return d.device.inner.uri;
}

/** Writes the rig configuration, starts the servers and `cluster up`, logs in; resolves when every server sees every watched device. */
export async function startServers(count: number, devices: readonly BuiltDevice[], ctx: ServersContext): Promise<RigServers> {
  const ids = ['A', 'B', 'C', 'D'].slice(0, count);
  let hosts: RigHosts | undefined;
  if (ctx.hosts) {
    const made = createRigHosts();
    hosts = made;
    ctx.teardown.push('delete the network namespaces', () => made.destroy());
    ctx.log(`hosts: namespaces ${made.names.join(' and ')}, link ${made.addressOf(1)} <-> ${made.addressOf(2)}`);
  }
  const hostOf = (i: number): 1 | 2 => (i === 1 ? 2 : 1);
  const wrap = (host: 1 | 2): string[] => hosts?.exec(host) ?? [];
  const password = randomBytes(12).toString('hex');
  const watchedDevices = devices.flatMap((d) => {
    const uri = agentUri(d);
    return uri === undefined ? [] : [{ name: d.spec.name, uri }];
  });
  const config = {
    secret: randomBytes(24).toString('hex'),
    users: [{ name: 'hil', password }],
    timing: { heartbeatMs: 200, agentExpiryMs: 3000, probeMs: 200, storePollMs: 300, retryMs: 300, takeoverMs: 3000, sessionTtlMs: 3_600_000 },
    servers: ids.map((id, i) => ({ id, cluster: `${RIG_CLUSTER}-${id.toLowerCase()}`, listen: { host: hosts?.addressOf(hostOf(i)) ?? '127.0.0.1', port: 0 }, addressFile: join(ctx.workDir, `server-${id}.addr`) })),
    clusters: [
      {
        id: RIG_CLUSTER,
        dataDir: join(ctx.workDir, 'cluster'),
        devices: watchedDevices,
        controllers: 0,
        ...(ctx.meta === undefined ? {} : { meta: ctx.meta, volumes: ctx.meta, driverCommand: [process.execPath, '{cli}', 'driver', 'run', '{kind}', '--meta', '{meta}', '--json', '--volumes', ctx.meta] }),
      },
    ],
  };
  const configPath = join(ctx.workDir, 'rig.yaml');
  writeFileSync(configPath, stringify(config), { mode: 0o600 });
  const started: RigProcess[] = [];
  // Servers and agents stop before the namespaces go and before the devices close.
  ctx.teardown.push('stop the servers and agents', async () => {
    for (const p of [...started].reverse()) await ctx.processes.stop(p.pid, ctx.clock);
    // `cluster up` stops its agents, but one it was restarting as it stopped can outlive it: end any agent
    // it reported that still runs with this rig's configuration (the check guards against a reused pid).
    const up = started.find((p) => p.name.startsWith('cluster-up:'));
    if (up !== undefined) for (const pid of reportedAgentPids(up)) killIfRunning(pid, configPath);
  });
  const running = await Promise.all(ids.map((id, i) => startServer(id, configPath, password, wrap(hostOf(i)), ctx)));
  started.push(...running.map((r) => r.process));
  const upArgv = [...wrap(1), process.execPath, ctx.cliPath, 'cluster', 'up', '--config', configPath, '--cluster', RIG_CLUSTER];
  const up = await ctx.processes.start(`cluster-up:${RIG_CLUSTER}`, upArgv[0] ?? process.execPath, upArgv.slice(1));
  started.push(up);
  const killed = new Set<string>();
  const byId = new Map(running.map((s) => [s.id, s]));
  const servers: RigServers = {
    ids,
    watched: watchedDevices.map((d) => d.name),
    view: async (id) => {
      const s = byId.get(id);
      if (s === undefined || killed.has(id)) return undefined;
      try {
        const res = await fetch(`${s.url}/api/v1/clusters/${RIG_CLUSTER}`, { headers: { authorization: `Bearer ${s.token}` }, signal: AbortSignal.timeout(2000) });
        return res.ok ? ((await res.json()) as ClusterView) : undefined;
      } catch {
        return undefined;
      }
    },
    issueTask: async (id, kind, args) => {
      const s = byId.get(id);
      if (s === undefined || killed.has(id)) throw new Error(`server ${id} is not running`);
      const res = await fetch(`${s.url}/api/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cluster: RIG_CLUSTER, kind, args }), signal: AbortSignal.timeout(10_000) });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 || body.id === undefined) throw new Error(`server ${id} refused the ${kind} task: HTTP ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    },
    task: async (id, taskId) => {
      const s = byId.get(id);
      if (s === undefined || killed.has(id)) return undefined;
      try {
        const res = await fetch(`${s.url}/api/v1/tasks/${encodeURIComponent(taskId)}`, { headers: { authorization: `Bearer ${s.token}` }, signal: AbortSignal.timeout(2000) });
        return res.ok ? ((await res.json()) as TaskRecord) : undefined;
      } catch {
        return undefined;
      }
    },
    killServer: (id) => {
      const s = byId.get(id);
      if (s === undefined) throw new Error(`no server ${id}`);
      killed.add(id);
      ctx.processes.signal(s.process.pid, 'SIGKILL');
    },
    killAgent: (id) => {
      const pid = agentPid(up, `${id}@${RIG_CLUSTER}`);
      if (pid === undefined) throw new Error(`the agent for server ${id} has not started`);
      process.kill(pid, 'SIGKILL');
    },
    killed: (id) => killed.has(id),
    cutLink: (cut) => {
      if (hosts === undefined) throw new Error('the rig has no hosts: set servers.hosts');
      hosts.cutLink(cut);
    },
  };
  // Ready when every server has a state for every watched device, stored by its own agent.
  const ready = new Map<string, boolean>();
  await waitUntil(
    () => ids.every((id) => ready.get(id) === true) || up.exited,
    20_000,
    'both servers to report every device',
    ctx.clock,
    () => {
      for (const id of ids) void servers.view(id).then((v) => ready.set(id, v !== undefined && v.devices.length === watchedDevices.length && v.agents.some((a) => a.alive)));
    },
  );
  if (up.exited) throw new Error(`blockrig cluster up exited at start:\n${up.log()}`);
  ctx.log(`servers ${ids.join(', ')} up; agents of cluster ${RIG_CLUSTER} watch ${watchedDevices.map((d) => d.name).join(', ')}`);
  return servers;
}

async function startServer(id: string, configPath: string, password: string, wrap: readonly string[], ctx: ServersContext): Promise<RunningServer> {
  const argv = [...wrap, process.execPath, ctx.cliPath, 'server', '--config', configPath, '--id', id];
  const proc = await ctx.processes.start(`server:${id}`, argv[0] ?? process.execPath, argv.slice(1));
  const listening = (): { url: string } | undefined => {
    const line = proc.log().split('\n').find((l) => l.startsWith('{') && l.includes('"listening"'));
    return line === undefined ? undefined : (JSON.parse(line) as { url: string });
  };
  await waitUntil(() => listening() !== undefined || proc.exited, 20_000, `server ${id} to listen`, ctx.clock);
  const url = listening()?.url;
  if (url === undefined) throw new Error(`server ${id} exited at start:\n${proc.log()}`);
  const res = await fetch(`${url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'hil', password }) });
  if (!res.ok) throw new Error(`login to server ${id} failed: HTTP ${res.status}`);
  const token = ((await res.json()) as { token: string }).token;
  return { id, process: proc, url, token };
}

/** Every agent `cluster up` reported starting, in order: name and pid. */
function agentStarts(up: RigProcess): { name: string; pid: number }[] {
  const starts: { name: string; pid: number }[] = [];
  for (const line of up.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { event?: string; role?: string; name?: string; pid?: number };
      if (e.event === 'started' && e.role === 'agent' && typeof e.name === 'string' && typeof e.pid === 'number') starts.push({ name: e.name, pid: e.pid });
    } catch {
      // Not a report line.
    }
  }
  return starts;
}

/** The pid `cluster up` last reported starting for agent `name`. */
function agentPid(up: RigProcess, name: string): number | undefined {
  return agentStarts(up)
    .filter((s) => s.name === name)
    .pop()?.pid;
}

/** Every agent pid `cluster up` reported. */
function reportedAgentPids(up: RigProcess): number[] {
  return agentStarts(up).map((s) => s.pid);
}

/** SIGKILL of `pid` if it still runs an agent of the configuration at `configPath`. */
function killIfRunning(pid: number, configPath: string): void {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes(configPath)) process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
