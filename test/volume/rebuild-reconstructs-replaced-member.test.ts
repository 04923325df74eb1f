/**
 * Rebuild: a replaced member is reconstructed byte for byte, in partitions out of order, while writes
 * race it; unreadable source blocks become bad blocks and the rebuild goes on; a second member gone stops
 * it with VolumeFailedError.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryDevice } from '../../drivers/memory.js';
import { ErrorCode } from '../../src/errors.js';
import type { VolumeEvent } from '../../src/volume/index.js';
import { LEVELS, makeMember, makeVolume, patternBytes } from './helpers.js';

const MEMBER = 1024 * 1024;
const CHUNK = 16 * 1024;

describe('rebuild', () => {
  for (const { level, members } of LEVELS) {
    it(`${level}: reconstructs a replaced member exactly and returns to clean`, async () => {
      const { volume, members: devices } = makeVolume(level, members, MEMBER, CHUNK);
      await volume.write(0, patternBytes(volume.size, 21));
      const victim = 1;
      const original = await (devices[victim]?.medium.read(0, MEMBER) as Promise<Buffer>);
      const events: VolumeEvent[] = [];
      volume.onEvent((e) => events.push(e));

      volume.failMember(victim, 'pulled');
      const replacement = createMemoryDevice({ size: MEMBER });
      const old = volume.replaceMember(victim, replacement);
      expect(old).toBe(devices[victim]?.device);
      expect(volume.status().members[victim]).toMatchObject({ state: 'rebuilding', rebuiltRows: 0, uri: replacement.uri });
      const result = await volume.rebuildRows(victim, 0, volume.layout.rows);
      expect(result).toMatchObject({ member: victim, rowsRebuilt: volume.layout.rows, unreadable: [] });
      expect((await replacement.read(0, volume.layout.rows * CHUNK)).equals(original.subarray(0, volume.layout.rows * CHUNK))).toBe(true);
      expect(volume.volumeState).toBe('clean');
      expect(events.map((e) => (e.type === 'member-state' ? `${e.member}:${e.to}` : `volume:${e.to}`))).toEqual([
        `${victim}:failed`,
        'volume:degraded',
        `${victim}:rebuilding`,
        'volume:rebuilding',
        `${victim}:in-sync`,
        'volume:clean',
      ]);
      await volume.close();
    });

    it(`${level}: partitions rebuilt out of order while writes race them leave no stale data`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 8, maxLength: 8 }),
          fc.array(fc.record({ block: fc.nat(), blocks: fc.integer({ min: 1, max: 64 }), seed: fc.nat() }), { minLength: 5, maxLength: 30 }),
          async (order, writes) => {
            const { volume } = makeVolume(level, members, MEMBER, CHUNK);
            const model = patternBytes(volume.size, 1);
            await volume.write(0, model);
            volume.failMember(0);
            volume.replaceMember(0, createMemoryDevice({ size: MEMBER }));
            const rows = volume.layout.rows;
            const part = rows / 8;
            const blocks = volume.size / 512;
            // Non-overlapping writes, each issued after a few event-loop turns so they land between, before
            // and after the partitions' batches.
            const region = Math.floor(blocks / writes.length);
            const racing = writes.map(async (w, i) => {
              for (let turn = 0; turn < w.seed % 6; turn++) await new Promise((resolve) => setImmediate(resolve));
              const length = Math.min(w.blocks, region);
              const offset = (i * region + (w.block % (region - length + 1))) * 512;
              const data = patternBytes(length * 512, w.seed);
              data.copy(model, offset);
              await volume.write(offset, data);
            });
            await Promise.all([...order.map((p) => volume.rebuildRows(0, p * part, (p + 1) * part)), ...racing]);
            expect(volume.volumeState).toBe('clean');
            expect((await volume.scrubRows(0, rows)).mismatches).toEqual([]);
            volume.failMember(1);
            expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
          },
        ),
        { numRuns: 15 },
      );
    });
  }

  it('raid5: unreadable source blocks become bad blocks of the new member and the rebuild goes on', async () => {
    const devices = Array.from({ length: 3 }, (_, i) => makeMember(MEMBER, `bb-${i}`));
    const { createVolume } = await import('../../src/volume/index.js');
    const volume = createVolume({ name: 'bb', level: 'raid5', chunkSize: CHUNK, members: devices.map((d) => d.device), errorThreshold: 1000 });
    await volume.write(0, patternBytes(volume.size, 2));
    volume.failMember(0);
    devices[2]?.device.addRule({ kind: 'error', ops: ['read'], offset: 3 * CHUNK + 8192, length: 512 });
    volume.replaceMember(0, createMemoryDevice({ size: MEMBER }));
    const result = await volume.rebuildRows(0, 0, volume.layout.rows);
    expect(result.unreadable).toEqual([{ offset: 3 * CHUNK + 8192, length: 4096 }]);
    expect(volume.status().members[0]).toMatchObject({ state: 'in-sync', badBlocks: [{ offset: 3 * CHUNK + 8192, length: 4096 }] });
    expect(volume.status().members[2]?.state).toBe('in-sync');
    // The bad block is refused, not served as garbage; everything else reads.
    const map = volume.layout.rowMap(3);
    const dataIndex = map.data.indexOf(0) >= 0 ? map.data.indexOf(0) : map.data.indexOf(2);
    await expect(volume.read(volume.layout.volumeOffset(3, dataIndex, 8192), 512)).rejects.toMatchObject({ code: ErrorCode.VolumeFailed });
    await expect(volume.read(0, 3 * volume.layout.rowBytes)).resolves.toHaveLength(3 * volume.layout.rowBytes);
    await volume.close();
  });

  it('raid5: a second member going offline stops the rebuild with VolumeFailedError, rows done stay rebuilt', async () => {
    const { volume, members: devices } = makeVolume('raid5', 3, MEMBER, CHUNK);
    await volume.write(0, patternBytes(volume.size, 4));
    volume.failMember(0);
    volume.replaceMember(0, createMemoryDevice({ size: MEMBER }));
    await volume.rebuildRows(0, 0, 16);
    devices[1]?.device.setOffline(true, 'pulled');
    expect(volume.status().members[1]?.state).toBe('in-sync');
    await expect(volume.rebuildRows(0, 16, volume.layout.rows)).rejects.toMatchObject({ code: ErrorCode.VolumeFailed });
    expect(volume.status().members[0]?.rebuiltRows).toBe(16);
    await volume.close();
  });

  it('refuses to rebuild a member that is not rebuilding, and to replace one that has not failed', async () => {
    const { volume } = makeVolume('raid6', 4, MEMBER, CHUNK);
    await expect(volume.rebuildRows(0, 0, 1)).rejects.toMatchObject({ code: ErrorCode.Conflict });
    expect(() => volume.replaceMember(0, createMemoryDevice({ size: MEMBER }))).toThrow(expect.objectContaining({ code: ErrorCode.Conflict }) as Error);
    volume.failMember(0);
    expect(() => volume.replaceMember(0, createMemoryDevice({ size: CHUNK }))).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }) as Error);
    await volume.close();
  });
});
