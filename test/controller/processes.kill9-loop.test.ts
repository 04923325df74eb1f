/**
 * Real processes on a loop device: the kill -9 scenario of `kill9.ts` (four controllers fill 4,096
 * partitions while random ones are killed and replaced; verify 0 mismatches; no overlapping executions;
 * meta check clean).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { DEVICE_BYTES, fillUnderKills } from './kill9.js';

describe('controller processes on a loop device', () => {
  let loopDevice: string | undefined;
  afterAll(() => {
    if (loopDevice !== undefined) execFileSync('losetup', ['-d', loopDevice]);
  });

  it('fill of 4,096 partitions survives kill -9 of random controllers; verify finds 0 mismatches; no overlapping executions; meta check clean', async () => {
    requireRoot('attaching a loop device');
    requireCommand('losetup', 'mount');
    const dir = tempDir();
    const image = join(dir, 'shared.img');
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', String(DEVICE_BYTES), image]);
    loopDevice = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    await fillUnderKills(loopDevice, dir, 4096);
  }, 240_000);
});
