/**
 * The operator CLI over real servers: `status`, `devices`, `agents`, `servers`, `events` and the
 * `task` commands with `--server`, each in human and `--json` form with its exit status; bad arguments
 * and bad credentials; failover from a dead or killed server to the other one (for requests and for
 * `task watch`). Two servers and two clusters of real processes, a stand-in driver process.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, runCli, type CliResult } from '../support/cli.js';
import { startProcess, stopProcess, waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import type { AgentView, TaskRecord } from '../../src/wire/index.js';
import { clusterUp, startServer, TEST_PASSWORD, writeRig, type ServerHandle } from '../cluster/rig.js';
import { STAND_IN_DRIVER } from '../e2e/stand-in-driver.js';

const dir = tempDir('blockrig-cli-ops-');
let serverA: ServerHandle;
let serverB: ServerHandle;
/** A URL where nothing listens. */
const DEAD = 'http://127.0.0.1:9';

const env = { BLOCKRIG_PASSWORD: TEST_PASSWORD, BLOCKRIG_SERVER: '' };
const cli = (args: string[], extraEnv: Record<string, string> = {}): CliResult => runCli(args, { env: { ...env, ...extraEnv } });
const json = <T>(r: CliResult): T => JSON.parse(r.stdout) as T;

beforeAll(async () => {
  for (const name of ['c1-d0', 'c1-d1', 'c2-d0']) {
    writeFileSync(join(dir, `${name}.img`), '');
    truncateSync(join(dir, `${name}.img`), 1 << 20);
  }
  const config = writeRig(dir, {
    servers: [
      { id: 'A', cluster: 'c1' },
      { id: 'B', cluster: 'c2' },
    ],
    clusters: [
      { id: 'c1', devices: [{ name: 'd0', uri: join(dir, 'c1-d0.img') }, { name: 'd1', uri: join(dir, 'c1-d1.img') }], driverCommand: STAND_IN_DRIVER },
      { id: 'c2', devices: [{ name: 'd0', uri: join(dir, 'c2-d0.img') }], driverCommand: STAND_IN_DRIVER },
    ],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  await Promise.all([clusterUp(config, 'c1', 2), clusterUp(config, 'c2', 2)]);
  await waitFor(async () => {
    const [a, b] = await Promise.all([serverA.get<{ agents: AgentView[] }>('/api/v1/agents'), serverB.get<{ agents: AgentView[] }>('/api/v1/agents')]);
    const devices = (await serverA.cluster('c1')).devices.length + (await serverB.cluster('c2')).devices.length;
    return a.agents.filter((x) => x.alive).length === 2 && b.agents.filter((x) => x.alive).length === 2 && devices === 3;
  }, 20_000, 'four agents registered and devices reported');
});

describe('operator CLI: views', () => {
  it('status prints servers and clusters for people, and the records with --json', () => {
    const human = cli(['status', '--server', serverA.url]);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/A \(answering\)\s+c1/);
    expect(human.stdout).toMatch(/c1\s+2\/2 available/);
    const r = cli(['status', '--server', serverA.url, '--json']);
    expect(r.status).toBe(0);
    const body = json<{ server: string; clusters: { id: string; availableCount: number }[]; agents: unknown[] }>(r);
    expect(body.server).toBe(serverA.url);
    expect(body.clusters.map((c) => [c.id, c.availableCount])).toEqual([
      ['c1', 2],
      ['c2', 1],
    ]);
    expect(r.stdout).not.toContain(TEST_PASSWORD);
  });

  it('devices, agents and servers print tables and JSON', () => {
    const devices = cli(['devices', '--cluster', 'c1', '--server', serverB.url, '--json']);
    expect(devices.status).toBe(0);
    expect(json<{ devices: { cluster: string; name: string; uri: string; available: boolean }[] }>(devices).devices).toEqual([
      expect.objectContaining({ cluster: 'c1', name: 'd0', uri: join(dir, 'c1-d0.img'), available: true }),
      expect.objectContaining({ cluster: 'c1', name: 'd1', uri: join(dir, 'c1-d1.img'), available: true }),
    ]);
    expect(cli(['devices', '--server', serverA.url]).stdout).toMatch(/c2\s+d0\s+\S+c2-d0\.img\s+yes/);
    const agents = cli(['agents', '--server', serverB.url]);
    expect(agents.stdout).toMatch(/B@c1\s+c1\s+B/);
    expect(json<{ agents: AgentView[] }>(cli(['agents', '--server', serverB.url, '--json'])).agents.map((a) => a.agentId).sort()).toEqual(['B@c1', 'B@c2']);
    expect(cli(['servers', '--server', serverA.url]).stdout).toMatch(/B\s+no\s+c2\s+http/);
  });

  it('events prints the buffered events', () => {
    const r = cli(['events', '--server', serverA.url]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/c1\s+device d0 available/);
  });

  it('exits with the error table status: 2 bad arguments, 12 bad password, 3 unknown task, 6 no server answers', () => {
    const noServer = cli(['status']);
    expect(noServer.status).toBe(2);
    expect(noServer.stderr).toContain('--server');
    expect(cli(['status', '--server', 'not-a-url']).status).toBe(2);
    const badPassword = cli(['status', '--server', serverA.url, '--json'], { BLOCKRIG_PASSWORD: 'wrong-password' });
    expect(badPassword.status).toBe(12);
    expect(json<{ error: { code: string } }>(badPassword).error.code).toBe('BLOCKRIG_E_UNAUTHORIZED');
    expect(badPassword.stdout).not.toContain('wrong-password');
    const unknown = cli(['task', 'show', 't-nope', '--server', serverA.url]);
    expect(unknown.status).toBe(3);
    expect(unknown.stderr).toContain('no task "t-nope"');
    const dead = cli(['status', '--server', DEAD]);
    expect(dead.status).toBe(6);
    expect(dead.stderr).toContain('no server answers');
  });
});

describe('operator CLI: tasks through the servers', () => {
  it('task submit --wait --json follows the task to succeeded and prints partition states', () => {
    const r = cli(['task', 'submit', 'checksum', '--cluster', 'c1', '--partitions', '3', '--arg', 'seconds=1', '--wait', '--json', '--server', serverA.url]);
    expect(r.status).toBe(0);
    const t = json<TaskRecord & { result: { partitionStates: string[] } }>(r);
    expect(t.state).toBe('succeeded');
    expect(t.args).toEqual({ seconds: 1, partitions: 3 });
    expect(t.result.partitionStates).toEqual(['COMPLETE', 'COMPLETE', 'COMPLETE']);
    const shown = cli(['task', 'show', t.id, '--server', serverB.url]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/state:\s+succeeded/);
    expect(shown.stdout).toMatch(/partitions:\s+3\/3 COMPLETE/);
    const list = json<{ tasks: TaskRecord[] }>(cli(['task', 'list', '--cluster', 'c1', '--state', 'succeeded', '--json', '--server', serverB.url]));
    expect(list.tasks.map((x) => x.id)).toContain(t.id);
    expect(cli(['task', 'list', '--server', serverA.url]).stdout).toMatch(new RegExp(`${t.id}\\s+c1\\s+checksum\\s+succeeded\\s+3/3 COMPLETE`));
  });

  it('refuses a bad kind, a bad --arg and a missing cluster with exit 2 naming the field', () => {
    const kind = cli(['task', 'submit', 'defrag', '--cluster', 'c1', '--server', serverA.url]);
    expect(kind.status).toBe(2);
    expect(kind.stderr).toContain('kind');
    const arg = cli(['task', 'submit', 'checksum', '--cluster', 'c1', '--arg', 'oops', '--server', serverA.url]);
    expect(arg.status).toBe(2);
    expect(arg.stderr).toContain('"oops" is not name=value');
    const cluster = cli(['task', 'submit', 'checksum', '--cluster', 'c9', '--server', serverA.url, '--json']);
    expect(cluster.status).toBe(2);
    expect(json<{ error: { details: { field: string } } }>(cluster).error.details.field).toBe('cluster');
    expect(cli(['task', 'submit', 'checksum', '--server', serverA.url]).status).toBe(2);
  });

  it('pause, resume and cancel a task; watch exits 130 for a cancelled task', () => {
    const t = json<TaskRecord>(cli(['task', 'submit', 'verify', '--cluster', 'c2', '--arg', 'seconds=60', '--json', '--server', serverB.url]));
    const paused = cli(['task', 'pause', t.id, '--server', serverB.url, '--json']);
    expect(paused.status).toBe(0);
    expect(json<TaskRecord>(paused).state).toBe('paused');
    expect(cli(['task', 'resume', t.id, '--server', serverB.url]).stdout).toContain(`task ${t.id}: resume requested (state running)`);
    expect(cli(['task', 'cancel', t.id, '--server', serverB.url]).status).toBe(0);
    const watched = cli(['task', 'watch', t.id, '--server', serverB.url]);
    expect(watched.status).toBe(130);
    expect(watched.stdout).toMatch(/state:\s+cancelled/);
    expect(cli(['task', 'cancel', t.id, '--server', serverB.url]).status).toBe(11);
  });

  it('fails over: a dead first --server is skipped, and task watch follows server B when A is killed', async () => {
    const viaDead = cli(['task', 'submit', 'checksum', '--cluster', 'c2', '--arg', 'seconds=1', '--wait', '--json', '--server', DEAD, '--server', serverB.url]);
    expect(viaDead.status, viaDead.stderr).toBe(0);
    expect(json<TaskRecord>(viaDead).issuedVia).toBe('B');

    const t = json<TaskRecord>(cli(['task', 'submit', 'checksum', '--cluster', 'c1', '--partitions', '2', '--arg', 'seconds=4', '--json', '--server', serverA.url]));
    // One --server is enough: the CLI learns server B from A's list of servers.
    const watch = startProcess(process.execPath, [CLI_PATH, 'task', 'watch', t.id, '--server', serverA.url], { env: { ...process.env, ...env } });
    await waitFor(() => watch.stderr().includes(`task ${t.id}: running`), 15_000, 'task watch to start following');
    await stopProcess(serverA.process.child);
    const status = await watch.exited;
    expect(status, `task watch stderr: ${watch.stderr()}\nstdout: ${watch.stdout()}`).toBe(0);
    expect(watch.stderr()).toContain(`server ${serverA.url} stopped answering; using ${serverB.url}`);
    expect(watch.stdout()).toMatch(/state:\s+succeeded/);
    expect(watch.stdout()).toMatch(/partitions:\s+2\/2 COMPLETE/);
  });
});
