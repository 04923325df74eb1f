import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

describe('blockrig device probe', () => {
  it('describes a memory device for people and for scripts', () => {
    const human = runCli(['device', 'probe', 'memory:?size=64MiB']);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/size:\s+64\.0 MiB \(67108864 bytes\)/);
    expect(human.stdout).toMatch(/block size:\s+512 logical, 4096 physical/);
    const json = runCli(['device', 'probe', 'memory:?size=64MiB&blockSize=4096', '--json']);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ driver: 'memory', size: 67108864, logicalBlockSize: 4096, available: true });
  });

  it('exits 2 with a coded message for an unknown scheme and for a missing argument', () => {
    const unknown = runCli(['device', 'probe', 'bogus:thing']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('BLOCKRIG_E_UNKNOWN_DRIVER');
    const json = runCli(['device', 'probe', 'bogus:thing', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'BLOCKRIG_E_UNKNOWN_DRIVER' } });
    expect(runCli(['device', 'probe']).status).toBe(2);
  });

  it('names the problem with a memory URI without a size', () => {
    const result = runCli(['device', 'probe', 'memory:']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('needs a size');
  });
});

describe('blockrig output into a closed pipe', () => {
  it('exits quietly when the reader stops early', async () => {
    const { spawnSync } = await import('node:child_process');
    const { CLI_PATH } = await import('../support/cli.js');
    const result = spawnSync('sh', ['-c', `node ${CLI_PATH} device drivers --json | true; node ${CLI_PATH} device probe memory:?size=1MiB | true`], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stderr).not.toMatch(/EPIPE|Error/);
  });
});
