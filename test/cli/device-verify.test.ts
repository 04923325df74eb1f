import { execFileSync } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFaultDevice } from '../../drivers/fault.js';
import { createMemoryDevice } from '../../drivers/memory.js';
import { ErrorCode } from '../../src/errors.js';
import { patternAt, writeAndVerify } from '../../src/cli/pattern-check.js';
import { runCli } from '../support/cli.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-verify-');
const MiB = 1024 * 1024;

function blankImage(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

describe('blockrig device verify', () => {
  it('writes and verifies a pattern on an image, at an offset', () => {
    const path = blankImage('verify.img', 8 * MiB);
    const result = runCli(['device', 'verify', path, '--bytes', '3MiB', '--offset', '1MiB', '--seed', '9', '--json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ driver: 'file', offset: MiB, bytes: 3 * MiB, verified: true });
    const image = readFileSync(path);
    expect(image.subarray(0, MiB).every((b) => b === 0)).toBe(true);
    expect(Buffer.compare(image.subarray(MiB, 2 * MiB), patternAt(9, MiB, MiB))).toBe(0);
    expect(image.subarray(4 * MiB).every((b) => b === 0)).toBe(true);
  });

  it('refuses an ext4 image with exit 4 naming the filesystem, and overwrites it with --force', () => {
    requireCommand('mkfs.ext4', 'e2fsprogs');
    const path = blankImage('ext4.img', 16 * MiB);
    execFileSync('mkfs.ext4', ['-q', '-F', path], { stdio: 'pipe' });
    const refused = runCli(['device', 'verify', path, '--bytes', '1MiB']);
    expect(refused.status).toBe(4);
    expect(refused.stderr).toContain('carries an ext4 filesystem');
    expect(refused.stderr).toContain('--force');
    expect(refused.stderr).toContain(ErrorCode.ForeignData);
    const forced = runCli(['device', 'verify', path, '--bytes', '1MiB', '--force']);
    expect(forced.status).toBe(0);
    expect(forced.stdout).toMatch(/verified:\s+1\.00 MiB from offset 0/);
  });

  it('exits 2 for an offset off the block grid', () => {
    const path = blankImage('odd.img', MiB);
    const result = runCli(['device', 'verify', path, '--offset', '100']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--offset 100 must be a multiple of the 512-byte block size');
  });
});

describe('writeAndVerify', () => {
  it('catches silent corruption with BLOCKRIG_E_TASK_FAILED naming the offset', async () => {
    const dev = createFaultDevice(createMemoryDevice({ size: 4 * MiB }), { rules: [{ kind: 'bitflip', on: 'write', offset: 2 * MiB, length: 4096, count: 1 }] });
    const err = await writeAndVerify(dev, { seed: 3, bytes: 4 * MiB }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.TaskFailed, details: { offset: 2 * MiB } });
    await expect(writeAndVerify(dev, { seed: 3, bytes: 4 * MiB })).resolves.toMatchObject({ bytes: 4 * MiB });
  });

  it('stamps each 4 KiB block so that blocks are not interchangeable', () => {
    expect(Buffer.compare(patternAt(1, 0, 4096), patternAt(1, 4096, 4096))).not.toBe(0);
    expect(Buffer.compare(patternAt(1, 0, 4096), patternAt(2, 0, 4096))).not.toBe(0);
    expect(Buffer.compare(patternAt(1, 8192, 4096), patternAt(1, 8192, 4096))).toBe(0);
  });
});
