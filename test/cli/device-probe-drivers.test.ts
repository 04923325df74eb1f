import { execFileSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLoopDevice } from '../../drivers/loop.js';
import { runCli } from '../support/cli.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-probe-');
const MiB = 1024 * 1024;

function blankImage(name: string, size = 8 * MiB): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

describe('blockrig device probe on real devices', () => {
  it('describes an image file, and names the filesystem it carries', () => {
    requireCommand('mkfs.ext4', 'e2fsprogs');
    const path = blankImage('probe.img', 16 * MiB);
    const blank = runCli(['device', 'probe', path, '--json']);
    expect(blank.status).toBe(0);
    expect(JSON.parse(blank.stdout)).toMatchObject({ driver: 'file', size: 16 * MiB, logicalBlockSize: 512, signature: null, capabilities: { trim: true, flush: true } });
    execFileSync('mkfs.ext4', ['-q', '-F', path], { stdio: 'pipe' });
    const human = runCli(['device', 'probe', `file://${path}?direct=1`]);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/block size:\s+4096 logical/);
    expect(human.stdout).toMatch(/signature:\s+an ext4 filesystem at offset 1080 \(writes need --force\)/);
  });

  it('describes a loop device by its /dev path and attaches one itself for a loop: URI', async () => {
    requireRoot('attaching loop devices');
    const image = blankImage('probe-loop.img', 12 * MiB);
    const loop = await createLoopDevice({ image });
    try {
      const byPath = runCli(['device', 'probe', loop.path, '--json']);
      expect(byPath.status).toBe(0);
      expect(JSON.parse(byPath.stdout)).toMatchObject({ driver: 'file', uri: loop.path, size: 12 * MiB, logicalBlockSize: 512 });
    } finally {
      await loop.close();
    }
    const byUri = runCli(['device', 'probe', `loop://${image}`]);
    expect(byUri.status).toBe(0);
    expect(byUri.stdout).toMatch(/driver:\s+loop/);
    expect(byUri.stdout).toMatch(/size:\s+12\.0 MiB/);
  });

  it('exits 3 naming a path that does not exist', () => {
    const result = runCli(['device', 'probe', '/dev/nonexistent']);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('device "/dev/nonexistent" does not exist');
    expect(result.stderr).toContain('BLOCKRIG_E_DEVICE_NOT_FOUND');
  });

  it('describes a fault-wrapped memory device', () => {
    const result = runCli(['device', 'probe', 'fault:memory:?size=8MiB', '--json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ driver: 'fault', size: 8 * MiB, available: true, signature: null });
  });
});
