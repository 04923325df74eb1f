import { describe, expect, it } from 'vitest';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { startPtyPair } from './pty.js';

const dir = tempDir();

describe('blockrig serial', () => {
  it('switches a simulated relay board through a pty and prints status as a table and as JSON', async () => {
    const pty = await startPtyPair(dir, 'cli-relay');
    const sim = startProcess(process.execPath, [CLI_PATH, 'serial', 'simulate', 'relay', pty.device, '--channels', '3']);
    await waitFor(() => sim.stderr().includes('simulated relay'), 10_000, 'the simulated relay to start');
    const off = runCli(['serial', 'relay', pty.host, 'off', '2', '--json']);
    expect(off.status).toBe(0);
    expect(JSON.parse(off.stdout)).toEqual({
      port: pty.host,
      channels: [
        { channel: 1, power: 'on' },
        { channel: 2, power: 'off' },
        { channel: 3, power: 'on' },
      ],
    });
    const table = runCli(['serial', 'relay', pty.host, 'status']);
    expect(table.stdout).toMatch(/2\s+off/);
    const refused = runCli(['serial', 'relay', pty.host, 'off', '7']);
    expect(refused.status).toBe(5);
    expect(refused.stderr).toContain('no channel 7');
  });

  it('rejects bad arguments with exit 2 naming the field', () => {
    const noChannel = runCli(['serial', 'relay', '/dev/null', 'off']);
    expect(noChannel.status).toBe(2);
    expect(noChannel.stderr).toContain('needs a channel');
    const badOp = runCli(['serial', 'relay', '/dev/null', 'explode', '1']);
    expect(badOp.status).toBe(2);
    expect(badOp.stderr).toContain('operation');
    const badRegex = runCli(['serial', 'console', '/dev/null', '--expect', '(']);
    expect(badRegex.status).toBe(2);
    expect(badRegex.stderr).toContain('--expect');
  });

  it('talks to a simulated firmware console', async () => {
    const pty = await startPtyPair(dir, 'cli-console');
    const sim = startProcess(process.execPath, [CLI_PATH, 'serial', 'simulate', 'console', pty.device]);
    await waitFor(() => sim.stderr().includes('simulated console'), 10_000, 'the simulated console to start');
    const result = runCli(['serial', 'console', pty.host, '--send', 'version', '--expect', 'version (\\S+)', '--json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ groups: ['1.4.2'] });
  });
});
