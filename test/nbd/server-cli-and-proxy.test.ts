/**
 * `blockrig nbd serve` as a proxy of another NBD export (holes of the upstream show through block status),
 * its command-line errors, and the handshake timeout of the server on an injected clock.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createMemoryDevice } from '../../drivers/memory.js';
import { NbdServer } from '../../src/nbd/server.js';
import { runCli, CLI_PATH } from '../support/cli.js';
import { startProcess, stopProcess, waitFor } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { startNbdkit } from './peers.js';
import { RawNbdClient } from './raw-client.js';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';

const dir = tempDir('blockrig-nbd-cli-');
const MiB = 1024 * 1024;

describe('blockrig nbd serve', () => {
  it('re-exports an nbdkit export, passing its allocation map through', async () => {
    const upstream = await startNbdkit(dir, 'upstream', ['memory', '16M']);
    const nbdcopy = requireCommand('nbdcopy', 'libnbd-bin');
    const seed = spawnSync(nbdcopy, ['--', '[', 'nbdkit', 'pattern', 'size=1M', ']', upstream.uri], { encoding: 'utf8' });
    expect(seed.status, seed.stderr).toBe(0);
    const socketPath = join(dir, 'proxy.sock');
    const proxy = startProcess(process.execPath, [CLI_PATH, 'nbd', 'serve', upstream.uri, '--listen', `unix:${socketPath}`, '--name', 'proxied']);
    await waitFor(() => proxy.stdout().includes('serving') || proxy.child.exitCode !== null, 20_000, 'the proxy to listen');
    const out = spawnSync(requireCommand('nbdinfo', 'libnbd-bin'), ['--map', '--json', `nbd+unix:///proxied?socket=${socketPath}`], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const map = JSON.parse(out.stdout) as { offset: number; length: number; type: number }[];
    expect(map[0]).toMatchObject({ offset: 0, type: 0 }); // the pattern megabyte: allocated data
    const tail = map.find((e) => e.offset >= MiB);
    expect(tail?.type).toBe(3); // nbdkit memory's unwritten pages: hole and zero, as upstream says
    expect(map.reduce((n, e) => n + e.length, 0)).toBe(16 * MiB);
  });

  it('exports a loop device, and blockrig device probe reads it back through the nbd driver', async () => {
    requireRoot('attaching a loop device');
    const image = join(dir, 'loop.img');
    writeFileSync(image, Buffer.alloc(4 * MiB, 0x4c));
    const socketPath = join(dir, 'loop.sock');
    const server = startProcess(process.execPath, [CLI_PATH, 'nbd', 'serve', `loop://${image}`, '--listen', `unix:${socketPath}`, '--name', 'loop', '--read-only']);
    await waitFor(() => server.stdout().includes('serving') || server.child.exitCode !== null, 20_000, 'the loop export to listen');
    expect(server.stdout()).toMatch(/serving loop:\/\/.* as nbd\+unix:\/\/\/loop\?socket=.* \(read-only\)/);
    const probe = runCli(['device', 'probe', `nbd+unix:///loop?socket=${socketPath}`, '--json']);
    expect(probe.status, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toMatchObject({ driver: 'nbd', size: 4 * MiB, capabilities: { readOnly: true, multiConn: true } });
    await stopProcess(server.child);
    expect(server.child.exitCode).toBe(0);
  });

  it('exports a device carrying a filesystem read-only unless --force is given', async () => {
    const image = join(dir, 'ext4.img');
    const content = Buffer.alloc(4 * MiB);
    content.writeUInt16LE(0xef53, 1024 + 56); // an ext2/3/4 superblock magic
    writeFileSync(image, content);
    for (const force of [false, true]) {
      const socketPath = join(dir, `ext4-${force}.sock`);
      const server = startProcess(process.execPath, [CLI_PATH, 'nbd', 'serve', image, '--listen', `unix:${socketPath}`, ...(force ? ['--force'] : [])]);
      await waitFor(() => server.stdout().includes('serving') || server.child.exitCode !== null, 20_000, 'the export to listen');
      expect(server.stdout().includes('(read-only)')).toBe(!force);
      const info = spawnSync(requireCommand('nbdinfo', 'libnbd-bin'), ['--json', `nbd+unix:///disk0?socket=${socketPath}`], { encoding: 'utf8' });
      expect((JSON.parse(info.stdout) as { exports: { is_read_only: boolean }[] }).exports[0]?.is_read_only).toBe(!force);
      await stopProcess(server.child);
    }
  });

  it('refuses a bad --listen with BLOCKRIG_E_INVALID_ARGUMENT (exit 2)', () => {
    const result = runCli(['nbd', 'serve', 'memory:?size=1MiB', '--listen', 'nowhere', '--json']);
    expect(result.status).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'BLOCKRIG_E_INVALID_ARGUMENT' } });
  });

  it('refuses to listen on a path that holds a regular file, and leaves the file alone', () => {
    const precious = join(dir, 'precious.txt');
    writeFileSync(precious, 'keep me');
    const result = runCli(['nbd', 'serve', 'memory:?size=1MiB', '--listen', `unix:${precious}`]);
    expect(result.status).toBe(11);
    expect(result.stderr).toContain('is not a socket');
    expect(readFileSync(precious, 'utf8')).toBe('keep me');
  });

  it('refuses more names than devices', () => {
    const result = runCli(['nbd', 'serve', 'memory:?size=1MiB', '--listen', '127.0.0.1:0', '--name', 'a', '--name', 'b']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('at most one name per device');
  });

  it('reports a device that does not exist with BLOCKRIG_E_DEVICE_NOT_FOUND (exit 3)', () => {
    const result = runCli(['nbd', 'serve', join(dir, 'missing.img'), '--listen', '127.0.0.1:0']);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('BLOCKRIG_E_DEVICE_NOT_FOUND');
  });

  it('shows examples in --help', () => {
    const result = runCli(['nbd', 'serve', '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('blockrig nbd serve ./disk.img --listen 127.0.0.1:10809');
  });
});

describe('nbd server handshake timeout', () => {
  it('drops a client that stays in negotiation past the timeout, on the injected clock', async () => {
    const clock = new ManualClock();
    const server = new NbdServer({ clock, handshakeTimeoutMs: 30_000 });
    server.addExport('disk', createMemoryDevice({ size: MiB }));
    const socketPath = join(dir, 'timeout.sock');
    await server.listen({ kind: 'unix', path: socketPath });
    try {
      const { client } = await RawNbdClient.connect(socketPath);
      await clock.advance(29_000);
      client.send(Buffer.from([0, 0, 0, 1])); // still negotiating, well within the limit so far
      await clock.advance(2_000);
      expect(await client.closedWithin(5000)).toBe(true);
    } finally {
      await server.close();
    }
  });
});
