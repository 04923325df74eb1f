/**
 * How controllers' I/O reports become device state: the controller's tracker (threshold, "unavailable"
 * errors, return on success), the host record that carries it, and the store's fold (stored once across
 * agents, a probe does not undo recent I/O errors, the same controller's successful I/O does).
 */
import { describe, expect, it } from 'vitest';
import { ClusterStore, IO_ERRORS_REASON, type IoReport } from '../../src/cluster/store.js';
import { DeviceHealthTracker } from '../../src/controller/device-health.js';
import { DeviceIoError, DeviceUnavailableError, LeaseLostError } from '../../src/errors.js';
import { decodeHostRecord, encodeHostRecord, HostRole, HostState, type DeviceHealth, type HostRecord } from '../../src/metadata/host-record.js';
import { tempDir } from '../support/temp.js';

const URI = 'nbd+unix:///?socket=/tmp/x.sock';
const eio = (): DeviceIoError => new DeviceIoError(URI, 'write', 4096, 4096);

function storeWithDevice(): ClusterStore {
  const store = new ClusterStore(tempDir('blockrig-ioreports-'), 'c1');
  store.storeConfig({ clusterId: 'c1', deviceCount: 1, devices: [{ name: 'd0', uri: URI }] }, new Date(0).toISOString());
  store.storeDeviceState('d0', true, 'probe ok', new Date(1000).toISOString());
  return store;
}

const at = (ms: number): string => new Date(ms).toISOString();
const report = (errors: number, unavailable: boolean, reporter = 'r1'): IoReport => ({ reporter, by: 'host1/42', errors, unavailable, message: 'EIO at 4096' });

describe('DeviceHealthTracker', () => {
  it('turns a device unavailable after the threshold of consecutive errors, at once on an unavailable error, and back on success', () => {
    const published: DeviceHealth[][] = [];
    const t = new DeviceHealthTracker((l) => published.push(l), 3);
    t.failed(URI, eio());
    t.failed(URI, eio());
    expect(t.list()).toEqual([{ uri: URI, errors: 2, unavailable: false, message: eio().message }]);
    t.succeeded(URI);
    t.failed(URI, eio());
    expect(t.list()[0]?.unavailable).toBe(false);
    t.failed(URI, eio());
    t.failed(URI, eio());
    expect(t.list()[0]).toMatchObject({ errors: 5, unavailable: true });
    t.succeeded(URI);
    expect(t.list()[0]).toMatchObject({ errors: 5, unavailable: false });
    t.failed('other', new DeviceUnavailableError('other', 'gone'));
    expect(t.list()[1]).toMatchObject({ uri: 'other', errors: 1, unavailable: true });
    t.failed(URI, new LeaseLostError('fenced'));
    expect(t.list()[0]?.errors).toBe(5);
    expect(published.at(-1)).toEqual(t.list());
  });
});

describe('host record device health', () => {
  it('round-trips in the host record, and a record without it decodes as before', () => {
    const base: HostRecord = { incarnation: 3, state: HostState.Live, heartbeat: 9, nonce: Buffer.alloc(8, 7), pid: 42, claim: undefined, role: HostRole.Controller, wallTime: 5, hostname: 'h' };
    const health: DeviceHealth[] = [{ uri: URI, errors: 4, unavailable: true, message: 'EIO' }];
    expect(encodeHostRecord(base)).toHaveLength(120);
    expect(decodeHostRecord(encodeHostRecord(base))).toEqual(base);
    expect(decodeHostRecord(encodeHostRecord({ ...base, deviceHealth: health }))).toEqual({ ...base, deviceHealth: health });
    const bad = encodeHostRecord({ ...base, deviceHealth: health });
    bad.write('{', 124);
    expect(decodeHostRecord(bad)).toMatch(/device health JSON does not validate/);
  });
});

describe('ClusterStore.storeIoReport', () => {
  it('stores the device unavailable with the controller as reason once, however many agents fold the same report', () => {
    const store = storeWithDevice();
    expect(store.storeIoReport('d0', report(2, false), at(2000))).toBeNull();
    const change = store.storeIoReport('d0', report(3, true), at(3000));
    expect(change?.body).toMatchObject({ name: 'd0', available: false, since: at(3000), reason: `${IO_ERRORS_REASON} host1/42: 3 errors, last: EIO at 4096` });
    expect(store.storeIoReport('d0', report(3, true), at(3100))).toBeNull();
    expect(store.device('d0')?.errors).toBe(3);
  });

  it('keeps a probe from undoing recent I/O errors, and lets it once they are old', () => {
    const store = storeWithDevice();
    store.ioErrorHoldMs = 5000;
    store.storeIoReport('d0', report(3, true), at(10_000));
    expect(store.storeDeviceState('d0', true, 'probe ok', at(12_000))).toBeNull();
    expect(store.storeIoReport('d0', report(6, true), at(14_000))).toBeNull();
    expect(store.storeDeviceState('d0', true, 'probe ok', at(18_000))).toBeNull();
    expect(store.storeDeviceState('d0', true, 'probe ok', at(19_500))?.body).toMatchObject({ available: true, reason: 'probe ok' });
    // The same stale report does not flip it back; new errors do.
    expect(store.storeIoReport('d0', report(6, true), at(20_000))).toBeNull();
    expect(store.storeIoReport('d0', report(7, true), at(21_000))?.body).toMatchObject({ available: false });
  });

  it("stores the return when the same controller's I/O succeeds again, unless another controller's errors are recent", () => {
    const store = storeWithDevice();
    store.storeIoReport('d0', report(3, true, 'r1'), at(10_000));
    store.storeIoReport('d0', report(4, true, 'r2'), at(10_500));
    expect(store.storeIoReport('d0', report(3, false, 'r1'), at(11_000))).toBeNull();
    const back = store.storeIoReport('d0', report(4, false, 'r2'), at(11_500));
    expect(back?.body).toMatchObject({ available: true, reason: 'I/O succeeds again from controller host1/42' });
  });

  it('does not call a device available from I/O when a failed probe made it unavailable', () => {
    const store = storeWithDevice();
    store.storeDeviceState('d0', false, 'probe failed: ENOENT', at(2000), 1);
    store.storeIoReport('d0', report(3, true), at(3000));
    expect(store.storeIoReport('d0', report(3, false), at(4000))).toBeNull();
    expect(store.device('d0')).toMatchObject({ available: false, reason: 'probe failed: ENOENT', errors: 4 });
  });
});
