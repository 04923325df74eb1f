/**
 * One simulated schedule: N controllers, an initiator, faults at chosen virtual times, then a supervisor
 * that restarts whatever died until the task ends. Returns what the checkers need.
 */
import { createMemoryDevice } from '../../../drivers/memory.js';
import { Controller } from '../../../src/controller/controller.js';
import type { ControllerEvent } from '../../../src/controller/events.js';
import { HostSession } from '../../../src/controller/host-session.js';
import { HostRole } from '../../../src/metadata/host-record.js';
import { formatRegion } from '../../../src/metadata/format.js';
import { RegionLayout } from '../../../src/metadata/layout.js';
import { MetadataRegion } from '../../../src/metadata/region.js';
import { defaultTaskKinds } from '../../../src/tasks/kinds.js';
import { submitTask, waitForTask, type Completion } from '../../../src/tasks/lifecycle.js';
import { seededRandom } from '../../../src/random.js';
import { DriftClock, Medium, SimDevice, SimProcess, WorldClock, type IoModel } from './world.js';

/** A fault at a virtual time. Target -1 is the initiator. */
export interface Fault {
  at: number;
  kind: 'kill' | 'pause' | 'restart';
  target: number;
  /** Pause length. */
  duration: number;
}

/** What a schedule is made of; fast-check generates these. */
export interface Scenario {
  seed: number;
  controllers: number;
  partitions: number;
  chunkPartitions: number;
  /** Per-controller clock rate (drift), e.g. 0.98-1.02. */
  rates: number[];
  /** Probability that an I/O is slow (lands late and acknowledges later). */
  lateProbability: number;
  faults: Fault[];
}

/** Timing of the simulated region: fast virtual leases, still obeying the safety rules. */
export const SIM_TIMING = { heartbeatIntervalMs: 1000, ioTimeoutMs: 1000, renewTimeoutMs: 4000, hostDeadMs: 7000 };
/** Faults happen before this virtual time; afterwards the supervisor restarts the dead. */
export const FAULT_WINDOW = 10_000;
const DEADLINE = 900_000;
const PARTITION_SIZE = 8192;

/** An event of one controller incarnation, stamped with the world's time. */
export interface SimEvent {
  proc: number;
  slot: number;
  incarnation: number;
  event: ControllerEvent;
}

/** What a run produced. */
export interface ScenarioResult {
  medium: Medium;
  events: SimEvent[];
  initiator: { proc: SimProcess; completion: Completion | undefined; error: unknown };
  finishedAt: number | undefined;
  dataOffset: number;
  regionTaskArea: { from: number; to: number };
  hostArea: { from: number; to: number };
  partitionSize: number;
  taskId: number | undefined;
}

interface Member {
  proc: SimProcess;
  slot: number;
  done: boolean;
}

/** Runs one schedule to the end (task finished) or to the virtual deadline. */
export async function runScenario(s: Scenario): Promise<ScenarioResult> {
  const world = new WorldClock();
  const random = seededRandom(s.seed);
  const hostSlots = s.controllers + 1;
  const geometry = { hostSlots, taskSlots: 2, maxChunksPerTask: 64 };
  const size = new RegionLayout(geometry).dataOffset + s.partitions * PARTITION_SIZE;
  const medium = new Medium(size, world, random);
  // force: the medium is fresh, so skip scanning it for foreign data
  const sb = await formatRegion(createMemoryDevice({ size, store: medium.store }), { geometry, timing: SIM_TIMING, force: true });
  const region0 = await MetadataRegion.open(createMemoryDevice({ size, store: medium.store }));
  const taskArea = { from: region0.layout.taskAreaOffset, to: region0.layout.chunkAreaOffset };
  medium.keepData = taskArea;
  const kinds = defaultTaskKinds();
  const model: IoModel = {
    land: () => (random() < s.lateProbability ? 300 + random() * 650 : 10 + random() * 150),
    ack: () => (random() < s.lateProbability ? random() * 700 : 1 + random() * 40),
  };
  const events: SimEvent[] = [];
  let nextProc = 0;
  const members: Member[] = [];

  const startController = (slot: number): Member => {
    const proc = new SimProcess(nextProc++);
    const member: Member = { proc, slot, done: false };
    members[slot] = member;
    const clock = new DriftClock(world, proc, s.rates[slot] ?? 1);
    const device = new SimDevice(medium, proc, model, 'sim://meta');
    void (async () => {
      try {
        const region = await MetadataRegion.open(device);
        const c = await Controller.start({
          region,
          clock,
          kinds,
          slot,
          random,
          pid: proc.id,
          hostname: `sim${slot}`,
          openTarget: () => Promise.reject(new Error('the simulation has one device')),
          auditTime: () => world.now(),
          onEvent: (event) => events.push({ proc: proc.id, slot, incarnation: c.session.incarnation, event }),
        });
        await c.run();
      } catch (err) {
        // fenced, or lost the race for its slot: the supervisor restarts it later
        if (process.env.SIM_DEBUG) console.log('controller', slot, 'ended:', err);
      } finally {
        member.done = true;
      }
    })();
    return member;
  };
  for (let i = 0; i < s.controllers; i++) startController(i);

  let initiatorProc = new SimProcess(nextProc++);
  const initiator: ScenarioResult['initiator'] = { proc: initiatorProc, completion: undefined, error: undefined };
  let taskId: number | undefined;
  let finishedAt: number | undefined;
  const runInitiator = async (): Promise<void> => {
    // Like a driver process: if it fails before its task is submitted, it is started again and resubmits.
    for (;;) {
      let session: HostSession | undefined;
      try {
        const clock = new DriftClock(world, initiatorProc, 1);
        const region = await MetadataRegion.open(new SimDevice(medium, initiatorProc, model, 'sim://meta'));
        session = await HostSession.join({ region, clock, slot: s.controllers, role: HostRole.Client, random, pid: initiatorProc.id, hostname: 'initiator' });
        const sub = await submitTask(session, kinds, { kind: 'fill', partitions: s.partitions, partitionSize: PARTITION_SIZE, chunkPartitions: s.chunkPartitions, initiator: true });
        taskId = sub.taskId;
        initiator.completion = await waitForTask(session, kinds, sub.taskId);
        await session.leave();
        return;
      } catch (err) {
        if (process.env.SIM_DEBUG) console.log('initiator ended:', world.now(), err);
        await session?.abandon(String(err));
        initiator.error = err;
        if (taskId !== undefined || initiatorProc.crashed) return;
        initiatorProc = new SimProcess(nextProc++);
        initiator.proc = initiatorProc;
        initiator.error = undefined;
      }
    }
  };
  void runInitiator();

  for (const f of s.faults) {
    void world.sleep(f.at).then(() => {
      const proc = f.target === -1 ? initiatorProc : members[f.target]?.proc;
      if (proc === undefined) return;
      if (f.kind === 'kill') proc.crash(world.now());
      else if (f.kind === 'pause') {
        proc.pause();
        void world.sleep(f.duration).then(() => proc.resume());
      } else if (f.target >= 0) startController(f.target);
    });
  }

  const reader = await MetadataRegion.open(createMemoryDevice({ size, store: medium.store }));
  while (world.now() < DEADLINE) {
    await world.advance(1000);
    if (world.now() > FAULT_WINDOW) {
      for (const m of members) {
        m.proc.resume();
        if (m.done || m.proc.crashed) startController(m.slot);
      }
      initiatorProc.resume();
      if (taskId === undefined && initiatorProc.crashed) {
        initiatorProc = new SimProcess(nextProc++);
        initiator.proc = initiatorProc;
        void runInitiator();
      }
    }
    const slot = (await reader.readTasks()).find((t) => t.value?.taskId === taskId && taskId !== undefined);
    const state = slot?.value?.state;
    if (state !== undefined && state >= 2) {
      finishedAt ??= world.now();
      // let the initiator (if alive) notice, then stop
      if (initiator.completion !== undefined || initiator.error !== undefined || initiatorProc.crashed || world.now() - finishedAt > 20_000) break;
    }
  }
  for (const m of members) m.proc.crash(world.now());
  initiatorProc.crash(world.now());
  return {
    medium,
    events,
    initiator,
    finishedAt,
    dataOffset: sb.dataOffset,
    regionTaskArea: taskArea,
    hostArea: { from: region0.layout.hostAreaOffset, to: region0.layout.taskAreaOffset },
    partitionSize: PARTITION_SIZE,
    taskId,
  };
}
