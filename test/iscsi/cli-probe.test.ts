/** `blockrig device probe iscsi://...` against tgtd: inquiry data and capacity, in text and JSON. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTgtd } from './use-tgtd.js';

const IQN = 'iqn.2026-01.dev.blockrig:probe';
const tgtd = useTgtd([{ iqn: IQN, luns: [{ lun: 1, sizeBytes: 32 * 1024 * 1024 }] }]);

describe('blockrig device probe iscsi://', () => {
  it('prints vendor, product, revision, serial, device id and capacity', () => {
    const result = runCli(['device', 'probe', tgtd().uri(IQN, 1)]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^driver:\s+iscsi$/m);
    expect(result.stdout).toMatch(/^size:\s+.*\(33554432 bytes\)$/m);
    expect(result.stdout).toMatch(/^vendor:\s+IET$/m);
    expect(result.stdout).toMatch(/^product:\s+VIRTUAL-DISK$/m);
    expect(result.stdout).toMatch(/^revision:\s+0001$/m);
    expect(result.stdout).toMatch(/^serial:\s+beaf11$/m);
    expect(result.stdout).toMatch(/^device id:\s+.*t10\.IET\s+00010001/m);
    expect(result.stdout).toMatch(/^capacity \(blocks\):\s+65536$/m);
    expect(result.stdout).toMatch(/^target LUNs:\s+0, 1$/m);
  });

  it('gives the same facts as JSON, and a clear error for a LUN that is not there', () => {
    const result = runCli(['device', 'probe', tgtd().uri(IQN, 1), '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as { driver: string; size: number; details: Record<string, unknown> };
    expect(report).toMatchObject({ driver: 'iscsi', size: 32 * 1024 * 1024, details: { vendor: 'IET', product: 'VIRTUAL-DISK', lun: 1, 'block length': 512 } });
    const missing = runCli(['device', 'probe', tgtd().uri(IQN, 7)]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/iSCSI LUN 7" does not exist/);
  });
});
