/**
 * The main job (`npm start` runs `blockrig start` after setup and the build): it reaches "ready", both
 * servers serve the dashboard and the API with the printed login and see both clusters' devices, each
 * printed NBD export answers `nbdinfo`, and SIGINT (Ctrl-C) stops every process it started, leaving no
 * listener and no loop device behind.
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/agent/task-runner.js';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor, type TestProcess } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

interface Ready {
  event: 'ready';
  dashboards: { server: string; cluster: string; url: string }[];
  exports: { volume: string; level: string; uri: string; size: number }[];
  user: string;
  password: string;
  processes: { name: string; pid: number }[];
}

const dir = tempDir('blockrig-start-');
const early = tempDir('blockrig-start-early-');
let start: TestProcess;
let ready: Ready;

function refuses(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url.replace(/^nbd:/, 'http:'));
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
}

beforeAll(async () => {
  start = startProcess(process.execPath, [CLI_PATH, 'start', '--dir', dir, '--size', '16MiB', '--json']);
  await waitFor(() => start.stdout().includes('"event":"ready"'), 120_000, `blockrig start to print ready (stderr: ${start.stderr()})`, 200);
  ready = JSON.parse(start.stdout().split('\n').find((l) => l.includes('"event":"ready"')) ?? '{}') as Ready;
}, 130_000);

describe('npm start (blockrig start)', () => {
  it('serves the dashboard from both servers and logs in with the printed login', async () => {
    expect(ready.dashboards.map((d) => [d.server, d.cluster])).toEqual([
      ['A', 'c1'],
      ['B', 'c2'],
    ]);
    for (const d of ready.dashboards) {
      const page = await fetch(`${d.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="/ui/main.js">');
      expect((await fetch(`${d.url}/ui/main.js`)).status).toBe(200);
      const login = await fetch(`${d.url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: ready.user, password: ready.password }) });
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      const clusters = (await (await fetch(`${d.url}/api/v1/clusters`, { headers: { authorization: `Bearer ${token}` } })).json()) as { clusters: { id: string; deviceCount: number; availableCount: number; agents: unknown[] }[] };
      expect(clusters.clusters.map((c) => [c.id, c.deviceCount, c.availableCount, c.agents.length])).toEqual([
        ['c1', 4, 4, 1],
        ['c2', 3, 3, 1],
      ]);
    }
  });

  it('exports the raid5 and raid1 volumes over NBD, readable by nbdinfo', () => {
    const nbdinfo = requireCommand('nbdinfo', 'libnbd-bin');
    expect(ready.exports.map((e) => [e.volume, e.level])).toEqual([
      ['v5', 'raid5'],
      ['v1', 'raid1'],
    ]);
    for (const e of ready.exports) {
      const r = spawnSync(nbdinfo, ['--size', e.uri], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(0);
      expect(Number(r.stdout.trim())).toBe(e.size);
    }
  });

  it('stops every process it started on Ctrl-C and leaves no listener or loop device', async () => {
    const pids = ready.processes.map((p) => p.pid);
    expect(pids.length).toBeGreaterThanOrEqual(4);
    expect(pids.every(processAlive)).toBe(true);
    start.child.kill('SIGINT');
    expect(await start.exited).toBe(0);
    expect(start.stdout()).toContain('"event":"stopped"');
    expect(pids.filter(processAlive)).toEqual([]);
    for (const url of [...ready.dashboards.map((d) => d.url), ...ready.exports.map((e) => e.uri)]) expect(await refuses(url)).toBe(true);
    const losetup = spawnSync(requireCommand('losetup', 'util-linux'), ['-a'], { encoding: 'utf8' });
    expect(losetup.stdout).not.toContain(dir);
  });
});

describe('Ctrl-C while the rig is starting', () => {
  it('stops what had started and exits 0, leaving no process of the rig', async () => {
    const proc = startProcess(process.execPath, [CLI_PATH, 'start', '--dir', early, '--size', '16MiB']);
    await waitFor(() => /exported at|not in this build|server A/.test(proc.stderr() + proc.stdout()) || proc.child.exitCode !== null, 60_000, 'the rig to start something', 100);
    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(proc.stderr()).toContain('[start] stopped');
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps.stdout.split('\n').filter((line) => line.includes(early))).toEqual([]);
  });
});
