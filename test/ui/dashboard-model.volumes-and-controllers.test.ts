/**
 * The dashboard's rules for volumes and controllers: a `cluster.volumes` or `cluster.controllers` event
 * replaces that cluster's list and logs a line; a volume learnt from a fail/replace answer is merged in
 * until the stored list arrives; events of an unknown cluster change only the log.
 */
import { describe, expect, it } from 'vitest';
import { applyEvent, noteVolume, stateFromSnapshot, type Snapshot } from '../../src/ui/model.js';
import type { ControllerView, VolumeView } from '../../src/wire/index.js';

const at = '2026-01-01T00:00:01.000Z';

const volume = (name: string, state: VolumeView['state'], memberStates: VolumeView['members'][number]['state'][]): VolumeView => ({
  name,
  level: 'raid1',
  state,
  chunkSize: 65536,
  members: memberStates.map((s, index) => ({ index, uri: `/x/d${index}.img`, device: `d${index}`, state: s, reason: null, readErrors: 0, writeErrors: 0, rebuild: null })),
  spares: [],
  rebuildPaused: false,
});

const snapshot: Snapshot = {
  user: 'admin',
  serverId: 'A',
  servers: [],
  clusters: [
    { id: 'c1', config: null, devices: [], deviceCount: 2, availableCount: 2, seq: 1, agents: [], taskCount: 0, volumes: [volume('m', 'clean', ['in-sync', 'in-sync'])], controllers: [] },
  ],
  tasks: [],
  agents: [],
};

describe('dashboard model: volumes and controllers', () => {
  it('replaces the volume list from cluster.volumes and logs each volume state', () => {
    const s = applyEvent(stateFromSnapshot(snapshot), { id: 1, at, type: 'cluster.volumes', cluster: 'c1', volumes: [volume('m', 'degraded', ['in-sync', 'failed'])] });
    expect(s.clusters.c1?.volumes[0]?.state).toBe('degraded');
    expect(s.clusters.c1?.volumes[0]?.members[1]?.state).toBe('failed');
    expect(s.log.at(-1)?.text).toBe('volumes: m degraded');
  });

  it('merges a volume from an action answer, keeping the others, sorted by name', () => {
    let s = stateFromSnapshot(snapshot);
    s = noteVolume(s, 'c1', volume('a', 'clean', ['in-sync']));
    s = noteVolume(s, 'c1', volume('m', 'degraded', ['failed', 'in-sync']));
    expect(s.clusters.c1?.volumes.map((v) => `${v.name} ${v.state}`)).toEqual(['a clean', 'm degraded']);
    expect(noteVolume(s, 'nope', volume('x', 'clean', []))).toBe(s);
  });

  it('replaces the controllers from cluster.controllers and counts live controllers in the log', () => {
    const controllers: ControllerView[] = [
      { slot: 0, hostname: 'h', pid: 1, role: 'controller', state: 'LIVE', live: true, incarnation: 1, running: { taskId: '0000002a', chunk: 3 } },
      { slot: 1, hostname: 'h', pid: 2, role: 'controller', state: 'LIVE', live: false, incarnation: 1, running: null },
      { slot: 2, hostname: 'h', pid: 3, role: 'client', state: 'LIVE', live: true, incarnation: 1, running: null },
    ];
    const s = applyEvent(stateFromSnapshot(snapshot), { id: 2, at, type: 'cluster.controllers', cluster: 'c1', controllers });
    expect(s.clusters.c1?.controllers).toEqual(controllers);
    expect(s.log.at(-1)?.text).toBe('controllers: 1 live of 2');
    const unknown = applyEvent(s, { id: 3, at, type: 'cluster.controllers', cluster: 'c9', controllers: [] });
    expect(unknown.clusters).toBe(s.clusters);
  });
});
