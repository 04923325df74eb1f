/**
 * `blockrig volume fail|replace --server`: the dashboard's member forms from the CLI, through the servers,
 * with the same refusals as the volume table.
 */
import { writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '../../src/wire/index.js';
import { clusterUp, startServer, TEST_PASSWORD, writeRig, type ServerHandle } from '../cluster/rig.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir();
let serverA: ServerHandle;
let serverB: ServerHandle;
const passwordFile = join(dir, 'password');

beforeAll(async () => {
  for (const name of ['d0', 'd1', 'd2']) {
    writeFileSync(join(dir, `${name}.img`), '');
    truncateSync(join(dir, `${name}.img`), 4 << 20);
  }
  const table = join(dir, 'volumes.img');
  writeFileSync(table, '');
  truncateSync(table, 1 << 20);
  const created = runCli(['volume', 'create', 'mirror', '--meta', table, '--level', 'raid1', '--member', join(dir, 'd0.img'), '--member', join(dir, 'd1.img'), '--assume-clean', '--json']);
  expect(created.status, created.stderr).toBe(0);
  writeFileSync(passwordFile, `${TEST_PASSWORD}\n`);
  const config = writeRig(dir, {
    servers: [
      { id: 'A', cluster: 'c1' },
      { id: 'B', cluster: 'c1' },
    ],
    clusters: [{ id: 'c1', devices: ['d0', 'd1', 'd2'].map((name) => ({ name, uri: join(dir, `${name}.img`) })), volumes: table }],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  await clusterUp(config, 'c1', 2);
  await waitFor(async () => {
    const [a, b] = await Promise.all([serverA.get<{ agents: AgentView[] }>('/api/v1/agents'), serverB.get<{ agents: AgentView[] }>('/api/v1/agents')]);
    return a.agents.some((x) => x.alive) && b.agents.some((x) => x.alive);
  }, 20_000, 'an agent registered with each server');
});

const viaServers = (...args: string[]) => runCli(['volume', ...args, '--cluster', 'c1', '--server', serverA.url, '--server', serverB.url, '--password-file', passwordFile]);

describe('blockrig volume fail|replace through a server', () => {
  it('fails a member and shows the volume degraded, in a table and as JSON', () => {
    const failed = viaServers('fail', 'mirror', '--member', '1', '--json');
    expect(failed.status, failed.stderr).toBe(0);
    const volume = JSON.parse(failed.stdout) as { state: string; members: { index: number; state: string; device: string | null }[] };
    expect(volume.state).toBe('degraded');
    expect(volume.members[1]).toMatchObject({ state: 'failed', device: 'd1' });
    const again = viaServers('fail', 'mirror', '--member', '0');
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/lose data/);
  });

  it('replaces the failed member with a device of the cluster, and names a missing --with', () => {
    const missing = viaServers('replace', 'mirror', '--member', '1');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--with');
    const replaced = viaServers('replace', 'mirror', '--member', '1', '--with', 'd2', '--json');
    expect(replaced.status, replaced.stderr).toBe(0);
    const volume = JSON.parse(replaced.stdout) as { members: { index: number; state: string; device: string | null }[] };
    expect(volume.members[1]?.device).toBe('d2');
    expect(volume.members[1]?.state).not.toBe('failed');
  });

  it('refuses without --meta or --server, and without --cluster through a server', () => {
    const neither = runCli(['volume', 'fail', 'mirror', '--member', '1'], { env: { BLOCKRIG_SERVER: '' } });
    expect(neither.status).toBe(2);
    expect(neither.stderr).toContain('--meta URI, or go through a server');
    const noCluster = runCli(['volume', 'fail', 'mirror', '--member', '1', '--server', serverA.url, '--password-file', passwordFile]);
    expect(noCluster.status).toBe(2);
    expect(noCluster.stderr).toContain('--cluster');
  });
});
