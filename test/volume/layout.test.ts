/**
 * Address mapping against md's left-symmetric diagrams, and the row lock's ordering.
 */
import { describe, expect, it } from 'vitest';
import { VolumeLayout } from '../../src/volume/layout.js';
import { RowLock } from '../../src/volume/row-lock.js';
import { RowSet } from '../../src/volume/row-set.js';

describe('volume layout', () => {
  it('places raid5 left-symmetric chunks as md does (4 members)', () => {
    const layout = new VolumeLayout('raid5', 4, 4096, 4096 * 8);
    // md's diagram: row 0 = D0 D1 D2 P, row 1 = D4 D5 P D3, row 2 = D8 P D6 D7, row 3 = P D9 D10 D11.
    expect(layout.rowMap(0)).toEqual({ p: 3, data: [0, 1, 2] });
    expect(layout.rowMap(1)).toEqual({ p: 2, data: [3, 0, 1] });
    expect(layout.rowMap(2)).toEqual({ p: 1, data: [2, 3, 0] });
    expect(layout.rowMap(3)).toEqual({ p: 0, data: [1, 2, 3] });
    expect(layout.rowMap(4)).toEqual(layout.rowMap(0));
    expect(layout.size).toBe(8 * 3 * 4096);
  });

  it('places raid6 P, Q and data as md does (5 members)', () => {
    const layout = new VolumeLayout('raid6', 5, 4096, 4096 * 10);
    expect(layout.rowMap(0)).toEqual({ p: 4, q: 0, data: [1, 2, 3] });
    expect(layout.rowMap(1)).toEqual({ p: 3, q: 4, data: [0, 1, 2] });
    expect(layout.rowMap(4)).toEqual({ p: 0, q: 1, data: [2, 3, 4] });
    expect(layout.roleOf(1, 4)).toBe('q');
    expect(layout.roleOf(1, 1)).toBe(1);
    expect(layout.tolerance).toBe(2);
  });

  it('splits a request into chunk pieces in volume order', () => {
    const layout = new VolumeLayout('raid5', 3, 4096, 4096 * 4);
    const pieces = layout.pieces(4096 - 512, 4096 * 2);
    expect(pieces.map((p) => [p.row, p.dataIndex, p.chunkOffset, p.length, p.bufferOffset])).toEqual([
      [0, 0, 3584, 512, 0],
      [0, 1, 0, 4096, 512],
      [1, 0, 0, 3584, 4608],
    ]);
    expect(layout.volumeOffset(1, 0, 0)).toBe(8192);
  });

  it('refuses too few members and bad chunk sizes, naming the field', () => {
    expect(() => new VolumeLayout('raid6', 3, 4096, 1 << 20)).toThrow(/at least 4 members/);
    expect(() => new VolumeLayout('raid5', 3, 3000, 1 << 20)).toThrow(/power of two/);
    expect(() => new VolumeLayout('raid1', 2, 1 << 20, 4096)).toThrow(/smaller than one/);
  });
});

describe('row lock', () => {
  it('serialises overlapping ranges in request order and lets disjoint ones run', async () => {
    const lock = new RowLock();
    const order: string[] = [];
    const releaseA = await lock.acquire(0, 4);
    const b = lock.acquire(3, 5).then((release) => {
      order.push('b');
      return release;
    });
    const c = lock.acquire(10, 12).then((release) => {
      order.push('c');
      return release;
    });
    const d = lock.acquire(4, 6).then((release) => {
      order.push('d');
      return release;
    });
    (await c)();
    expect(order).toEqual(['c']);
    releaseA();
    (await b)();
    (await d)();
    expect(order).toEqual(['c', 'b', 'd']);
    expect(lock.queued).toBe(0);
  });
});

describe('row set', () => {
  it('merges touching ranges and reports the watermark', () => {
    const set = new RowSet();
    set.add(4, 8);
    expect(set.watermark).toBe(0);
    set.add(0, 2);
    set.add(2, 4);
    expect(set.ranges).toEqual([{ start: 0, end: 8 }]);
    expect(set.watermark).toBe(8);
    set.add(10, 12);
    expect(set.covers(0, 8)).toBe(true);
    expect(set.covers(7, 11)).toBe(false);
    expect(set.count).toBe(10);
  });
});
