/**
 * Real processes on an nbdkit export: every controller attaches the export over its own NBD connection, as
 * separate hosts would, and the kill -9 scenario of `kill9.ts` runs on it.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { DEVICE_BYTES, fillUnderKills } from './kill9.js';

describe('controller processes on an nbdkit export', () => {
  it('fill of 4,096 partitions over separate NBD connections survives kill -9 of random controllers; verify 0 mismatches; no overlaps; meta check clean', async () => {
    requireCommand('nbdkit', 'nbdkit');
    const dir = tempDir();
    const image = join(dir, 'export.img');
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', String(DEVICE_BYTES), image]);
    const socket = join(dir, 'nbd.sock');
    // -f: stay in the foreground so the test's process tracking stops it by its pid.
    const server = startProcess('nbdkit', ['-f', '--exit-with-parent', '-U', socket, 'file', image]);
    await waitFor(() => existsSync(socket) || server.child.exitCode !== null, 20_000, 'nbdkit to listen');
    if (!existsSync(socket)) throw new Error(`nbdkit did not start: ${server.stderr()}`);
    await fillUnderKills(`nbd+unix:///?socket=${socket}`, dir, 2048);
  }, 240_000);
});
