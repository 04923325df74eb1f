/**
 * Scrub on every level: silent corruption (bits flipped by the fault driver as a member stores them) is
 * counted and located by row, member offset and member; repair fixes it and a second scrub finds nothing.
 */
import { describe, expect, it } from 'vitest';
import { LEVELS, makeVolume, patternBytes } from './helpers.js';

const MEMBER = 1024 * 1024;
const CHUNK = 16 * 1024;
const ROW = 5;
const IN_CHUNK = 2048;

describe('scrub', () => {
  for (const { level, members } of LEVELS) {
    it(`${level}: locates a corrupted data chunk, repairs it, and rescrubs clean`, async () => {
      const { volume, members: devices } = makeVolume(level, members, MEMBER, CHUNK);
      const map = volume.layout.rowMap(ROW);
      const victim = map.data[1] as number;
      const at = volume.layout.memberOffset(ROW, IN_CHUNK);
      devices[victim]?.device.addRule({ kind: 'bitflip', on: 'write', offset: at, length: 512, bits: 3, count: 1 });
      const model = patternBytes(volume.size, 11);
      await volume.write(0, model);

      const check = await volume.scrubRows(0, volume.layout.rows);
      expect(check.rowsChecked).toBe(volume.layout.rows);
      expect(check.mismatchBytes).toBe(512);
      const [found] = check.mismatches;
      expect(check.mismatches).toHaveLength(1);
      expect(found).toMatchObject({ row: ROW, memberOffset: at, length: 512, repaired: false });
      if (level === 'raid1') expect(found).toMatchObject({ kind: 'mirror', members: [victim] });
      if (level === 'raid5') expect(found).toMatchObject({ kind: 'p', members: [map.p] });
      if (level === 'raid6') expect(found).toMatchObject({ kind: 'data', members: [victim] });
      // check changes nothing
      expect((await volume.scrubRows(ROW, ROW + 1)).mismatches).toHaveLength(1);

      const repair = await volume.scrubRows(ROW, ROW + 1, { repair: true });
      expect(repair.mismatches[0]?.repaired).toBe(true);
      expect((await volume.scrubRows(0, volume.layout.rows)).mismatches).toEqual([]);
      if (level !== 'raid5') {
        // raid1 and raid6 know which copy is wrong and restore the data itself.
        expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
      } else {
        // raid5 cannot tell data from parity: like md it rewrites P, so the flipped data stays as read.
        const back = await volume.read(0, volume.size);
        const off = volume.layout.volumeOffset(ROW, 1, IN_CHUNK);
        expect(back.subarray(off, off + 512).equals(model.subarray(off, off + 512))).toBe(false);
        expect(back.subarray(0, off).equals(model.subarray(0, off))).toBe(true);
      }
      await volume.close();
    });
  }

  it('raid5: a corrupted parity chunk is located on P, and after repair a lost data member is rebuilt right', async () => {
    const { volume, members: devices } = makeVolume('raid5', 4, MEMBER, CHUNK);
    const map = volume.layout.rowMap(ROW);
    const at = volume.layout.memberOffset(ROW, 0);
    devices[map.p as number]?.device.addRule({ kind: 'bitflip', on: 'write', offset: at, length: CHUNK, bits: 20, count: 1 });
    const model = patternBytes(volume.size, 3);
    await volume.write(0, model);
    const check = await volume.scrubRows(0, volume.layout.rows);
    expect(check.mismatches.length).toBeGreaterThan(0);
    expect(check.mismatches.every((m) => m.row === ROW && m.kind === 'p' && m.members[0] === map.p)).toBe(true);
    await volume.scrubRows(0, volume.layout.rows, { repair: true });
    volume.failMember(map.data[0] as number);
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.close();
  });

  it('raid6: corruption of P and Q together is reported as pq and repaired from the data', async () => {
    const { volume, members: devices } = makeVolume('raid6', 5, MEMBER, CHUNK);
    const model = patternBytes(volume.size, 5);
    await volume.write(0, model);
    const map = volume.layout.rowMap(ROW);
    const at = volume.layout.memberOffset(ROW, 0);
    await devices[map.p as number]?.medium.write(at, Buffer.alloc(512, 1));
    await devices[map.q as number]?.medium.write(at, Buffer.alloc(512, 2));
    const check = await volume.scrubRows(ROW, ROW + 1, { repair: true });
    expect(check.mismatches).toEqual([{ row: ROW, kind: 'pq', memberOffset: at, length: 512, members: [map.p, map.q], repaired: true }]);
    volume.failMember(map.data[0] as number);
    volume.failMember(map.data[1] as number);
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.close();
  });

  it('raid1: with two copies agreeing the third is the minority; a degraded two-way tie keeps the lower member', async () => {
    const { volume, members: devices } = makeVolume('raid1', 3, MEMBER, CHUNK);
    const model = patternBytes(volume.size, 9);
    await volume.write(0, model);
    await devices[0]?.medium.write(4096, Buffer.alloc(1024, 0xee));
    const check = await volume.scrubRows(0, volume.layout.rows, { repair: true });
    expect(check.mismatches).toEqual([{ row: 0, kind: 'mirror', memberOffset: 4096, length: 1024, members: [0], repaired: true }]);
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);

    volume.failMember(2);
    await devices[1]?.medium.write(0, Buffer.alloc(512, 0xaa));
    const tie = await volume.scrubRows(0, 1, { repair: true });
    expect(tie.mismatches).toEqual([{ row: 0, kind: 'mirror', memberOffset: 0, length: 512, members: [1], repaired: true }]);
    expect((await devices[1]?.medium.read(0, 512))?.equals(model.subarray(0, 512))).toBe(true);
    await volume.close();
  });

  it('skips rows it cannot check when a raid5 is degraded', async () => {
    const { volume } = makeVolume('raid5', 3, MEMBER, CHUNK);
    volume.failMember(0);
    const result = await volume.scrubRows(0, 4);
    expect(result).toMatchObject({ rowsChecked: 0, rowsSkipped: 4, mismatches: [] });
    await expect(volume.scrubRows(0, volume.layout.rows + 1)).rejects.toMatchObject({ code: 'BLOCKRIG_E_INVALID_ARGUMENT' });
    await volume.close();
  });
});
