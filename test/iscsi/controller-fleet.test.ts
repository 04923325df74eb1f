/**
 * A controller fleet coordinating through a metadata region on an iSCSI LUN: three controllers and an
 * initiator, each with its own iSCSI session to the same tgtd LUN (as separate hosts would have), run a
 * fill task over a second LUN to completion; the partitions are shared out, each runs exactly once, and the
 * data set holds the fill pattern when read back through yet another session.
 */
import { describe, expect, it } from 'vitest';
import { createFaultDevice } from '../../drivers/fault.js';
import { openDevice } from '../../drivers/index.js';
import type { BlockDevice } from '../../drivers/types.js';
import { systemClock } from '../../src/clock.js';
import { Controller } from '../../src/controller/controller.js';
import type { ControllerEvent } from '../../src/controller/events.js';
import { HostSession } from '../../src/controller/host-session.js';
import { formatRegion } from '../../src/metadata/format.js';
import { HostRole } from '../../src/metadata/host-record.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import { defaultTaskKinds } from '../../src/tasks/kinds.js';
import { submitTask, waitForTask } from '../../src/tasks/lifecycle.js';
import { patternAt } from '../../src/tasks/pattern.js';
import { useTgtd } from './use-tgtd.js';

const IQN = 'iqn.2026-01.dev.blockrig:fleet';
const CONTROLLERS = 3;
const PARTITIONS = 24;
const PARTITION_SIZE = 128 * 1024;
const TIMING = { heartbeatIntervalMs: 200, ioTimeoutMs: 1000, renewTimeoutMs: 2000, hostDeadMs: 5000 };
const tgtd = useTgtd([{ iqn: IQN, luns: [{ lun: 1, sizeBytes: 16 * 1024 * 1024 }, { lun: 2, sizeBytes: 16 * 1024 * 1024 }] }]);

describe('controller fleet on an iSCSI metadata LUN', () => {
  it('shares a fill task between three controllers, each partition run once, pattern on the LUN', async () => {
    const uri = tgtd().uri(IQN, 1);
    const dataUri = tgtd().uri(IQN, 2);
    const devices: BlockDevice[] = [];
    const open = async (target = uri): Promise<BlockDevice> => {
      const dev = await openDevice(target);
      devices.push(dev);
      return dev;
    };
    // The data set is LUN 2, written with 50 ms of added latency per write, so that the task lasts long
    // enough for every controller to see it and claim chunks, however fast the first one is.
    const openTarget = async (target: string): Promise<BlockDevice> => createFaultDevice(await open(target), { rules: [{ kind: 'latency', ms: 50, ops: ['write'] }] });
    const stop = new AbortController();
    try {
      await formatRegion(await open(), { geometry: { hostSlots: CONTROLLERS + 1, taskSlots: 2, maxChunksPerTask: 64 }, timing: TIMING, force: true });
      const kinds = defaultTaskKinds();
      const events: { slot: number; event: ControllerEvent }[] = [];
      const runs = await Promise.all(
        Array.from({ length: CONTROLLERS }, async (_, slot) => {
          const controller = await Controller.start({
            region: await MetadataRegion.open(await open()),
            clock: systemClock,
            kinds,
            slot,
            hostname: `iscsi-controller-${slot}`,
            openTarget,
            onEvent: (event) => events.push({ slot, event }),
          });
          // Wrapped, so that Promise.all waits for the joins and not for the runs.
          return { done: controller.run(stop.signal) };
        }),
      );
      const client = await HostSession.join({ region: await MetadataRegion.open(await open()), clock: systemClock, slot: CONTROLLERS, role: HostRole.Client, hostname: 'iscsi-initiator' });
      const submitted = await submitTask(client, kinds, { kind: 'fill', target: dataUri, length: PARTITIONS * PARTITION_SIZE, partitions: PARTITIONS, chunkPartitions: 2, initiator: true });
      const completion = await waitForTask(client, kinds, submitted.taskId);
      await client.leave();
      stop.abort();
      await Promise.all(runs.map((r) => r.done));

      expect(completion.completedHere).toBe(true);
      const ends = events.filter((e) => e.event.type === 'partition-end' && e.event.outcome === 'complete');
      const partitions = ends.map((e) => (e.event as { partition: number }).partition).sort((a, b) => a - b);
      expect(partitions).toEqual(Array.from({ length: PARTITIONS }, (_, i) => i));
      expect(new Set(ends.map((e) => e.slot)).size).toBeGreaterThan(1);

      const check = await open(dataUri);
      const { offset, length } = submitted.task.spec;
      const seed = Number(submitted.task.spec.params.seed);
      expect(length).toBe(PARTITIONS * PARTITION_SIZE);
      expect((await check.read(offset, length)).equals(patternAt(seed, offset, length))).toBe(true);
    } finally {
      stop.abort();
      await Promise.all(devices.map((d) => d.close()));
    }
  });
});
