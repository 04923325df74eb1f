/**
 * Coordination overhead and scaling (issue 4): a checksum task run by N in-process controllers over a
 * shared memory medium, against the same work done by one loop with no coordination; metadata I/Os per
 * partition and claims per second; and the time from a controller's death to its chunk running elsewhere
 * with the default timeouts.
 *
 * The controllers share one Node process (one core), so the figures isolate the cost of coordination, not
 * the speed-up of parallel hosts; the kill -9 tests show real processes.
 */
import { createMemoryDevice, MemoryDevice, MemoryStore } from '../drivers/memory.js';
import { systemClock } from '../src/clock.js';
import { Controller } from '../src/controller/controller.js';
import type { ControllerEvent } from '../src/controller/events.js';
import { HostSession } from '../src/controller/host-session.js';
import { crc32c } from '../src/metadata/crc32c.js';
import { formatRegion } from '../src/metadata/format.js';
import { HostRole } from '../src/metadata/host-record.js';
import { DEFAULT_TIMING, type TimingParameters } from '../src/metadata/layout.js';
import { MetadataRegion } from '../src/metadata/region.js';
import { defaultTaskKinds } from '../src/tasks/kinds.js';
import { submitTask, waitForTask } from '../src/tasks/lifecycle.js';
import type { BenchRow, Benchmark } from './harness.js';

const PARTITION = 16 * 1024;
const GEOMETRY = { hostSlots: 12, taskSlots: 2, maxChunksPerTask: 256 };
const FAST: TimingParameters = { heartbeatIntervalMs: 200, ioTimeoutMs: 2000, renewTimeoutMs: 4500, hostDeadMs: 9500 };

/** A memory device that counts the I/Os it gets inside the metadata region. */
class CountingDevice extends MemoryDevice {
  metaIos = 0;
  regionEnd = 0;
  frozen = false;

  override read(offset: number, length: number): Promise<Buffer> {
    if (this.frozen) return new Promise<Buffer>(() => undefined);
    if (offset < this.regionEnd) this.metaIos++;
    return super.read(offset, length);
  }

  override write(offset: number, data: Uint8Array, options?: { fua?: boolean }): Promise<void> {
    if (this.frozen) return new Promise<void>(() => undefined);
    if (offset < this.regionEnd) this.metaIos++;
    return super.write(offset, data, options);
  }
}

async function setup(partitions: number, timing: TimingParameters): Promise<{ store: MemoryStore; dataOffset: number; regionBytes: number }> {
  const probe = createMemoryDevice({ size: 64 * 1024 * 1024 });
  const sb = await formatRegion(probe, { geometry: GEOMETRY, timing, force: true });
  const store = new MemoryStore(sb.dataOffset + partitions * PARTITION);
  await formatRegion(createMemoryDevice({ size: store.size, store }), { geometry: GEOMETRY, timing, force: true });
  return { store, dataOffset: sb.dataOffset, regionBytes: sb.regionBytes };
}

async function coordinated(partitions: number, controllers: number): Promise<{ ms: number; metaIosPerPartition: number; claimsPerSec: number }> {
  const { store, dataOffset, regionBytes } = await setup(partitions, FAST);
  const kinds = defaultTaskKinds();
  const devices: CountingDevice[] = [];
  const dev = (): CountingDevice => {
    const d = new CountingDevice({ size: store.size, store, uri: 'memory://bench' });
    d.regionEnd = regionBytes;
    devices.push(d);
    return d;
  };
  let claims = 0;
  const onEvent = (e: ControllerEvent): void => {
    if (e.type === 'claimed') claims++;
  };
  const stop = new AbortController();
  const cs = await Promise.all(Array.from({ length: controllers }, async (_, i) => Controller.start({ region: await MetadataRegion.open(dev()), clock: systemClock, kinds, slot: i, openTarget: () => Promise.reject(new Error('one medium')), onEvent })));
  const session = await HostSession.join({ region: await MetadataRegion.open(dev()), clock: systemClock, role: HostRole.Client, slot: controllers });
  const started = performance.now();
  const runs = cs.map((c) => c.run(stop.signal));
  const sub = await submitTask(session, kinds, { kind: 'checksum', offset: dataOffset, length: partitions * PARTITION, partitions, initiator: true });
  await waitForTask(session, kinds, sub.taskId, { pollMs: 100 });
  const ms = performance.now() - started;
  stop.abort();
  await Promise.all(runs);
  await session.leave();
  const metaIos = devices.reduce((n, d) => n + d.metaIos, 0);
  return { ms, metaIosPerPartition: metaIos / partitions, claimsPerSec: claims / (ms / 1000) };
}

function uncoordinated(partitions: number): number {
  const store = new MemoryStore(partitions * PARTITION);
  const started = performance.now();
  let all = 0;
  for (let p = 0; p < partitions; p++) all ^= crc32c(store.read(p * PARTITION, PARTITION));
  void all;
  return performance.now() - started;
}

async function reclaimSeconds(): Promise<number> {
  const { store, dataOffset } = await setup(64, DEFAULT_TIMING);
  const kinds = defaultTaskKinds();
  const victimDev = new CountingDevice({ size: store.size, store, uri: 'memory://bench' });
  let victimChunk: number | undefined;
  let diedAt = 0;
  let reclaimedAt = 0;
  const stop = new AbortController();
  const victim = await Controller.start({
    region: await MetadataRegion.open(victimDev),
    clock: systemClock,
    kinds,
    slot: 0,
    openTarget: () => Promise.reject(new Error('one medium')),
    onEvent: (e) => {
      if (e.type === 'claimed' && victimChunk === undefined) {
        victimChunk = e.chunk;
        victimDev.frozen = true; // dies holding the chunk: no more I/O, no more heartbeats
        diedAt = performance.now();
      }
    },
  });
  const session = await HostSession.join({ region: await MetadataRegion.open(createMemoryDevice({ size: store.size, store, uri: 'memory://bench' })), clock: systemClock, role: HostRole.Client, slot: 2 });
  const sub = await submitTask(session, kinds, { kind: 'checksum', offset: dataOffset, length: 64 * PARTITION, partitions: 64, chunkPartitions: 64, initiator: true });
  void victim.run(stop.signal).catch(() => undefined);
  while (victimChunk === undefined) await systemClock.sleep(10);
  const survivor = await Controller.start({
    region: await MetadataRegion.open(createMemoryDevice({ size: store.size, store, uri: 'memory://bench' })),
    clock: systemClock,
    kinds,
    slot: 1,
    openTarget: () => Promise.reject(new Error('one medium')),
    onEvent: (e) => {
      if (e.type === 'claimed' && e.chunk === victimChunk && reclaimedAt === 0) reclaimedAt = performance.now();
    },
  });
  const running = survivor.run(stop.signal);
  await waitForTask(session, kinds, sub.taskId, { pollMs: 100 });
  stop.abort();
  await running;
  await session.leave();
  return (reclaimedAt - diedAt) / 1000;
}

const bench: Benchmark = {
  name: 'coordination',
  title: 'Partitioned tasks across controllers: coordination overhead, scaling and reclaim',
  async run(ctx) {
    const rows: BenchRow[] = [];
    const cases: [number, number][] = [
      [1_000, 4],
      [10_000, 1],
      [10_000, 2],
      [10_000, 4],
      [10_000, 8],
      [Math.round(100_000 * Math.min(1, ctx.scale)), 4],
    ];
    for (const [partitions, controllers] of cases) {
      ctx.log(`${partitions} partitions, ${controllers} controllers`);
      const peer = uncoordinated(partitions);
      const r = await coordinated(partitions, controllers);
      rows.push({ case: `checksum ${partitions} x 16 KiB partitions, ${controllers} controllers: task wall time`, blockrig: r.ms / 1000, peer: peer / 1000, peerName: 'one loop, no coordination', unit: 's', higherIsBetter: false });
      rows.push({ case: `  same: metadata I/Os per partition`, blockrig: r.metaIosPerPartition, peer: 0, peerName: 'none', unit: 'I/Os', higherIsBetter: false });
      rows.push({ case: `  same: chunk claims per second`, blockrig: r.claimsPerSec, peer: 0, peerName: 'none', unit: 'claims/s', higherIsBetter: true });
    }
    ctx.log('reclaim after a controller dies (default timeouts)');
    const reclaim = await reclaimSeconds();
    rows.push({ case: 'controller dies holding a chunk: until it runs elsewhere (default timeouts)', blockrig: reclaim, peer: DEFAULT_TIMING.hostDeadMs / 1000, peerName: 'configured host-dead timeout (lower bound)', unit: 's', higherIsBetter: false });
    return {
      rows,
      notes:
        'All controllers run in one Node process over one shared in-memory medium, so wall time shows the cost of coordination (heartbeats, claims, chunk records; heartbeat 200 ms) rather than parallel speed-up; the peer computes the same CRC32Cs in one loop. Metadata I/Os count every read and write inside the region, heartbeats included. Reclaim uses the default timeouts (heartbeat 1 s, renew 8 s, host-dead 16 s): goal under 30 s (sanlock 140 s, VMFS 16 s).',
    };
  },
};

export default bench;
