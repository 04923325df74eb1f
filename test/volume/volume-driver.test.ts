/**
 * The volume driver: `volume://NAME?meta=URI` opens a stored volume through the driver registry, passes the
 * contract suite healthy and degraded (with a read-only reopen of the same media), and refuses bad URIs.
 */
import { describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { resetNamedMemoryStores } from '../../drivers/memory.js';
import { ErrorCode } from '../../src/errors.js';
import { parseVolumeConfig } from '../../src/volume/config.js';
import { createStoredVolume, failStoredMember } from '../../src/volume/volume-admin.js';
import { VolumeTable } from '../../src/volume/volume-table.js';
import { testDriver } from '../drivers/contract.js';

let counter = 0;
let current = '';

/** Stores a fresh raid6 volume on named memory media and returns its URI. */
async function storeVolume(failed: number[]): Promise<string> {
  resetNamedMemoryStores();
  const tag = `vd${counter++}`;
  const meta = `memory://${tag}-meta?size=8MiB`;
  const members = [0, 1, 2, 3, 4].map((i) => `memory://${tag}-m${i}?size=4MiB`);
  const table = new VolumeTable(await openDevice(meta));
  await createStoredVolume(table, parseVolumeConfig({ name: 'v', level: 'raid6', members, chunkSize: '64KiB' }), openDevice, { assumeClean: true });
  for (const i of failed) await failStoredMember(table, 'v', i);
  await table.device.close();
  current = `volume://v?meta=${encodeURIComponent(meta)}`;
  return current;
}

for (const failed of [[], [0, 3]]) {
  testDriver(`volume driver, raid6 with ${failed.length} failed members`, {
    open: async () => openDevice(await storeVolume(failed)),
    reopenReadOnly: () => openDevice(current, { readOnly: true }),
  });
}

describe('volume driver URIs', () => {
  it('names the volume and the metadata device, and says what is wrong', async () => {
    const uri = await storeVolume([]);
    const dev = await openDevice(uri);
    expect(dev.driver).toBe('volume');
    expect(dev.uri).toBe(uri);
    expect(dev.size).toBe(3 * 4 * 1024 * 1024);
    await dev.close();
    await expect(openDevice('volume://v')).rejects.toMatchObject({ code: ErrorCode.InvalidUri });
    await expect(openDevice(uri.replace('volume://v', 'volume://w'))).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });
});
