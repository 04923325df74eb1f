/**
 * Proactive replacement (the copy task): an in-sync member is copied to a new device while it serves and
 * writes go on; the new device then takes the slot. If the old member fails during the copy, the new one
 * takes over as a rebuilding member keeping what was copied; a failing new device is dropped.
 */
import { describe, expect, it } from 'vitest';
import { createFaultDevice } from '../../drivers/fault.js';
import { createMemoryDevice } from '../../drivers/memory.js';
import { ErrorCode } from '../../src/errors.js';
import { LEVELS, makeVolume, patternBytes, toleranceOf } from './helpers.js';

const MEMBER = 1024 * 1024;
const CHUNK = 16 * 1024;

describe('copy to a replacement', () => {
  for (const { level, members } of LEVELS) {
    it(`${level}: copies member 1 out of order while writes go on, then the copy takes the slot`, async () => {
      const { volume, members: devices } = makeVolume(level, members, MEMBER, CHUNK);
      const model = patternBytes(volume.size, 40);
      await volume.write(0, model);
      const fresh = createMemoryDevice({ size: MEMBER, uri: 'memory://copy-target' });
      volume.startReplacement(1, fresh);
      expect(() => volume.startReplacement(1, fresh)).toThrow(expect.objectContaining({ code: ErrorCode.Conflict }) as Error);
      const rows = volume.layout.rows;
      const parts = [3, 0, 2, 1].map((p) => [(p * rows) / 4, ((p + 1) * rows) / 4] as const);
      const writes = Array.from({ length: 20 }, async (_, i) => {
        await new Promise((resolve) => setImmediate(resolve));
        const offset = ((i * 7919) % (volume.size / 4096)) * 4096;
        const data = patternBytes(4096, 500 + i);
        data.copy(model, offset);
        await volume.write(offset, data);
      });
      // Distinct offsets (7919 is prime to the block count), so the model's order does not matter.
      await Promise.all([...parts.map(([s, e]) => volume.copyRows(1, s, e)), ...writes]);
      const status = volume.status();
      expect(status.members[1]).toMatchObject({ state: 'in-sync', uri: 'memory://copy-target' });
      expect(status.state).toBe('clean');
      expect(devices[1]?.device.closed).toBe(true);
      expect((await volume.scrubRows(0, rows)).mismatches).toEqual([]);
      // Only the copy can supply member 1's data now.
      for (const i of [0, 2].slice(0, toleranceOf(level, members))) volume.failMember(i);
      expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
      await volume.close();
    });
  }

  it('raid5: the old member failing mid-copy leaves the copy rebuilding with what it has', async () => {
    const { volume } = makeVolume('raid5', 4, MEMBER, CHUNK);
    const model = patternBytes(volume.size, 41);
    await volume.write(0, model);
    volume.startReplacement(2, createMemoryDevice({ size: MEMBER, uri: 'memory://copy-2' }));
    await volume.copyRows(2, 0, 20);
    volume.failMember(2, 'died during the copy');
    expect(volume.status().members[2]).toMatchObject({ state: 'rebuilding', uri: 'memory://copy-2', rebuiltRows: 20 });
    await volume.rebuildRows(2, 20, volume.layout.rows);
    expect(volume.volumeState).toBe('clean');
    volume.failMember(0);
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.close();
  });

  it('raid6: a replacement that fails its writes is dropped and the member serves on', async () => {
    const { volume } = makeVolume('raid6', 5, MEMBER, CHUNK);
    const model = patternBytes(volume.size, 42);
    await volume.write(0, model);
    const bad = createFaultDevice(createMemoryDevice({ size: MEMBER }), { rules: [{ kind: 'error', ops: ['write'] }] });
    volume.startReplacement(3, bad);
    await expect(volume.copyRows(3, 0, volume.layout.rows)).rejects.toMatchObject({ code: ErrorCode.TaskFailed });
    expect(volume.status().members[3]).toMatchObject({ state: 'in-sync' });
    expect(volume.members[3]?.replacement).toBeUndefined();
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.close();
  });
});
