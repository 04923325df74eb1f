/**
 * The dashboard's state rules: a snapshot, then live events applied in order; replays and stale task
 * records change nothing; the event log is bounded; partition cells, rate and ETA come from what the
 * cluster reported and say "no estimate" rather than guess.
 */
import { describe, expect, it } from 'vitest';
import { applyEvent, LOG_LIMIT, otherServers, setConnection, sortedTasks, stateFromSnapshot, type Snapshot } from '../../src/ui/model.js';
import { partitionCells, rateAndEta, taskProgress, type ServerEvent, type TaskRecord } from '../../src/wire/index.js';

const task = (id: string, state: TaskRecord['state'], updatedAt: string, result: unknown = null): TaskRecord => ({
  id,
  cluster: 'c1',
  kind: 'checksum',
  args: { partitions: 4 },
  requestId: null,
  issuedVia: 'A',
  state,
  executor: { agentId: 'A@c1', serverId: 'A', host: 'h', pid: 10 },
  executors: [{ agentId: 'A@c1', serverId: 'A', host: 'h', pid: 10 }],
  driverPid: null,
  attempts: 1,
  control: null,
  result,
  error: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt,
});

const snapshot: Snapshot = {
  user: 'admin',
  serverId: 'A',
  servers: [
    { id: 'A', self: true, cluster: 'c1', url: 'http://127.0.0.1:1', reachable: true, checkedAt: null },
    { id: 'B', self: false, cluster: 'c2', url: 'http://127.0.0.1:2', reachable: true, checkedAt: null },
  ],
  clusters: [
    {
      id: 'c1',
      config: { clusterId: 'c1', deviceCount: 2, devices: [{ name: 'd0', uri: '/x/d0.img' }, { name: 'd1', uri: '/x/d1.img' }] },
      devices: [
        { name: 'd0', available: true, reason: 'probe ok', since: '2026-01-01T00:00:00.000Z', errors: 0 },
        { name: 'd1', available: true, reason: 'probe ok', since: '2026-01-01T00:00:00.000Z', errors: 0 },
      ],
      deviceCount: 2,
      availableCount: 2,
      seq: 3,
      agents: [],
      taskCount: 0,
      volumes: [],
      controllers: [],
    },
  ],
  tasks: [],
  agents: [],
};

const at = '2026-01-01T00:00:01.000Z';

describe('dashboard model', () => {
  it('marks a device unavailable and recounts the cluster from a device.changed event', () => {
    const s = applyEvent(stateFromSnapshot(snapshot), { id: 1, at, type: 'device.changed', cluster: 'c1', device: { name: 'd1', available: false, reason: 'probe read failed: EIO', since: at, errors: 3 } });
    expect(s.clusters.c1?.availableCount).toBe(1);
    expect(s.clusters.c1?.devices.find((d) => d.name === 'd1')).toMatchObject({ available: false, errors: 3 });
    expect(s.log.at(-1)?.text).toBe('device d1 UNAVAILABLE: probe read failed: EIO');
    expect(s.lastEventId).toBe(1);
  });

  it('keeps the newer task record and ignores replayed events', () => {
    let s = stateFromSnapshot(snapshot);
    const running: ServerEvent = { id: 5, at, type: 'task.changed', cluster: 'c1', task: task('t-1', 'running', '2026-01-01T00:00:02.000Z') };
    const done: ServerEvent = { id: 6, at, type: 'task.changed', cluster: 'c1', task: task('t-1', 'succeeded', '2026-01-01T00:00:03.000Z') };
    s = applyEvent(applyEvent(s, running), done);
    expect(s.tasks['t-1']?.state).toBe('succeeded');
    expect(applyEvent(s, running)).toBe(s);
    const stale: ServerEvent = { id: 7, at, type: 'task.changed', cluster: 'c1', task: task('t-1', 'running', '2026-01-01T00:00:02.500Z') };
    expect(applyEvent(s, stale).tasks['t-1']?.state).toBe('succeeded');
  });

  it('adds no log line for an event that says in words what the newest line of its kind said (progress, heartbeats)', () => {
    let s = stateFromSnapshot(snapshot);
    const progress = (id: number, bytesDone: number): ServerEvent => ({ id, at, type: 'task.changed', cluster: 'c1', task: task('t-1', 'running', `2026-01-01T00:00:0${id}.000Z`, { bytesDone }) });
    for (let i = 1; i <= 4; i++) s = applyEvent(s, progress(i, i * 1024));
    expect(s.log.map((l) => l.text)).toEqual(['task t-1 (checksum) running']);
    expect(taskProgress(s.tasks['t-1'] ?? task('x', 'running', at))?.bytesDone).toBe(4096);
    s = applyEvent(s, { id: 5, at, type: 'task.changed', cluster: 'c1', task: task('t-1', 'succeeded', '2026-01-01T00:00:06.000Z') });
    expect(s.log.map((l) => l.text)).toEqual(['task t-1 (checksum) running', 'task t-1 (checksum) succeeded']);
    expect(s.lastEventId).toBe(5);
  });

  it('lists an expired agent as not alive and keeps the log to its limit', () => {
    let s = stateFromSnapshot(snapshot);
    const agent = { agentId: 'A@c1', clusterId: 'c1', serverId: 'A', host: 'h', pid: 1, registeredAt: at, lastHeartbeatAt: at, alive: true };
    s = applyEvent(s, { id: 1, at, type: 'agent.registered', cluster: 'c1', agent });
    s = applyEvent(s, { id: 2, at, type: 'agent.expired', cluster: 'c1', agent: { ...agent, alive: false } });
    expect(s.agents['A@c1']?.alive).toBe(false);
    for (let i = 3; i < LOG_LIMIT + 50; i++) s = applyEvent(s, { id: i, at, type: 'agent.registered', cluster: 'c1', agent: { ...agent, pid: i } });
    expect(s.log).toHaveLength(LOG_LIMIT);
    expect(s.log.at(-1)?.id).toBe(LOG_LIMIT + 49);
  });

  it('logs a lost connection once and offers the other configured server', () => {
    const s = setConnection(stateFromSnapshot(snapshot), 'lost', 'server A stopped answering', at);
    expect(setConnection(s, 'lost', 'again', at)).toBe(s);
    expect(s.log.map((l) => l.text)).toEqual(['server A stopped answering']);
    expect(otherServers(s).map((o) => o.id)).toEqual(['B']);
  });

  it('sorts tasks newest first', () => {
    const s = stateFromSnapshot({ ...snapshot, tasks: [{ ...task('t-old', 'running', at), createdAt: '2026-01-01T00:00:00.000Z' }, { ...task('t-new', 'running', at), createdAt: '2026-01-02T00:00:00.000Z' }] });
    expect(sortedTasks(s).map((t) => t.id)).toEqual(['t-new', 't-old']);
  });
});

describe('task progress from reported status', () => {
  it('draws one cell per reported partition state with its owner', () => {
    const p = taskProgress(task('t', 'running', at, { partitions: 3, partitionStates: ['COMPLETE', 'IN PROGRESS', 'READY'], partitionOwners: [1, 2, null] }));
    expect(partitionCells(p)).toEqual([
      { index: 0, state: 'COMPLETE', owner: '1' },
      { index: 1, state: 'IN PROGRESS', owner: '2' },
      { index: 2, state: 'READY', owner: null },
    ]);
  });

  it('falls back to counts, and to no cells when nothing is reported', () => {
    expect(partitionCells(taskProgress(task('t', 'succeeded', at, { counts: { ready: 1, inProgress: 0, complete: 2, failed: 1 } }))).map((c) => c.state)).toEqual(['COMPLETE', 'COMPLETE', 'FAILED', 'READY']);
    expect(partitionCells(taskProgress(task('t', 'running', at, null)))).toEqual([]);
    expect(partitionCells(taskProgress(task('t', 'running', at, 'not an object')))).toEqual([]);
  });

  it('gives no estimate from fewer than two distinct samples, then rate and ETA', () => {
    expect(rateAndEta([], 100)).toEqual({ rate: null, etaSeconds: null });
    expect(rateAndEta([{ atMs: 0, bytesDone: 10 }], 100)).toEqual({ rate: null, etaSeconds: null });
    expect(rateAndEta([{ atMs: 0, bytesDone: 0 }, { atMs: 2000, bytesDone: 50 }], 100)).toEqual({ rate: 25, etaSeconds: 2 });
    expect(rateAndEta([{ atMs: 0, bytesDone: 0 }, { atMs: 2000, bytesDone: 50 }], undefined)).toEqual({ rate: 25, etaSeconds: null });
  });
});
