/**
 * The volume table is part of the metadata region's declared layout: `meta format` reserves it (the
 * superblock's volumeSlots, inside regionBytes), a task whose data set would overlap it is refused, and a
 * region formatted without one is refused with what to do instead of a table placed where tasks write.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryDevice } from '../../drivers/memory.js';
import { ErrorCode } from '../../src/errors.js';
import { formatRegion } from '../../src/metadata/format.js';
import { RegionLayout } from '../../src/metadata/layout.js';
import { readSuperblock } from '../../src/metadata/superblock.js';
import { parseVolumeConfig } from '../../src/volume/config.js';
import { createStoredVolume } from '../../src/volume/volume-admin.js';
import { VolumeTable } from '../../src/volume/volume-table.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp.js';
import { cli, image } from './process-helpers.js';

const MiB = 1024 * 1024;
const open = (uri: string) => Promise.resolve(createMemoryDevice({ size: 2 * MiB, uri }));

describe('the volume table in the metadata region', () => {
  it('meta format reserves it inside the region; volumes are written there, before the data offset', async () => {
    const device = createMemoryDevice({ size: 32 * MiB, uri: 'memory://region-table' });
    const sb = await formatRegion(device, { geometry: { hostSlots: 4, taskSlots: 2, maxChunksPerTask: 8, volumeSlots: 3 } });
    expect(sb.geometry.volumeSlots).toBe(3);
    const layout = new RegionLayout(sb.geometry);
    expect(sb.regionBytes).toBe(layout.volumeAreaOffset + 3 * 4 * 4096);
    expect(readSuperblock(device.uri, await device.read(0, 8192)).superblock.geometry.volumeSlots).toBe(3);

    const table = new VolumeTable(device);
    expect(await table.location()).toEqual({ offset: layout.volumeAreaOffset, slots: 3, inRegion: true });
    for (const name of ['a', 'b', 'c']) await createStoredVolume(table, parseVolumeConfig({ name, level: 'raid1', members: [`${name}0`, `${name}1`] }), open, { assumeClean: true });
    // The last slot's intent copy lies inside the region; nothing was written at or after the data offset.
    const last = await device.read(layout.volumeAreaOffset + 2 * 4 * 4096, 4096);
    const other = await device.read(layout.volumeAreaOffset + 2 * 4 * 4096 + 4096, 4096);
    expect([last, other].some((b) => b.subarray(0, 8).toString('latin1') === 'BLKRVOL1')).toBe(true);
    expect((await device.read(sb.dataOffset, device.size - sb.dataOffset)).every((byte) => byte === 0)).toBe(true);
    await expect(createStoredVolume(table, parseVolumeConfig({ name: 'd', level: 'raid1', members: ['d0', 'd1'] }), open, { assumeClean: true })).rejects.toMatchObject({ code: ErrorCode.MetaFull });
  });

  it('a region formatted without a volume table is refused with what to do', async () => {
    const device = createMemoryDevice({ size: 32 * MiB, uri: 'memory://old-region' });
    await formatRegion(device, { geometry: { hostSlots: 4, taskSlots: 2, maxChunksPerTask: 8, volumeSlots: 0 } });
    const table = new VolumeTable(device);
    await expect(table.list()).rejects.toMatchObject({ code: ErrorCode.MetaVersion, message: expect.stringContaining('blockrig meta format memory://old-region --force') as string });
  });

  it('CLI: meta format reports the volume slots; a task over the volume table is refused; volume create lands in the region', () => {
    const dir = tempDir('blockrig-vol-region-');
    const meta = image(dir, 'meta.img', 48 * MiB);
    const formatted = JSON.parse(cli(['meta', 'format', meta, '--controllers', '4', '--tasks', '2', '--max-chunks', '8', '--volume-slots', '4', '--json'])) as { geometry: { volumeSlots: number }; regionBytes: number; dataOffset: number };
    expect(formatted.geometry.volumeSlots).toBe(4);
    const volumeArea = formatted.regionBytes - 4 * 4 * 4096;
    const overlap = runCli(['task', 'submit', 'fill', '--meta', meta, '--offset', String(volumeArea), '--length', '65536', '--partitions', '1', '--json']);
    expect(overlap.status).toBe(2);
    expect(overlap.stdout + overlap.stderr).toContain('overlap the metadata region');
    const members = [0, 1].map((i) => image(dir, `m${i}.img`, 4 * MiB));
    cli(['volume', 'create', 'v', '--meta', meta, '--level', 'raid1', '--assume-clean', ...members.flatMap((m) => ['--member', m])]);
    expect(JSON.parse(cli(['volume', 'status', 'v', '--meta', meta, '--json']))).toMatchObject({ name: 'v', state: 'clean' });
    const dump = JSON.parse(cli(['meta', 'dump', meta, '--json'])) as { superblock: { geometry: { volumeSlots: number } } };
    expect(dump.superblock.geometry.volumeSlots).toBe(4);
  });
});
