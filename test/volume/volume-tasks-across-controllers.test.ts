/**
 * Volume tasks on the controllers' partitioned task mechanism: a rebuild split across 3 controllers while
 * the serving process writes the volume, one controller stopped mid-task; then a scrub task finds 0
 * mismatched sectors, and the rebuilt member carries the data when another member fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { resetNamedMemoryStores } from '../../drivers/memory.js';
import { systemClock } from '../../src/clock.js';
import { Controller } from '../../src/controller/controller.js';
import { HostSession } from '../../src/controller/host-session.js';
import { formatRegion, openRegion } from '../../src/metadata/format.js';
import { HostRole } from '../../src/metadata/host-record.js';
import { defaultTaskKinds } from '../../src/tasks/kinds.js';
import { submitTask, waitForTask } from '../../src/tasks/lifecycle.js';
import { parseVolumeConfig } from '../../src/volume/config.js';
import { assembleStoredVolume, createStoredVolume, failStoredMember, replaceStoredMember } from '../../src/volume/volume-admin.js';
import { VolumeKeeper } from '../../src/volume/volume-keeper.js';
import { VolumeTable } from '../../src/volume/volume-table.js';
import { patternBytes, startControllerTrio } from './helpers.js';

const META = 'memory://vt-meta?size=64MiB';
const MEMBER_SIZE = 32 * 1024 * 1024;
// Generous for a loaded 2-core machine: a fenced controller would fail the test for the wrong reason.
const TIMING = { heartbeatIntervalMs: 500, ioTimeoutMs: 2000, renewTimeoutMs: 8000, hostDeadMs: 14_000 };

afterEach(() => resetNamedMemoryStores());

describe('volume tasks across controllers', () => {
  it('raid5: rebuild across 3 controllers (one stopped after 3 partitions) under served writes, then scrub task with 0 mismatches', async () => {
    await formatRegion(await openDevice(META), { geometry: { hostSlots: 8, taskSlots: 4, maxChunksPerTask: 16 }, timing: TIMING });
    const table = new VolumeTable(await openDevice(META));
    const members = [0, 1, 2].map((i) => `memory://vt-m${i}?size=${MEMBER_SIZE}`);
    await createStoredVolume(table, parseVolumeConfig({ name: 'v', level: 'raid5', members, chunkSize: '64KiB' }), openDevice, { assumeClean: true });

    // The serving process: assembles the volume and keeps the table in step, but leaves rebuilding to tasks.
    const served = await assembleStoredVolume(table, 'v', openDevice);
    const volume = served.volume;
    const keeper = new VolumeKeeper({ table, volume, stored: served.stored, open: openDevice, clock: systemClock, pollMs: 20, rebuild: false });
    keeper.start();
    const model = patternBytes(volume.size, 5);
    await volume.write(0, model);

    await failStoredMember(table, 'v', 1);
    const fresh = `memory://vt-new?size=${MEMBER_SIZE}`;
    await replaceStoredMember(table, 'v', 1, fresh, openDevice);

    // Controller 0 is stopped after its third partition: the others must take the rest.
    const { kinds, completed, session, stop } = await startControllerTrio(META);
    // The volume kinds come with the default registry, as every controller process builds it.
    expect(kinds.has('volume-rebuild') && kinds.has('volume-scrub') && kinds.has('volume-initialize')).toBe(true);

    const rowBytes = volume.layout.rows * volume.layout.chunkSize;
    const rebuild = await submitTask(session, kinds, { kind: 'volume-rebuild', target: fresh, offset: 0, length: rowBytes, partitionSize: 512 * 1024, chunkPartitions: 4, params: { volume: 'v', meta: META, member: 1, stepRows: 2 }, initiator: true });
    // The serving process writes while the partitions run; one controller is stopped part way.
    const writes = (async () => {
      for (let i = 0; i < 40; i++) {
        const offset = ((i * 37) % (volume.size / 65536)) * 65536;
        const data = patternBytes(65536, 100 + i);
        data.copy(model, offset);
        await volume.write(offset, data);
        await systemClock.sleep(2);
      }
    })();
    const [done] = await Promise.all([waitForTask(session, kinds, rebuild.taskId), writes]);
    expect(done.state).toBe('finished');
    expect(done.outcome?.result).toMatchObject({ volume: 'v', member: 1, failedPartitions: 0, unreadableRanges: 0 });
    expect(completed.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(rebuild.task.partitions);
    expect(completed[0]).toBeLessThanOrEqual(3);
    expect(completed.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    await keeper.syncFromTable();
    expect(volume.status().members.map((m) => m.state)).toEqual(['in-sync', 'in-sync', 'in-sync']);

    const scrub = await submitTask(session, kinds, { kind: 'volume-scrub', target: members[0], offset: 0, length: rowBytes, partitionSize: 512 * 1024, params: { volume: 'v', meta: META }, initiator: true });
    const checked = await waitForTask(session, kinds, scrub.taskId);
    expect(checked.outcome?.result).toMatchObject({ mismatchSectors: 0, failedPartitions: 0 });

    volume.failMember(0, 'test: the rebuilt member must carry the data');
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);

    await stop();
    await keeper.stop();
    await volume.close();
  });

  it('raid6 as a task target: fill across 3 controllers through volume://, two members failed, verify finds 0 mismatches', async () => {
    await formatRegion(await openDevice(META), { geometry: { hostSlots: 8, taskSlots: 4, maxChunksPerTask: 16 }, timing: TIMING });
    const table = new VolumeTable(await openDevice(META));
    const members = [0, 1, 2, 3, 4].map((i) => `memory://vf-m${i}?size=${8 * 1024 * 1024}`);
    await createStoredVolume(table, parseVolumeConfig({ name: 'f', level: 'raid6', members, chunkSize: '64KiB' }), openDevice, { assumeClean: true });
    const target = `volume://f?meta=${encodeURIComponent(META)}`;
    const kinds = defaultTaskKinds();
    const stops = [new AbortController(), new AbortController(), new AbortController()];
    const controllers = await Promise.all(stops.map(async () => Controller.start({ region: await openRegion(await openDevice(META)), clock: systemClock, kinds, openTarget: openDevice })));
    let running = controllers.map((c, i) => c.run(stops[i]?.signal).catch((err: unknown) => err));
    const session = await HostSession.join({ region: await openRegion(await openDevice(META)), clock: systemClock, role: HostRole.Client });
    const length = 3 * 8 * 1024 * 1024;
    // 8 partitions of 16 whole rows (3 data chunks of 64 KiB each): each controller's volume instance
    // writes stripes no other controller touches, so no two parity updates of one stripe interleave.
    const fill = await submitTask(session, kinds, { kind: 'fill', target, offset: 0, length, partitions: 8, chunkPartitions: 2, initiator: true });
    const filled = await waitForTask(session, kinds, fill.taskId);
    expect(filled.state).toBe('finished');
    for (const s of stops) s.abort();
    await Promise.all(running);

    // Two members fail; fresh controllers open the degraded volume and verify every block of the pattern.
    await failStoredMember(table, 'f', 1);
    await failStoredMember(table, 'f', 4);
    const again = [new AbortController(), new AbortController(), new AbortController()];
    const verifiers = await Promise.all(again.map(async () => Controller.start({ region: await openRegion(await openDevice(META)), clock: systemClock, kinds, openTarget: openDevice })));
    running = verifiers.map((c, i) => c.run(again[i]?.signal).catch((err: unknown) => err));
    const verify = await submitTask(session, kinds, { kind: 'verify', target, offset: 0, length, partitions: 8, chunkPartitions: 2, params: { seed: Number(filled.outcome?.result.seed) }, initiator: true });
    expect((await waitForTask(session, kinds, verify.taskId)).outcome?.result).toMatchObject({ mismatches: 0 });
    for (const s of again) s.abort();
    await Promise.all(running);
    await session.leave();
  });
});
