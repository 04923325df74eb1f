/**
 * Seed 000 claim 19 (seed 001 claims 11, 19, 28): at a cluster, the first agent is launched if the first
 * server is configured and the second agent if the second server is configured.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { stopProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startedAgents, writeRig } from './rig.js';

const dir = tempDir('blockrig-launch-');
const devices = [{ name: 'd0', uri: 'memory:?size=1MiB' }];

describe('seed 000 claim 19, seed 001 claims 11, 19, 28: an agent is launched for each configured server', () => {
  it('launches one agent when only the first server is configured', async () => {
    const config = writeRig(dir, { servers: [{ id: 'A' }], clusters: [{ id: 'c1', devices }] }, 'one.yaml');
    const up = await clusterUp(config, 'c1', 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(startedAgents(up).map((a) => a.name)).toEqual(['A@c1']);
    await stopProcess(up.child);
  });

  it('launches two agents, one per server, when both servers are configured', async () => {
    const config = writeRig(dir, { servers: [{ id: 'A' }, { id: 'B' }], clusters: [{ id: 'c1', devices }] }, 'two.yaml');
    const up = await clusterUp(config, 'c1', 2);
    expect(startedAgents(up).map((a) => a.name).sort()).toEqual(['A@c1', 'B@c1']);
    await stopProcess(up.child);
  });

  it('refuses to start an agent for a server that is not configured', () => {
    const config = writeRig(dir, { servers: [{ id: 'A' }], clusters: [{ id: 'c1', devices }] }, 'only-a.yaml');
    const res = runCli(['agent', '--config', config, '--cluster', 'c1', '--server', 'B']);
    expect(res.status).toBe(3);
    expect(res.stderr).toContain('no server "B"');
  });
});
