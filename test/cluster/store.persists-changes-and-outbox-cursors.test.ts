/**
 * The cluster store (seed 000 claim 14, seed 001 claims 5, 14, 23): configuration and device state kept
 * as persistent data, each change logged once in order, per-server transmit cursors, guarded task updates.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterStore } from '../../src/cluster/store.js';
import type { Executor } from '../../src/wire/index.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-store-');
const at = '2026-01-01T00:00:00.000Z';
const config = { clusterId: 'c1', deviceCount: 2, devices: [{ name: 'd0', uri: 'memory:?size=1MiB' }, { name: 'd1', uri: 'memory:?size=1MiB' }] };
const agentA: Executor = { agentId: 'A@c1', serverId: 'A', host: 'h', pid: 100 };
const agentB: Executor = { agentId: 'B@c1', serverId: 'B', host: 'h', pid: 200 };

describe('cluster store', () => {
  it('stores the configuration once, with a "not probed yet" state per device, and reopens with it', () => {
    const path = join(dir, 'one');
    const store = new ClusterStore(path, 'c1');
    const changes = store.storeConfig(config, at);
    expect(changes.map((c) => c.type)).toEqual(['config', 'device', 'device']);
    expect(store.storeConfig(config, at)).toEqual([]);
    store.close();
    const again = new ClusterStore(path, 'c1');
    expect(again.config()?.deviceCount).toBe(2);
    expect(again.devices().map((d) => [d.name, d.available, d.reason])).toEqual([
      ['d0', false, 'not probed yet'],
      ['d1', false, 'not probed yet'],
    ]);
    again.close();
  });

  it('logs an availability change once, even when two agents report it, and counts errors', () => {
    const first = new ClusterStore(join(dir, 'two'), 'c1');
    const second = new ClusterStore(join(dir, 'two'), 'c1');
    first.storeConfig(config, at);
    expect(first.storeDeviceState('d0', true, 'probe ok', at)?.type).toBe('device');
    expect(second.storeDeviceState('d0', true, 'probe ok', at)).toBeNull();
    const down = second.storeDeviceState('d0', false, 'probe failed: EIO', '2026-01-01T00:01:00.000Z', 1);
    expect(down?.body).toEqual({ name: 'd0', available: false, reason: 'probe failed: EIO', since: '2026-01-01T00:01:00.000Z', errors: 1 });
    expect(first.storeDeviceState('d0', false, 'probe failed: EIO', at, 1)).toBeNull();
    expect(first.device('d0')?.errors).toBe(2);
    expect(() => first.storeDeviceState('d9', true, 'x', at)).toThrow(/no device "d9"/);
    first.close();
    second.close();
  });

  it('keeps a transmit cursor per server: changes after it are what that server still lacks', () => {
    const store = new ClusterStore(join(dir, 'three'), 'c1');
    store.storeConfig(config, at);
    const last = store.lastSeq();
    store.markTransmitted('A', last);
    store.storeDeviceState('d1', true, 'probe ok', at);
    expect(store.changesAfter(store.transmittedSeq('A')).map((c) => c.seq)).toEqual([last + 1]);
    expect(store.changesAfter(store.transmittedSeq('B'))).toHaveLength(last + 1);
    store.markTransmitted('A', 1); // never goes back
    expect(store.transmittedSeq('A')).toBe(last);
    expect(store.snapshot().seq).toBe(last + 1);
    expect(store.pruneChanges(1)).toBe(last);
    expect(store.changesAfter(0).map((c) => c.seq)).toEqual([last + 1]);
    store.close();
  });

  it('accepts a task once per id and request id, and guards updates by the executor', () => {
    const store = new ClusterStore(join(dir, 'four'), 'c1');
    const issue = { cluster: 'c1', kind: 'fill' as const, args: {}, requestId: 'r1' };
    const accepted = store.acceptTask('t1', issue, 'A', agentA, at);
    expect(accepted.created).toBe(true);
    expect(accepted.task.executor).toEqual(agentA);
    expect(store.acceptTask('t2', issue, 'B', agentB, at).task.id).toBe('t1');
    expect(() => store.updateTask('t1', { executor: agentB }, at, agentB)).toThrow(/executed by A@c1/);
    const taken = store.updateTask('t1', { executor: agentB }, at, agentA);
    expect(taken.task.executors).toEqual([agentA, agentB]);
    expect(() => store.updateTask('t1', { state: 'succeeded' }, at, agentA)).toThrow(/executed by B@c1/);
    store.close();
  });
});
