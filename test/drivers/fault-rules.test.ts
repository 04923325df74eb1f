import { describe, expect, it } from 'vitest';
import { createFaultDevice, type FaultDevice } from '../../drivers/fault.js';
import { openDevice } from '../../drivers/index.js';
import { createMemoryDevice } from '../../drivers/memory.js';
import type { AvailabilityChange } from '../../drivers/types.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';

const MiB = 1024 * 1024;

function faulty(options: Parameters<typeof createFaultDevice>[1] = {}): FaultDevice {
  return createFaultDevice(createMemoryDevice({ size: 4 * MiB }), options);
}

describe('fault driver rules', () => {
  it('fails requests overlapping an error range with EIO and lets the rest through', async () => {
    const dev = faulty({ rules: [{ kind: 'error', offset: 8192, length: 4096 }] });
    await dev.write(0, Buffer.alloc(8192, 1));
    await expect(dev.read(4096, 8192)).rejects.toMatchObject({ code: ErrorCode.Io, errno: 'EIO' });
    await expect(dev.write(12288 - 512, Buffer.alloc(512))).rejects.toMatchObject({ code: ErrorCode.Io });
    // A bad-sector rule leaves flushes alone unless it names them.
    await dev.flush();
    dev.addRule({ kind: 'error', ops: ['flush'], offset: 8192, length: 4096 });
    await expect(dev.flush()).rejects.toMatchObject({ code: ErrorCode.Io, details: { operation: 'flush' } });
    dev.removeRule('rule-2');
    await expect(dev.read(12288, 4096)).resolves.toHaveLength(4096);
    expect((await dev.read(0, 8192)).every((b) => b === 1)).toBe(true);
    // The failed write did nothing.
    expect((await dev.inner.read(11776, 512)).every((b) => b === 0)).toBe(true);
  });

  it('restricts rules to operations, honours after/count and a custom errno', async () => {
    const dev = faulty({ rules: [{ kind: 'error', ops: ['write'], errno: 'ENOSPC', after: 1, count: 2 }] });
    await dev.write(0, Buffer.alloc(512));
    await expect(dev.write(0, Buffer.alloc(512))).rejects.toMatchObject({ errno: 'ENOSPC' });
    await dev.read(0, 512);
    await expect(dev.write(0, Buffer.alloc(512))).rejects.toMatchObject({ errno: 'ENOSPC' });
    await dev.write(0, Buffer.alloc(512));
    expect(dev.rules[0]).toMatchObject({ matched: 4, fired: 2 });
  });

  it('fails at a rate, deterministically for a seed', async () => {
    const outcomes = async (seed: number): Promise<boolean[]> => {
      const dev = faulty({ seed, rules: [{ kind: 'error', rate: 0.3 }] });
      const result: boolean[] = [];
      for (let i = 0; i < 200; i++) result.push(await dev.read(0, 512).then(() => true, () => false));
      return result;
    };
    const a = await outcomes(7);
    expect(await outcomes(7)).toEqual(a);
    expect(await outcomes(8)).not.toEqual(a);
    const failures = a.filter((ok) => !ok).length;
    expect(failures).toBeGreaterThan(30);
    expect(failures).toBeLessThan(90);
  });

  it('delays requests by the latency on its clock', async () => {
    const clock = new ManualClock();
    const dev = faulty({ clock, rules: [{ kind: 'latency', ms: 500, ops: ['read'] }] });
    let done = false;
    const read = dev.read(0, 512).then(() => (done = true));
    await clock.advance(499);
    expect(done).toBe(false);
    await clock.advance(1);
    await read;
    expect(done).toBe(true);
    await dev.write(0, Buffer.alloc(512));
  });

  it('delays each request by its length over bytesPerSecond, as a slow link', async () => {
    const clock = new ManualClock();
    const dev = faulty({ clock, rules: [{ kind: 'latency', ms: 10, bytesPerSecond: 1 * MiB, ops: ['write'] }] });
    let done = false;
    // 64 KiB at 1 MiB/s: 62.5 ms, plus the fixed 10 ms.
    const write = dev.write(0, Buffer.alloc(64 * 1024)).then(() => (done = true));
    await clock.advance(72);
    expect(done).toBe(false);
    await clock.advance(1);
    await write;
    expect(done).toBe(true);
  });

  it('goes offline and comes back, firing availability events once per change', async () => {
    const clock = new ManualClock();
    const dev = faulty({ clock, rules: [{ kind: 'offline', offset: 1 * MiB, length: 512, count: 1, durationMs: 1000, reason: 'drive pulled' }] });
    const changes: AvailabilityChange[] = [];
    dev.onAvailabilityChange((c) => changes.push(c));
    await dev.read(0, 512);
    await expect(dev.read(1 * MiB, 512)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable });
    expect(dev.available).toBe(false);
    await expect(dev.read(0, 512)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable });
    await clock.advance(1000);
    expect(dev.available).toBe(true);
    await expect(dev.read(1 * MiB, 512)).resolves.toHaveLength(512);
    expect(changes.map((c) => [c.available, c.reason])).toEqual([
      [false, 'drive pulled'],
      [true, 'fault cleared: back online'],
    ]);
    expect(changes[0]?.at).toBe(0);
    expect(changes[1]?.at).toBe(1000);
  });

  it('is taken offline and back at run time through setOffline', async () => {
    const dev = faulty();
    const seen: boolean[] = [];
    dev.onAvailabilityChange((c) => seen.push(c.available));
    dev.setOffline(true, 'operator pulled the drive');
    dev.setOffline(true, 'again');
    await expect(dev.write(0, Buffer.alloc(512))).rejects.toThrow(/unavailable: again/);
    await expect(dev.flush()).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable });
    dev.setOffline(false);
    await dev.write(0, Buffer.alloc(512));
    expect(seen).toEqual([false, true]);
  });

  it('tears a write: only the first whole blocks up to keepBytes land, then EIO', async () => {
    const dev = faulty({ rules: [{ kind: 'torn-write', keepBytes: 1536 + 100, count: 1 }] });
    const err = await dev.write(0, Buffer.alloc(4096, 0xaa)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.Io, details: { landedBytes: 1536 } });
    const back = await dev.read(0, 4096);
    expect(back.subarray(0, 1536).every((b) => b === 0xaa)).toBe(true);
    expect(back.subarray(1536).every((b) => b === 0)).toBe(true);
    await dev.write(0, Buffer.alloc(4096, 0xbb));
    expect((await dev.read(0, 4096)).every((b) => b === 0xbb)).toBe(true);
  });

  it('flips bits silently on read without touching the medium', async () => {
    const dev = faulty({ rules: [{ kind: 'bitflip', on: 'read', offset: 4096, length: 512, bits: 3 }] });
    const data = Buffer.alloc(8192, 0x0f);
    await dev.write(0, data);
    const back = await dev.read(0, 8192);
    const differing = [...back].map((b, i) => (b !== data[i] ? i : -1)).filter((i) => i >= 0);
    expect(differing.length).toBeGreaterThan(0);
    expect(differing.every((i) => i >= 4096 && i < 4608)).toBe(true);
    expect(Buffer.compare(await dev.inner.read(0, 8192), data)).toBe(0);
  });

  it('flips bits silently on write: the caller gets success and the medium holds bad data', async () => {
    const dev = faulty({ rules: [{ kind: 'bitflip', on: 'write', count: 1 }] });
    const data = Buffer.alloc(4096, 0x55);
    await dev.write(0, data);
    expect(data.every((b) => b === 0x55)).toBe(true);
    expect(Buffer.compare(await dev.inner.read(0, 4096), data)).not.toBe(0);
  });

  it('adds, lists and removes rules at run time', async () => {
    const dev = faulty();
    const id = dev.addRule({ kind: 'error', ops: ['read'] });
    expect(dev.addRule({ id: 'slow', kind: 'latency', ms: 0 })).toBe('slow');
    expect(dev.rules.map((r) => r.rule.id)).toEqual([id, 'slow']);
    await expect(dev.read(0, 512)).rejects.toMatchObject({ code: ErrorCode.Io });
    expect(dev.removeRule(id)).toBe(true);
    expect(dev.removeRule(id)).toBe(false);
    await dev.read(0, 512);
    dev.addRule({ kind: 'error' });
    dev.clearRules();
    expect(dev.rules).toEqual([]);
    await dev.read(0, 512);
  });

  it('rejects a bad rule with BLOCKRIG_E_INVALID_ARGUMENT naming the field', () => {
    const dev = faulty();
    expect(() => dev.addRule({ kind: 'error', rate: 2 })).toThrow(/rate/);
    expect(() => dev.addRule({ kind: 'torn-write' } as never)).toThrow(/keepBytes/);
    let caught: unknown;
    try {
      dev.addRule({ kind: 'nonsense' } as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(dev.rules).toEqual([]);
  });

  it('opens by URI with rules in the options, mirrors inner availability and forwards close', async () => {
    const dev = (await openDevice('fault:memory:?size=4MiB', { faultRules: [{ kind: 'error', ops: ['flush'] }] } as never)) as FaultDevice;
    expect(dev.driver).toBe('fault');
    expect(dev.inner.driver).toBe('memory');
    await expect(dev.flush()).rejects.toMatchObject({ code: ErrorCode.Io });
    const nested = createFaultDevice(dev);
    dev.setOffline(true);
    expect(nested.available).toBe(false);
    dev.setOffline(false);
    expect(nested.available).toBe(true);
    await nested.close();
    expect(dev.closed).toBe(true);
    expect(dev.inner.closed).toBe(true);
    await expect(openDevice('fault:')).rejects.toMatchObject({ code: ErrorCode.InvalidUri });
  });
});
