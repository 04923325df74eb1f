/**
 * Property: whatever is written to a volume, in any order, healthy or degraded, reads back identical after
 * any set of member failures the level tolerates, before and after the failed members are replaced and
 * rebuilt; and a scrub of the rebuilt volume finds nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryDevice } from '../../drivers/memory.js';
import { LEVELS, makeVolume, patternBytes, toleranceOf } from './helpers.js';

const BLOCK = 512;
const MEMBER = 64 * 1024;
const CHUNK = 4096;

interface Write {
  readonly block: number;
  readonly blocks: number;
  readonly seed: number;
}

describe('volumes survive tolerated member failures', () => {
  for (const { level, members } of LEVELS) {
    const tolerance = toleranceOf(level, members);
    it(`${level} of ${members}: random writes, failures at random points, rebuild, scrub`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ block: fc.nat(), blocks: fc.integer({ min: 1, max: 40 }), seed: fc.nat() }), { minLength: 1, maxLength: 25 }),
          fc.uniqueArray(fc.integer({ min: 0, max: members - 1 }), { minLength: 1, maxLength: tolerance }),
          fc.nat(),
          fc.uniqueArray(fc.integer({ min: 0, max: members - 1 }), { minLength: 1, maxLength: tolerance }),
          async (writes: Write[], failed, failAtRaw, failedAfterRebuild) => {
            const { volume } = makeVolume(level, members, MEMBER, CHUNK);
            const totalBlocks = volume.size / BLOCK;
            const model = Buffer.alloc(volume.size);
            const failAt = failAtRaw % (writes.length + 1);
            const apply = async (w: Write): Promise<void> => {
              const block = w.block % totalBlocks;
              const blocks = Math.min(w.blocks, totalBlocks - block);
              const data = patternBytes(blocks * BLOCK, w.seed);
              await volume.write(block * BLOCK, data);
              data.copy(model, block * BLOCK);
            };
            // Some writes land while healthy, the rest degraded.
            for (const w of writes.slice(0, failAt)) await apply(w);
            for (const i of failed) volume.failMember(i, 'property');
            expect(volume.volumeState).toBe('degraded');
            for (const w of writes.slice(failAt)) await apply(w);
            expect((await volume.read(0, volume.size)).equals(model)).toBe(true);

            for (const i of failed) {
              volume.replaceMember(i, createMemoryDevice({ size: MEMBER }));
              await volume.rebuildRows(i, 0, volume.layout.rows);
            }
            expect(volume.volumeState).toBe('clean');
            const scrub = await volume.scrubRows(0, volume.layout.rows);
            expect(scrub.mismatches).toEqual([]);
            expect(scrub.rowsChecked).toBe(volume.layout.rows);

            for (const i of failedAfterRebuild) volume.failMember(i, 'property, second round');
            expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
            await volume.close();
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  for (const { level, members } of LEVELS) {
    it(`${level}: concurrent writes to different blocks of the same stripes keep parity consistent`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.shuffledSubarray(Array.from({ length: 64 }, (_, i) => i), { minLength: 8 }), fc.nat(), async (blocks, seed) => {
          const { volume } = makeVolume(level, members, MEMBER, CHUNK);
          const model = Buffer.alloc(volume.size);
          // 64 distinct blocks spread over the first rows, all written at once.
          const spread = (b: number): number => (b * 7 * BLOCK) % (volume.layout.rowBytes * 4);
          await Promise.all(
            blocks.map((b) => {
              const data = patternBytes(BLOCK, seed + b);
              data.copy(model, spread(b));
              return volume.write(spread(b), data);
            }),
          );
          const scrub = await volume.scrubRows(0, volume.layout.rows);
          expect(scrub.mismatches).toEqual([]);
          for (let i = 0; i < toleranceOf(level, members); i++) volume.failMember(i, 'property');
          expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
          await volume.close();
        }),
        { numRuns: 25 },
      );
    });
  }

  it('raid6 reads back every pair of failed members after writes made healthy', async () => {
    const count = 6;
    const { volume, members } = makeVolume('raid6', count, MEMBER, CHUNK);
    const model = patternBytes(volume.size, 7);
    await volume.write(0, model);
    const images = await Promise.all(members.map((m) => m.medium.read(0, MEMBER)));
    await volume.close();
    for (let a = 0; a < count; a++) {
      for (let b = a + 1; b < count; b++) {
        const fresh = makeVolume('raid6', count, MEMBER, CHUNK, `pair-${a}-${b}`);
        for (const [i, m] of fresh.members.entries()) await m.medium.write(0, images[i] as Buffer);
        fresh.volume.failMember(a);
        fresh.volume.failMember(b);
        expect((await fresh.volume.read(0, fresh.volume.size)).equals(model)).toBe(true);
        await fresh.volume.close();
      }
    }
  });
});
