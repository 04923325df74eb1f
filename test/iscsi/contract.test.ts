/**
 * The driver contract suite against a real tgtd LUN, twice: once with tgt's defaults (InitialR2T=Yes,
 * so writes past the immediate data go by R2T) and once with InitialR2T=No, ImmediateData=No and a small
 * MaxRecvDataSegmentLength, so writes go as unsolicited Data-Out cut into many PDUs, then by R2T.
 */
import { describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { testDriver } from '../drivers/contract.js';
import { useTgtd } from './use-tgtd.js';

const IQN = 'iqn.2026-01.dev.blockrig:contract';
const IQN_UNSOLICITED = 'iqn.2026-01.dev.blockrig:contract-unsolicited';
const tgtd = useTgtd([
  { iqn: IQN, luns: [{ lun: 1, sizeBytes: 16 * 1024 * 1024, thin: true }] },
  {
    iqn: IQN_UNSOLICITED,
    luns: [{ lun: 1, sizeBytes: 8 * 1024 * 1024 }],
    params: { InitialR2T: 'No', ImmediateData: 'No', MaxRecvDataSegmentLength: '4096', FirstBurstLength: '16384', MaxBurstLength: '65536' },
  },
]);

testDriver('iscsi (tgtd, R2T writes, thin LUN)', {
  open: () => openDevice(tgtd().uri(IQN, 1)),
  reopenReadOnly: () => openDevice(tgtd().uri(IQN, 1), { readOnly: true }),
});

testDriver('iscsi (tgtd, unsolicited Data-Out, small PDUs)', {
  open: () => openDevice(tgtd().uri(IQN_UNSOLICITED, 1)),
  reopenReadOnly: () => openDevice(tgtd().uri(IQN_UNSOLICITED, 1), { readOnly: true }),
});

describe('iscsi negotiation with a configured tgtd target', () => {
  it('ends with the burst and segment lengths and the R2T/immediate settings the target was given', async () => {
    const dev = await openDevice(tgtd().uri(IQN_UNSOLICITED, 1));
    try {
      expect(dev.describe?.()).toMatchObject({
        MaxBurstLength: 65536,
        FirstBurstLength: 16384,
        'target MaxRecvDataSegmentLength': 4096,
        InitialR2T: false,
        ImmediateData: false,
      });
    } finally {
      await dev.close();
    }
    const defaults = await openDevice(tgtd().uri(IQN, 1));
    try {
      expect(defaults.describe?.()).toMatchObject({ InitialR2T: true, ImmediateData: true });
    } finally {
      await defaults.close();
    }
  });
});
