/**
 * The row pipeline of rebuild and scrub: batches are worked in order while later ones are loaded under
 * their row locks; a failure or a cancel lets every batch loaded ahead go; a writer waiting for rows of a
 * later batch gets them once that batch is done, without deadlock.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { RowLock } from '../../src/volume/row-lock.js';
import { pipelineRows } from '../../src/volume/row-pipeline.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('pipelineRows', () => {
  it('works batches in order, loading up to lookahead + 1 ahead, and releases every row', async () => {
    const lock = new RowLock();
    const worked: [number, number][] = [];
    let loading = 0;
    let mostLoading = 0;
    await pipelineRows(0, 10, {
      lock,
      batch: 3,
      lookahead: 2,
      what: 'test',
      load: async (b) => {
        loading++;
        mostLoading = Math.max(mostLoading, loading);
        await tick();
        loading--;
        return b * 10;
      },
      work: async (b, e, loaded) => {
        expect(loaded).toBe(b * 10);
        expect(lock.busy(b, e)).toBe(true);
        worked.push([b, e]);
        await tick();
      },
    });
    expect(worked).toEqual([[0, 3], [3, 6], [6, 9], [9, 10]]);
    expect(mostLoading).toBeGreaterThan(1);
    expect(mostLoading).toBeLessThanOrEqual(3);
    expect(lock.queued).toBe(0);
  });

  it('with parallel 2, two batches are worked at once, each under its lock, and every batch once', async () => {
    const lock = new RowLock();
    const worked: number[] = [];
    let working = 0;
    let mostWorking = 0;
    await pipelineRows(0, 40, {
      lock,
      batch: 4,
      parallel: 2,
      what: 'test',
      load: async () => tick(),
      work: async (b, e) => {
        expect(lock.busy(b, e)).toBe(true);
        working++;
        mostWorking = Math.max(mostWorking, working);
        await tick();
        await tick();
        working--;
        worked.push(b);
      },
    });
    expect([...worked].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i * 4));
    expect(mostWorking).toBe(2);
    expect(lock.queued).toBe(0);
  });

  it('a failing batch lets the batches loaded ahead go', async () => {
    const lock = new RowLock();
    const failing = pipelineRows(0, 100, {
      lock,
      batch: 4,
      what: 'test',
      load: async () => tick(),
      work: async (b) => {
        if (b === 8) throw new Error('boom');
        await tick();
      },
    });
    await expect(failing).rejects.toThrow('boom');
    expect(lock.queued).toBe(0);
  });

  it('a cancel stops between batches with CancelledError and releases everything', async () => {
    const lock = new RowLock();
    const stop = new AbortController();
    const worked: number[] = [];
    const run = pipelineRows(0, 100, {
      lock,
      batch: 4,
      signal: stop.signal,
      what: 'rebuild of member 1',
      load: async () => tick(),
      work: async (b) => {
        worked.push(b);
        if (b === 4) stop.abort();
        await tick();
      },
    });
    await expect(run).rejects.toMatchObject({ code: ErrorCode.Cancelled, message: expect.stringContaining('rebuild of member 1 cancelled at row 8') as string });
    expect(worked).toEqual([0, 4]);
    expect(lock.queued).toBe(0);
  });

  it('a writer waiting for rows of a later batch runs once that batch is worked (no deadlock)', async () => {
    const lock = new RowLock();
    const order: string[] = [];
    let writer: Promise<void> | undefined;
    await pipelineRows(0, 12, {
      lock,
      batch: 4,
      what: 'test',
      load: async () => tick(),
      work: async (b) => {
        order.push(`batch ${b}`);
        // While batch 0 is worked, a writer asks for row 9 (batch 8, already locked ahead).
        if (b === 0) writer = lock.with(9, 10, () => Promise.resolve(void order.push('writer')));
        await tick();
      },
    });
    await writer;
    expect(order).toEqual(['batch 0', 'batch 4', 'batch 8', 'writer']);
  });
});
