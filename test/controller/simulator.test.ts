/**
 * The deterministic simulator: seeded fast-check schedules of controllers, an initiator, I/O that lands
 * late and out of order, torn writes at crashes, paused processes and drifting clocks, all in virtual time.
 * Each schedule must keep three properties: no two controllers act for one chunk at once; every partition
 * ends COMPLETE (with the right data) while a controller lives; the completion actions are recorded once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TaskState } from '../../src/metadata/task-record.js';
import { completionWrites, finalState, overlappingOwners } from './sim/checks.js';
import { FAULT_WINDOW, runScenario, type Fault, type Scenario } from './sim/scenario.js';

const faultArb = (controllers: number): fc.Arbitrary<Fault> =>
  fc.record({
    at: fc.integer({ min: 0, max: FAULT_WINDOW - 2000 }),
    kind: fc.constantFrom<Fault['kind']>('kill', 'pause', 'pause', 'restart'),
    target: fc.integer({ min: -1, max: controllers - 1 }),
    duration: fc.integer({ min: 500, max: 9_000 }),
  });

const scenarioArb: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 4 }).chain((controllers) =>
  fc.record({
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    controllers: fc.constant(controllers),
    partitions: fc.integer({ min: 4, max: 40 }),
    chunkPartitions: fc.integer({ min: 1, max: 4 }),
    rates: fc.array(fc.double({ min: 0.98, max: 1.02, noNaN: true }), { minLength: controllers, maxLength: controllers }),
    lateProbability: fc.constantFrom(0, 0.01, 0.03),
    faults: fc.array(faultArb(controllers), { maxLength: 5 }),
  }),
);

async function check(s: Scenario): Promise<void> {
  // A schedule runs on microtasks alone (a manual clock, memory devices): let the worker's event loop turn
  // between schedules, or vitest's RPC to this worker goes unanswered for the whole run and times out.
  await new Promise((resolve) => setImmediate(resolve));
  const r = await runScenario(s);
  expect(overlappingOwners(r), 'two controllers acted for one chunk at once').toEqual([]);
  const final = await finalState(r);
  expect(final.state, `task finished (initiator: ${String(r.initiator.error)})`).toBe(TaskState.Finished);
  expect(final.notComplete, 'partitions not COMPLETE').toBe(0);
  expect(final.badBlocks, 'blocks with wrong data').toBe(0);
  expect(completionWrites(r), 'completion actions recorded').toBe(1);
  if (!r.initiator.proc.crashed || r.initiator.completion !== undefined) {
    // A live initiator is told exactly once: waitForTask resolves once, with the finished status.
    if (r.initiator.error === undefined) expect(r.initiator.completion?.state).toBe('finished');
  }
}

describe('coordination simulator', () => {
  it('keeps its properties over seeded schedules with crashes, pauses, late I/O, torn writes and drift', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, check), { seed: 20261122, numRuns: Number(process.env.BLOCKRIG_SIM_RUNS ?? 2000) });
  }, 170_000);

  it('never reclaims the chunk of a paused owner before that owner has stopped', async () => {
    // Three controllers, one chunk each; the owner of chunk 0 is paused mid-chunk while the others go
    // idle and watch it. Reclaiming it before its lease has run out would overlap with its resumed writes.
    for (let at = 3400; at <= 4200; at += 100) {
      for (const duration of [1500, 2500, 3000, 3500, 5000, 8000]) {
        const r = await runScenario({ seed: 7, controllers: 3, partitions: 6, chunkPartitions: 2, rates: [1.02, 0.98, 0.98], lateProbability: 0, faults: [{ at, kind: 'pause', target: 0, duration }] });
        expect(overlappingOwners(r), `pause at ${at} for ${duration}`).toEqual([]);
        expect((await finalState(r)).notComplete).toBe(0);
      }
    }
  });

  it('reclaims the chunks of a controller killed mid-chunk and finishes without it', async () => {
    const s: Scenario = { seed: 7, controllers: 2, partitions: 24, chunkPartitions: 2, rates: [1, 1], lateProbability: 0, faults: [{ at: 3000, kind: 'kill', target: 0, duration: 0 }] };
    const r = await runScenario(s);
    expect(overlappingOwners(r)).toEqual([]);
    expect((await finalState(r)).notComplete).toBe(0);
    expect(r.events.some((e) => e.slot === 1 && e.event.type === 'claimed')).toBe(true);
  });
});
