/**
 * Corruption: a torn or bit-flipped record is detected by its CRC and never trusted (the ping-pong twin is
 * used, or the record counts as unknown); a region whose two superblock copies are damaged is refused with
 * a clear error and nothing is written to it.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryDevice, type MemoryDevice } from '../../drivers/memory.js';
import { ManualClock } from '../../src/clock.js';
import { Controller } from '../../src/controller/controller.js';
import { HostSession } from '../../src/controller/host-session.js';
import { ErrorCode, isBlockrigError } from '../../src/errors.js';
import { PartitionState } from '../../src/metadata/chunk-record.js';
import { formatRegion } from '../../src/metadata/format.js';
import { HostRole } from '../../src/metadata/host-record.js';
import { checkRegion } from '../../src/metadata/inspect.js';
import { META_BLOCK, RecordType } from '../../src/metadata/layout.js';
import { decodeRecord } from '../../src/metadata/record.js';
import { MetadataRegion, chunkForTask } from '../../src/metadata/region.js';
import { defaultTaskKinds } from '../../src/tasks/kinds.js';

const GEOMETRY = { hostSlots: 4, taskSlots: 2, maxChunksPerTask: 8 };
const TIMING = { heartbeatIntervalMs: 100, ioTimeoutMs: 200, renewTimeoutMs: 500, hostDeadMs: 1000 };

async function fresh(): Promise<MemoryDevice> {
  const dev = createMemoryDevice({ size: 4 * 1024 * 1024 });
  await formatRegion(dev, { geometry: GEOMETRY, timing: TIMING });
  return dev;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('metadata corruption', () => {
  it('detects a torn host record write and uses the valid twin', async () => {
    const dev = await fresh();
    const region = await MetadataRegion.open(dev);
    const clock = new ManualClock();
    const joining = HostSession.join({ region, clock, slot: 1, role: HostRole.Client, random: () => 0.5 });
    for (let i = 0; i < 10; i++) await clock.advance(100);
    const session = await joining;
    const before = await region.readHost(1);
    const current = before.pingPong.current;
    expect(current).toBeDefined();
    // Tear the newer copy: its second 512-byte sector gets the bytes of an unrelated write.
    const copyAt = region.layout.hostOffset(1, current?.header.copy ?? 0);
    dev.store.write(copyAt + 512, Buffer.alloc(512, 0xa5));
    const after = await region.readHost(1);
    expect(after.problems.join(' ')).toMatch(/CRC32C mismatch/);
    expect(after.value?.incarnation).toBe(session.incarnation);
    expect(after.pingPong.current?.header.sequence).toBe((current?.header.sequence ?? 0) - 1);
    const report = await checkRegion(region);
    expect(report.ok).toBe(true);
    expect(report.warnings.join(' ')).toMatch(/host slot 1: copy \d: CRC32C mismatch/);
  });

  it('never trusts a bit-flipped chunk record: its partitions read as READY again', async () => {
    const dev = await fresh();
    const region = await MetadataRegion.open(dev);
    const clock = new ManualClock();
    const c = Controller.start({ region, clock, kinds: defaultTaskKinds(), slot: 0, random: () => 0.3, openTarget: () => Promise.reject(new Error('one device')) });
    for (let i = 0; i < 10; i++) await clock.advance(100);
    const controller = await c;
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    const { submitTask } = await import('../../src/tasks/lifecycle.js');
    const client = HostSession.join({ region, clock, slot: 1, role: HostRole.Client, random: () => 0.7 });
    for (let i = 0; i < 10; i++) await clock.advance(100);
    const session = await client;
    const sub = submitTask(session, defaultTaskKinds(), { kind: 'fill', length: 8 * 4096, partitions: 8, chunkPartitions: 8 });
    for (let i = 0; i < 20; i++) await clock.advance(100);
    const submitted = await sub;
    for (let i = 0; i < 30; i++) await clock.advance(100);
    const [chunk] = await region.readChunks(submitted.slot, 0, 1);
    expect(chunkForTask(chunk, submitted.task, 0).states.every((s) => s === PartitionState.Complete)).toBe(true);
    // Flip one bit in each copy's payload: neither may be trusted.
    for (const copy of [0, 1] as const) {
      const at = region.layout.chunkOffset(submitted.slot, 0, copy) + 100;
      const b = dev.store.read(at - (at % 512), 512);
      b[at % 512] = (b[at % 512] as number) ^ 0x01;
      dev.store.write(at - (at % 512), b);
    }
    const [damaged] = await region.readChunks(submitted.slot, 0, 1);
    expect(damaged?.value).toBeUndefined();
    expect(damaged?.problems.length).toBe(2);
    expect(chunkForTask(damaged, submitted.task, 0).states.every((s) => s === PartitionState.Ready)).toBe(true);
    const block = dev.store.read(region.layout.chunkOffset(submitted.slot, 0, 0), META_BLOCK);
    expect(decodeRecord(block, { type: RecordType.Chunk, index: region.chunkIndex(submitted.slot, 0), copy: 0, regionUuid: region.superblock.regionUuid }).kind).toBe('corrupt');
    stop.abort();
    for (let i = 0; i < 20; i++) await clock.advance(100);
    await running;
    await session.leave();
  });

  it('refuses a region whose two superblock copies are damaged, with a clear error, and writes nothing', async () => {
    const dev = await fresh();
    for (const at of [100, META_BLOCK + 100]) {
      const sector = dev.store.read(at - (at % 512), 512);
      sector[at % 512] = (sector[at % 512] as number) ^ 0xff;
      dev.store.write(at - (at % 512), sector);
    }
    const snapshot = dev.store.read(0, 2 * 1024 * 1024);
    const err = await rejection(MetadataRegion.open(dev));
    expect(isBlockrigError(err, ErrorCode.MetaCorrupt)).toBe(true);
    expect((err as Error).message).toMatch(/both superblock copies .* damaged.*nothing was written/);
    expect(dev.store.read(0, 2 * 1024 * 1024).equals(snapshot)).toBe(true);
  });

  it('opens a region with one damaged superblock copy and reports it as a warning', async () => {
    const dev = await fresh();
    dev.store.write(META_BLOCK + 512, Buffer.alloc(512, 0x11));
    const region = await MetadataRegion.open(dev);
    expect(region.superblockProblems.join(' ')).toMatch(/superblock copy 1/);
    const report = await checkRegion(region);
    expect(report.ok).toBe(true);
    expect(report.warnings.length).toBeGreaterThan(0);
  });

  it('format refuses foreign data and an existing region unless forced', async () => {
    const foreign = createMemoryDevice({ size: 4 * 1024 * 1024 });
    foreign.store.write(64 * 1024, Buffer.from('someone else'));
    expect(isBlockrigError(await rejection(formatRegion(foreign, { geometry: GEOMETRY, timing: TIMING })), ErrorCode.ForeignData)).toBe(true);
    await formatRegion(foreign, { geometry: GEOMETRY, timing: TIMING, force: true });
    const again = await rejection(formatRegion(foreign, { geometry: GEOMETRY, timing: TIMING }));
    expect(isBlockrigError(again, ErrorCode.Conflict)).toBe(true);
    expect((again as Error).message).toMatch(/already holds a blockrig metadata region.*--force/);
  });

  it('rejects timing that would let peers reclaim before a fenced controller stops', async () => {
    const dev = createMemoryDevice({ size: 4 * 1024 * 1024 });
    const err = await rejection(formatRegion(dev, { geometry: GEOMETRY, timing: { ...TIMING, hostDeadMs: 600 } }));
    expect(isBlockrigError(err, ErrorCode.InvalidArgument)).toBe(true);
    expect((err as Error).message).toMatch(/hostDeadMs/);
  });
});
