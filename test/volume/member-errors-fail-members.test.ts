/**
 * Member error accounting: read errors are corrected from redundancy and counted, past the threshold the
 * member is failed; a write error or a member going offline fails it at once; a spare takes the failed
 * slot; the volume refuses to lose more members than its level tolerates.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryDevice } from '../../drivers/memory.js';
import { ErrorCode } from '../../src/errors.js';
import { createVolume, type VolumeLevel } from '../../src/volume/index.js';
import { makeMember, patternBytes } from './helpers.js';

const MEMBER = 1024 * 1024;
const CHUNK = 16 * 1024;

function build(level: VolumeLevel, count: number, errorThreshold = 3, spares = 0): { volume: ReturnType<typeof createVolume>; devices: ReturnType<typeof makeMember>[] } {
  const devices = Array.from({ length: count + spares }, (_, i) => makeMember(MEMBER, `err-${level}-${i}`));
  const volume = createVolume({
    name: `err-${level}`,
    level,
    chunkSize: CHUNK,
    members: devices.slice(0, count).map((d) => d.device),
    spares: devices.slice(count).map((d) => d.device),
    errorThreshold,
  });
  return { volume, devices };
}

describe('member errors', () => {
  for (const level of ['raid1', 'raid5', 'raid6'] as const) {
    it(`${level}: read errors are corrected and counted, and fail the member past the threshold`, async () => {
      const { volume, devices } = build(level, 4);
      const model = patternBytes(volume.size, 8);
      await volume.write(0, model);
      // Member 0 fails every read of a row where it holds data; raid1 reads rotate, so read enough to hit it.
      const row = Array.from({ length: 4 }, (_, r) => r).find((r) => volume.layout.rowMap(r).data.includes(0)) as number;
      devices[0]?.device.addRule({ kind: 'error', ops: ['read'], offset: volume.layout.memberOffset(row), length: CHUNK });
      const rowStart = row * volume.layout.rowBytes;
      for (let i = 0; i < 16 && volume.status().members[0]?.state === 'in-sync'; i++) {
        expect((await volume.read(rowStart, volume.layout.rowBytes)).equals(model.subarray(rowStart, rowStart + volume.layout.rowBytes))).toBe(true);
      }
      const status = volume.status();
      expect(status.members[0]).toMatchObject({ state: 'failed', readErrors: 4 });
      expect(status.members[0]?.reason).toMatch(/4 read errors/);
      expect(status.state).toBe('degraded');
      expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
      await volume.close();
    });

    it(`${level}: a write error fails the member at once and the write still succeeds`, async () => {
      const { volume, devices } = build(level, 4);
      devices[2]?.device.addRule({ kind: 'error', ops: ['write'], offset: 0 });
      const data = patternBytes(volume.layout.rowBytes * 3, 4);
      await volume.write(0, data);
      expect(volume.status().members[2]?.state).toBe('failed');
      expect(volume.status().members[2]?.writeErrors).toBeGreaterThan(0);
      expect((await volume.read(0, data.length)).equals(data)).toBe(true);
      await volume.close();
    });
  }

  it('a member going offline is failed and a spare takes its slot as a rebuilding member', async () => {
    const { volume, devices } = build('raid5', 3, 3, 1);
    const model = patternBytes(volume.size, 12);
    await volume.write(0, model);
    const original = await devices[1]?.medium.read(0, CHUNK);
    devices[1]?.device.setOffline(true, 'cable pulled');
    const status = volume.status();
    expect(status.members[1]).toMatchObject({ state: 'rebuilding', uri: devices[3]?.device.uri });
    expect(status.spares).toEqual([]);
    expect(status.state).toBe('rebuilding');
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.rebuildRows(1, 0, volume.layout.rows);
    expect(volume.volumeState).toBe('clean');
    const rebuilt = await devices[3]?.medium.read(0, CHUNK);
    // The failed device left the volume and was closed by it.
    expect(devices[1]?.device.closed).toBe(true);
    expect(rebuilt !== undefined && original !== undefined && rebuilt.equals(original)).toBe(true);
    await volume.close();
  });

  it('never fails more members than the level tolerates', async () => {
    const { volume, devices } = build('raid5', 3);
    const model = patternBytes(volume.size, 13);
    await volume.write(0, model);
    volume.failMember(0);
    expect(() => volume.failMember(1)).toThrow(expect.objectContaining({ code: ErrorCode.Conflict }) as Error);
    expect(volume.canFail(1)).toBe(false);
    // Read errors on a survivor of a degraded raid5 are counted but cannot fail it; the read fails instead.
    devices[1]?.device.addRule({ kind: 'error', ops: ['read'], offset: 0, length: CHUNK });
    for (let i = 0; i < 5; i++) await volume.read(0, volume.layout.rowBytes).catch(() => undefined);
    expect(volume.status().members[1]?.state).toBe('in-sync');
    expect(volume.status().members[1]?.readErrors).toBeGreaterThanOrEqual(5);
    await expect(volume.read(0, volume.layout.rowBytes)).rejects.toMatchObject({ code: ErrorCode.VolumeFailed });
    // A write that would need the survivor it cannot write rejects rather than losing the member.
    devices[2]?.device.addRule({ kind: 'error', ops: ['write'] });
    await expect(volume.write(volume.layout.rowBytes * 4, Buffer.alloc(512, 1))).rejects.toMatchObject({ code: ErrorCode.VolumeFailed });
    expect(volume.available).toBe(true);
    await volume.close();
  });

  it('reports status like mdadm --detail and refuses bad member indexes', async () => {
    const { volume } = build('raid6', 4);
    volume.failMember(3, 'operator');
    volume.replaceMember(3, createMemoryDevice({ size: MEMBER }));
    await volume.rebuildRows(3, 0, 10);
    const status = volume.status();
    expect(status).toMatchObject({ name: 'err-raid6', level: 'raid6', state: 'rebuilding', chunkSize: CHUNK, rows: MEMBER / CHUNK, size: 2 * MEMBER });
    expect(status.members.map((m) => [m.state, m.rebuiltRows])).toEqual([
      ['in-sync', 64],
      ['in-sync', 64],
      ['in-sync', 64],
      ['rebuilding', 10],
    ]);
    expect(() => volume.failMember(7)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }) as Error);
    await volume.close();
  });
});
