import { describe, expect, it } from 'vitest';
import { ManualClock, repeatEvery } from '../../src/clock.js';

describe('repeatEvery', () => {
  it('runs the step at once, then every interval of clock time, and stops when aborted', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const at: number[] = [];
    const running = repeatEvery(clock, 1000, stop.signal, () => {
      at.push(clock.now());
      return Promise.resolve();
    });
    await clock.advance(0);
    expect(at).toEqual([0]);
    await clock.advance(2500);
    expect(at).toEqual([0, 1000, 2000]);
    stop.abort();
    await running;
    await clock.advance(5000);
    expect(at).toEqual([0, 1000, 2000]);
  });
});
