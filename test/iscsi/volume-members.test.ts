/**
 * Volumes whose members are iSCSI LUNs: the driver contract over a raid5 of four tgtd LUNs, and a raid1
 * mirrored across two tgtd processes that keeps serving, degraded, when one of them dies.
 */
import { describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { createVolume } from '../../src/volume/index.js';
import { testDriver } from '../drivers/contract.js';
import { patternBytes } from '../volume/helpers.js';
import { useTgtd } from './use-tgtd.js';

const MiB = 1024 * 1024;
const IQN = 'iqn.2026-01.dev.blockrig:members';
const tgtdA = useTgtd([{ iqn: IQN, luns: [1, 2, 3, 4].map((lun) => ({ lun, sizeBytes: 2 * MiB })) }]);
const tgtdB = useTgtd([{ iqn: IQN, luns: [{ lun: 1, sizeBytes: 2 * MiB }] }]);

testDriver('raid5 volume over four iSCSI LUNs', {
  open: async () => {
    const members = await Promise.all([1, 2, 3, 4].map((lun) => openDevice(tgtdA().uri(IQN, lun))));
    return createVolume({ name: 'iscsi-raid5', level: 'raid5', chunkSize: 64 * 1024, members });
  },
});

describe('raid1 across two iSCSI targets', () => {
  it('keeps serving reads and writes when one target dies, with that member failed', async () => {
    const members = [await openDevice(tgtdA().uri(IQN, 1)), await openDevice(tgtdB().uri(IQN, 1))];
    const volume = createVolume({ name: 'iscsi-raid1', level: 'raid1', chunkSize: 64 * 1024, members });
    try {
      const model = patternBytes(volume.size, 21);
      await volume.write(0, model, { fua: true });
      await tgtdB().crash();
      const fresh = patternBytes(256 * 1024, 22);
      await volume.write(MiB, fresh);
      fresh.copy(model, MiB);
      expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
      const status = volume.status();
      expect(status.state).toBe('degraded');
      expect(status.members.map((m) => m.state)).toEqual(['in-sync', 'failed']);
    } finally {
      await volume.close();
      await tgtdB().start();
    }
  });
});
