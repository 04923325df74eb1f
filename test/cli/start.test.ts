import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-start-');

describe('blockrig start (interim main job)', () => {
  it('verifies a pattern on three file members and, as root, on loop devices over them', () => {
    requireRoot('the loop part of blockrig start');
    const result = runCli(['start', '--dir', dir, '--size', '8MiB', '--pattern', '4MiB', '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as { loopDevices: boolean; devices: { member: string; driver: string; verified: boolean; patternBytes: number; size: number; writeBytesPerSecond: number }[] };
    expect(report.loopDevices).toBe(true);
    expect(report.devices.map((d) => `${d.member}/${d.driver}`)).toEqual(['member0/file', 'member0/loop', 'member1/file', 'member1/loop', 'member2/file', 'member2/loop']);
    for (const device of report.devices) {
      expect(device).toMatchObject({ verified: true, patternBytes: 4 * 1024 * 1024, size: 8 * 1024 * 1024 });
      expect(device.writeBytesPerSecond).toBeGreaterThan(0);
    }
    for (const member of [0, 1, 2]) expect(statSync(join(dir, 'start', `member${member}.img`)).size).toBe(8 * 1024 * 1024);
  });

  it('prints a table for people, and skips loop devices with --no-loop', () => {
    const result = runCli(['start', '--dir', dir, '--size', '4MiB', '--pattern', '1MiB', '--no-loop']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/MEMBER\s+DRIVER\s+DEVICE/);
    expect(result.stdout).toContain('loop devices skipped (--no-loop)');
    expect(result.stdout).toContain('all 3 devices verified');
    expect(existsSync(join(dir, 'start', 'member2.img'))).toBe(true);
  });

  it('exits 2 naming a bad option', () => {
    const result = runCli(['start', '--dir', dir, '--pattern', '1KiB']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--pattern 1KiB is below 1 MiB');
  });
});
