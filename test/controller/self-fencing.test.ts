/**
 * Self-fencing: a host whose heartbeat writes stop completing fences itself once its renewal timeout has
 * passed — it refuses all further work I/O and aborts its signal — and a peer judges it dead only later,
 * after the host-dead timeout, so reclaim always follows the fence.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDevice, MemoryStore } from '../../drivers/memory.js';
import { ManualClock } from '../../src/clock.js';
import { HostSession } from '../../src/controller/host-session.js';
import { ErrorCode, isBlockrigError } from '../../src/errors.js';
import { formatRegion } from '../../src/metadata/format.js';
import { HostRole } from '../../src/metadata/host-record.js';
import { MetadataRegion } from '../../src/metadata/region.js';

const TIMING = { heartbeatIntervalMs: 100, ioTimeoutMs: 200, renewTimeoutMs: 500, hostDeadMs: 1000 };

/** A memory device whose writes stop completing when `stuck` is set, like a disk that hangs. */
class StuckableDevice extends MemoryDevice {
  stuck = false;
  override write(offset: number, data: Uint8Array, options?: { fua?: boolean }): Promise<void> {
    if (this.stuck) return new Promise<void>(() => undefined);
    return super.write(offset, data, options);
  }
}

async function until(clock: ManualClock, done: () => boolean, stepMs = 10, limitMs = 10_000): Promise<void> {
  for (let t = 0; t < limitMs && !done(); t += stepMs) await clock.advance(stepMs);
}

describe('self-fencing', () => {
  it('a host that cannot renew stops its work before any peer may reclaim', async () => {
    const store = new MemoryStore(4 * 1024 * 1024);
    await formatRegion(new MemoryDevice({ size: store.size, store }), { geometry: { hostSlots: 3, taskSlots: 1, maxChunksPerTask: 4 }, timing: TIMING });
    const clock = new ManualClock();
    const stuckDev = new StuckableDevice({ size: store.size, store });
    let a: HostSession | undefined;
    let b: HostSession | undefined;
    void HostSession.join({ region: await MetadataRegion.open(stuckDev), clock, slot: 0, role: HostRole.Controller, random: () => 0.1 }).then((s) => (a = s));
    void HostSession.join({ region: await MetadataRegion.open(new MemoryDevice({ size: store.size, store })), clock, slot: 1, role: HostRole.Controller, random: () => 0.9 }).then((s) => (b = s));
    await until(clock, () => a !== undefined && b !== undefined);
    if (a === undefined || b === undefined) throw new Error('hosts did not join');
    expect(await a.claim({ taskSlot: 0, taskId: 1, index: 0 })).toBe(true);
    expect(b.holdersOf(await b.observeHosts(), { taskSlot: 0, taskId: 1, index: 0 })).toEqual([0]);

    stuckDev.stuck = true;
    const stuckAt = clock.now();
    const validUntil = a.validUntil;
    expect(validUntil - stuckAt).toBeLessThanOrEqual(TIMING.renewTimeoutMs);
    // Peer B watches A's slot; it must not see A dead before A's validity has run out.
    let deadAt: number | undefined;
    const fencedBefore = (): boolean => a?.signal.aborted === true;
    let fencedWhenDead: boolean | undefined;
    for (let t = 0; t < 3000 && deadAt === undefined; t += 50) {
      await clock.advance(50);
      const views = await b.observeHosts();
      if (views[0]?.dead === true) {
        deadAt = clock.now();
        fencedWhenDead = clock.now() >= validUntil;
      }
    }
    expect(deadAt).toBeDefined();
    expect(fencedWhenDead).toBe(true);
    expect((deadAt ?? 0) - validUntil).toBeGreaterThanOrEqual(TIMING.hostDeadMs - TIMING.renewTimeoutMs - TIMING.ioTimeoutMs);
    // A refuses work I/O now, and its signal told its work to stop.
    let refused: unknown;
    try {
      a.assertValid();
    } catch (err) {
      refused = err;
    }
    expect(isBlockrigError(refused, ErrorCode.LeaseLost)).toBe(true);
    expect(fencedBefore()).toBe(true);
    // B may now take over the chunk A claimed.
    expect(b.holdersOf(await b.observeHosts(), { taskSlot: 0, taskId: 1, index: 0 })).toEqual([]);
    const claimed = b.claim({ taskSlot: 0, taskId: 1, index: 0 });
    await clock.advance(10);
    expect(await claimed).toBe(true);
    const leaving = b.leave();
    await clock.advance(10);
    await leaving;
  });
});
