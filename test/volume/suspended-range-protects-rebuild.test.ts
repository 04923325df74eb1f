/**
 * Two controllers serve one volume over the same member media: controller A rebuilds a replaced member
 * partition by partition while controller B writes. B suspends each partition while A rebuilds it
 * (md-cluster's suspend_range), or suspends nothing while A re-reads its sources after each span and B writes
 * the new member only after the in-sync ones; either way nothing is left stale.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createFaultDevice } from '../../drivers/fault.js';
import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import type { BlockDevice } from '../../drivers/types.js';
import { createVolume, type Volume, type VolumeLevel } from '../../src/volume/index.js';
import { flushMicrotasks } from '../../src/clock.js';
import { LEVELS, patternBytes } from './helpers.js';

const MEMBER = 512 * 1024;
const CHUNK = 8 * 1024;

/**
 * A volume over handles of shared stores, as one controller process would open it. Member I/O takes a
 * jittered millisecond or so (fault driver latency), so the two controllers' requests really interleave.
 */
function controller(level: VolumeLevel, stores: readonly MemoryStore[], name: string, seed = 1): Volume {
  return createVolume({ name, level, chunkSize: CHUNK, members: stores.map((store) => slow(store, seed)) });
}

function slow(store: MemoryStore, seed: number): BlockDevice {
  return createFaultDevice(createMemoryDevice({ size: store.size, store }), { seed, rules: [{ kind: 'latency', ms: 0, jitterMs: 2 }] });
}

describe('suspended ranges', () => {
  it('hold back writes and reconstructing reads of the range until released, and nothing else', async () => {
    const stores = Array.from({ length: 3 }, () => new MemoryStore(MEMBER));
    const volume = controller('raid5', stores, 'suspend');
    const release = await volume.suspend(2, 4);
    let settled = false;
    const blocked = volume.write(2 * volume.layout.rowBytes, Buffer.alloc(512, 1)).then(() => {
      settled = true;
    });
    await volume.write(6 * volume.layout.rowBytes, Buffer.alloc(512, 2));
    await flushMicrotasks(50);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    await blocked;
    expect(settled).toBe(true);
    expect((await volume.read(2 * volume.layout.rowBytes, 512)).every((b) => b === 1)).toBe(true);
    await volume.close();
  });

  for (const { level, members } of LEVELS) for (const mode of ['suspend', 'verify'] as const) {
    const how = mode === 'suspend' ? 'the writer suspends each partition' : 'nothing is suspended and the rebuild verifies its sources';
    it(`${level}: a rebuild on one controller and writes on another leave no stale data (${how})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 8, maxLength: 8 }),
          fc.array(fc.record({ block: fc.nat(), blocks: fc.integer({ min: 1, max: 40 }), seed: fc.nat(), delay: fc.nat({ max: 12 }) }), { minLength: 4, maxLength: 24 }),
          async (order, writes) => {
            const stores = Array.from({ length: members }, () => new MemoryStore(MEMBER));
            const a = controller(level, stores, 'a', 1);
            const b = controller(level, stores, 'b', 2);
            const model = patternBytes(a.size, 3);
            await a.write(0, model);
            const fresh = new MemoryStore(MEMBER);
            for (const c of [a, b]) {
              c.failMember(0, 'pulled');
              c.replaceMember(0, slow(fresh, c === a ? 3 : 4));
            }
            const rows = a.layout.rows;
            const part = rows / 8;
            const blocks = a.size / 512;
            const region = Math.floor(blocks / writes.length);
            const writing = writes.map(async (w, i) => {
              await new Promise((resolve) => setTimeout(resolve, w.delay));
              const length = Math.min(w.blocks, region);
              const offset = (i * region + (w.block % (region - length + 1))) * 512;
              const data = patternBytes(length * 512, w.seed);
              data.copy(model, offset);
              await b.write(offset, data);
            });
            const rebuilding = (async () => {
              for (const p of order) {
                const [start, end] = [p * part, (p + 1) * part];
                const release = mode === 'suspend' ? await b.suspend(start, end) : (): void => undefined;
                try {
                  await a.rebuildRows(0, start, end, { verify: mode === 'verify' });
                  b.markRebuilt(0, start, end);
                } finally {
                  release();
                }
                await new Promise((resolve) => setImmediate(resolve));
              }
            })();
            await Promise.all([rebuilding, ...writing]);
            expect(a.volumeState).toBe('clean');
            expect(b.volumeState).toBe('clean');
            expect((await a.scrubRows(0, rows)).mismatches).toEqual([]);
            a.failMember(1, 'second failure');
            expect((await a.read(0, a.size)).equals(model)).toBe(true);
            await Promise.all([a.close(), b.close()]);
          },
        ),
        { numRuns: 12 },
      );
    });
  }
});
