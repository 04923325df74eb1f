/**
 * The initiator against a real tgtd, beyond the contract: what it reads about the LUN agrees with libiscsi's
 * own tools on the same LUN; what it writes is in the backing file; UNMAP reaches the file on a thin LUN;
 * CHAP logins; clear refusals (wrong password, unknown IQN, the controller LUN 0); and a target restart.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createIscsiDevice, type IscsiDevice } from '../../drivers/iscsi.js';
import { openDevice } from '../../drivers/index.js';
import { parseDeviceUri } from '../../drivers/uri.js';
import { ErrorCode } from '../../src/errors.js';
import { discoverTargets } from '../../src/iscsi/discovery.js';
import { openSession } from '../../src/iscsi/open-session.js';
import { listLuns } from '../../src/iscsi/scsi/identify.js';
import { parseIscsiUri } from '../../src/iscsi/uri.js';
import { systemClock } from '../../src/clock.js';
import { requireCommand } from '../support/requirements.js';
import { waitFor } from '../support/processes.js';
import type { Tgtd } from '../../src/iscsi/tgtd-target.js';
import { useTgtd } from './use-tgtd.js';

const IQN = 'iqn.2026-01.dev.blockrig:initiator';
const IQN_CHAP = 'iqn.2026-01.dev.blockrig:chap';
const SIZE = 16 * 1024 * 1024;
const target = useTgtd([
  { iqn: IQN, luns: [{ lun: 1, sizeBytes: SIZE, thin: true }, { lun: 2, sizeBytes: 8 * 1024 * 1024 }, { lun: 3, sizeBytes: 4 * 1024 * 1024, readOnly: true }] },
  { iqn: IQN_CHAP, luns: [{ lun: 1, sizeBytes: 4 * 1024 * 1024 }], chap: { user: 'rig', password: 'secret-of-rig1' } },
]);
let tgtd: Tgtd;

beforeAll(() => {
  tgtd = target();
});

function libiscsi(tool: string, args: readonly string[]): string {
  requireCommand(tool, 'libiscsi-bin');
  return execFileSync(tool, args, { encoding: 'utf8', timeout: 20_000 });
}

function readFileRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

describe('iscsi initiator against tgtd', () => {
  it('reads the same inquiry data, serial number and capacity as iscsi-inq and iscsi-readcapacity16', async () => {
    const uri = tgtd.uri(IQN, 1);
    const dev = (await openDevice(uri, { readOnly: true })) as IscsiDevice;
    try {
      const inq = libiscsi('iscsi-inq', [uri]);
      const field = (name: string): string => new RegExp(`^${name}:(.*)$`, 'm').exec(inq)?.[1]?.trim() ?? '(missing)';
      const facts = dev.describe();
      expect(facts.vendor).toBe(field('Vendor'));
      expect(facts.product).toBe(field('Product'));
      expect(facts.revision).toBe(field('Revision'));
      const serial = /Unit Serial Number:\[(.*)\]/.exec(libiscsi('iscsi-inq', ['-e', '1', '-c', '128', uri]))?.[1]?.trim();
      expect(facts.serial).toBe(serial);
      const t10 = /Designator:\[(IET.*)\]/.exec(libiscsi('iscsi-inq', ['-e', '1', '-c', '131', uri]))?.[1];
      expect(String(facts['device id'])).toContain(`t10.${t10}`);
      const capacity = libiscsi('iscsi-readcapacity16', [uri]);
      expect(dev.size).toBe(Number(/Total size:(\d+)/.exec(capacity)?.[1]));
      expect(dev.logicalBlockSize).toBe(Number(/LOGICAL BLOCK LENGTH IN BYTES:(\d+)/.exec(capacity)?.[1]));
      expect(capacity).toContain('LBPME:1');
      expect(dev.capabilities.trim).toBe(true);
    } finally {
      await dev.close();
    }
  });

  it('lists the same LUNs with REPORT LUNS as iscsi-ls', async () => {
    const session = await openSession(parseIscsiUri(parseDeviceUri(tgtd.uri(IQN, 0))), systemClock);
    try {
      const ours = await listLuns(session, systemClock);
      // iscsi-ls walks every target and stops at one it cannot log in to, so it gets the CHAP account too.
      const listing = libiscsi('iscsi-ls', ['-s', `iscsi://rig%secret-of-rig1@127.0.0.1:${tgtd.port}`]);
      const section = listing.split(/^Target:/m).find((s) => s.startsWith(`${IQN} `)) ?? '';
      const theirs = [...section.matchAll(/^Lun:(\d+)/gm)].map((m) => Number(m[1]));
      expect(ours).toEqual([0, 1, 2, 3]);
      expect(theirs.sort()).toEqual(ours);
    } finally {
      await session.logout();
    }
  });

  it('discovers the same targets with SendTargets as iscsi-ls', async () => {
    const targets = await discoverTargets({ host: '127.0.0.1', port: tgtd.port, initiatorName: 'iqn.2026-01.dev.blockrig:test', timeoutMs: 10_000 }, systemClock);
    const listing = libiscsi('iscsi-ls', ['-s', `iscsi://rig%secret-of-rig1@127.0.0.1:${tgtd.port}`]);
    const theirs = [...listing.matchAll(/^Target:(\S+) Portal:(\S+)/gm)].map((m) => ({ name: m[1], addresses: [m[2]] }));
    expect(targets.map((t) => t.name).sort()).toEqual([IQN, IQN_CHAP].sort());
    expect([...targets].sort((a, b) => a.name.localeCompare(b.name))).toEqual([...theirs].sort((a, b) => String(a.name).localeCompare(String(b.name))));
  });

  it('writes land in the backing file, and UNMAP punches them out on a thin LUN', async () => {
    const dev = await openDevice(tgtd.uri(IQN, 1));
    const file = tgtd.backingFile(IQN, 1);
    try {
      const data = randomBytes(3 * 1024 * 1024 + 4096);
      await dev.write(1024 * 1024, data, { fua: true });
      expect(Buffer.compare(readFileRange(file, 1024 * 1024, data.length), data)).toBe(0);
      await dev.trim(1024 * 1024, 1024 * 1024);
      await dev.flush();
      expect(readFileRange(file, 1024 * 1024, 1024 * 1024).every((b) => b === 0)).toBe(true);
      expect(Buffer.compare(readFileRange(file, 2 * 1024 * 1024, 4096), data.subarray(1024 * 1024, 1024 * 1024 + 4096))).toBe(0);
    } finally {
      await dev.close();
    }
  });

  it('zeroes with WRITE SAME, deallocating on a thin LUN unless asked not to', async () => {
    const dev = await openDevice(tgtd.uri(IQN, 1));
    const file = tgtd.backingFile(IQN, 1);
    try {
      expect(dev.capabilities.writeZeroes).toBe(true);
      await dev.write(8 * 1024 * 1024, Buffer.alloc(4 * 1024 * 1024, 0x3c), { fua: true });
      const before = statSync(file).blocks;
      await dev.writeZeroes(8 * 1024 * 1024, 2 * 1024 * 1024, { noUnmap: true, fua: true });
      expect(statSync(file).blocks).toBe(before);
      await dev.writeZeroes(10 * 1024 * 1024, 2 * 1024 * 1024, { fua: true });
      expect(statSync(file).blocks).toBeLessThanOrEqual(before - (2 * 1024 * 1024) / 512);
      expect(readFileRange(file, 8 * 1024 * 1024, 4 * 1024 * 1024).every((b) => b === 0)).toBe(true);
      expect((await dev.read(8 * 1024 * 1024 - 4096, 4096)).every((b) => b === 0)).toBe(true);
    } finally {
      await dev.close();
    }
  });

  it('offers no trim on a fully provisioned LUN', async () => {
    const dev = await openDevice(tgtd.uri(IQN, 2));
    try {
      expect(dev.capabilities.trim).toBe(false);
      await expect(dev.trim(0, 4096)).rejects.toMatchObject({ code: ErrorCode.Unsupported });
    } finally {
      await dev.close();
    }
  });

  it('opens a LUN that carries a foreign filesystem read-only unless forced', async () => {
    const file = tgtd.backingFile(IQN, 2);
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, Buffer.from('XFSB'), 0, 4, 0);
    } finally {
      closeSync(fd);
    }
    const guarded = await openDevice(tgtd.uri(IQN, 2));
    try {
      expect(guarded.capabilities.readOnly).toBe(true);
      await expect(guarded.write(4096, Buffer.alloc(4096))).rejects.toMatchObject({ code: ErrorCode.ForeignData, message: expect.stringMatching(/XFS/) as unknown });
    } finally {
      await guarded.close();
    }
    const forced = await openDevice(tgtd.uri(IQN, 2), { force: true });
    try {
      expect(forced.capabilities.readOnly).toBe(false);
      await forced.write(0, Buffer.alloc(4096), { fua: true });
    } finally {
      await forced.close();
    }
    expect(readFileRange(file, 0, 4).every((b) => b === 0)).toBe(true);
  });

  it('reads write protection and the write cache from MODE SENSE', async () => {
    const writable = await openDevice(tgtd.uri(IQN, 2));
    const protectedLun = await openDevice(tgtd.uri(IQN, 3));
    try {
      expect(writable.capabilities).toMatchObject({ readOnly: false, flush: true, fua: true });
      expect(writable.describe?.()).toMatchObject({ 'write cache': true, 'write protected': false });
      expect(protectedLun.capabilities.readOnly).toBe(true);
      await expect(protectedLun.write(0, Buffer.alloc(4096))).rejects.toMatchObject({ code: ErrorCode.ReadOnly });
      expect((await protectedLun.read(0, 4096)).length).toBe(4096);
    } finally {
      await writable.close();
      await protectedLun.close();
    }
  });

  it('logs in with CHAP, and refuses a wrong password with BLOCKRIG_E_ISCSI_LOGIN', async () => {
    const dev = await openDevice(tgtd.uri(IQN_CHAP, 1, 'rig%secret-of-rig1@'));
    try {
      expect(dev.uri).toContain('rig%***@');
      await dev.write(0, Buffer.alloc(4096, 0x42));
      expect((await dev.read(0, 4096)).every((b) => b === 0x42)).toBe(true);
    } finally {
      await dev.close();
    }
    await expect(openDevice(tgtd.uri(IQN_CHAP, 1, 'rig%wrong-password@'))).rejects.toMatchObject({
      code: ErrorCode.IscsiLogin,
      message: expect.stringMatching(/authentication failed/) as unknown,
    });
    await expect(openDevice(tgtd.uri(IQN_CHAP, 1))).rejects.toMatchObject({ code: ErrorCode.IscsiLogin });
  });

  it('refuses an unknown target and the controller LUN 0 with clear errors', async () => {
    await expect(openDevice(tgtd.uri('iqn.2026-01.dev.blockrig:nonexistent', 1))).rejects.toMatchObject({
      code: ErrorCode.IscsiLogin,
      message: expect.stringMatching(/target was not found/) as unknown,
    });
    await expect(openDevice(tgtd.uri(IQN, 0))).rejects.toMatchObject({
      code: ErrorCode.Unsupported,
      message: expect.stringMatching(/storage array controller/) as unknown,
    });
  });

  it('turns unavailable when the target dies, and logs in again when it is back', async () => {
    const uri = tgtd.uri(IQN, 2);
    const dev = await createIscsiDevice({ uri, address: parseIscsiUri(parseDeviceUri(uri)), reconnectDelayMs: 100 });
    const changes: boolean[] = [];
    dev.onAvailabilityChange((c) => changes.push(c.available));
    try {
      expect(dev.stats.unitAttentions).toBeGreaterThanOrEqual(1); // tgt's "power on, reset" on the new nexus
      const data = randomBytes(64 * 1024);
      await dev.write(0, data, { fua: true });
      await tgtd.crash();
      await waitFor(() => !dev.available, 10_000, 'the device to notice the target is gone');
      await expect(dev.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable });
      await tgtd.start();
      await waitFor(() => dev.available, 20_000, 'the device to log in again');
      expect(Buffer.compare(await dev.read(0, data.length), data)).toBe(0);
      expect(dev.sessionsOpened).toBeGreaterThanOrEqual(2);
      expect(changes).toEqual([false, true]);
    } finally {
      await dev.close();
    }
  });
});
