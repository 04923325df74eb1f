/**
 * Checks a run's outcome against the scenario's `expect` block. Each expectation becomes one result with
 * what was expected, what happened, and the line of the scenario file that asked for it, so a failure in
 * JUnit or the HTML report says where and why. Faults that never fired or could not be injected are
 * results too: a scenario whose fault did not happen proved nothing.
 */
import type { LoadedScenario, SourcePosition } from '../scenario/load.js';
import type { CountRange } from '../scenario/schema.js';
import type { FaultRecord } from './faults.js';
import { describeTaskReports, type TaskReport } from './volume-task.js';
import type { WorkloadResult } from './workload.js';

/** The facts of a finished run that expectations are checked against. */
export interface RunOutcome {
  readonly task: 'completed' | 'failed';
  readonly taskError: string | undefined;
  readonly taskMs: number;
  /** Mismatching 512-byte sectors found by the scrub task. */
  readonly mismatchSectors: number;
  /** Mismatching sectors found by the check-only scrub after the task (undefined: not run). */
  readonly afterCheckSectors: number | undefined;
  readonly workload: WorkloadResult | undefined;
  readonly volumeState: string;
  /** Member state by rig device name. */
  readonly memberStates: ReadonlyMap<string, string>;
  readonly reclaimed: number;
  /** `blockrig meta check` at the end (task kind region). */
  readonly metaCheck?: { readonly ok: boolean; readonly errors: readonly string[]; readonly warnings: readonly string[] } | undefined;
  /** Per device, what the live servers reported ("A: available, B: available"). */
  readonly reported: ReadonlyMap<string, string>;
  /** The task issued through a server, as every server reported it. */
  readonly taskReported?: readonly TaskReport[] | undefined;
  /** Outcomes of `expect.console`, in order. */
  readonly console: readonly { passed: boolean; actual: string }[];
  readonly faults: readonly FaultRecord[];
}

/** One checked expectation. */
export interface ExpectationResult {
  /** "expect.task", "fault 2", ... */
  readonly name: string;
  readonly passed: boolean;
  readonly expected: string;
  readonly actual: string;
  readonly where: SourcePosition;
}

/** Checks every expectation the scenario states, plus that every fault fired. */
export function checkExpectations(loaded: LoadedScenario, o: RunOutcome): ExpectationResult[] {
  const e = loaded.scenario.expect;
  const results: ExpectationResult[] = [];
  const add = (path: (string | number)[], expected: string, actual: string, passed: boolean): void => {
    results.push({ name: path.join('.'), passed, expected, actual, where: loaded.positionOf(path) });
  };
  if (e.task !== undefined) add(['expect', 'task'], e.task, o.task === 'failed' ? `failed: ${o.taskError ?? 'unknown error'}` : 'completed', e.task === o.task);
  if (e.mismatches !== undefined) add(['expect', 'mismatches'], describeRange(e.mismatches), `${o.mismatchSectors} sectors`, inRange(e.mismatches, o.mismatchSectors));
  if (e.dataVerified !== undefined) {
    const w = o.workload;
    const actual = w === undefined ? 'no workload ran' : w.verified ? `verified ${w.bytesVerified} bytes` : `not verified: ${w.problem ?? 'unknown'}`;
    add(['expect', 'dataVerified'], e.dataVerified ? 'every byte reads back as written' : 'data not verified', actual, (w?.verified ?? false) === e.dataVerified);
  }
  if (e.consistent !== undefined) {
    const actual = o.afterCheckSectors === undefined ? 'not every row could be checked (see the run log)' : `${o.afterCheckSectors} mismatching sectors`;
    add(['expect', 'consistent'], e.consistent ? '0 mismatching sectors' : 'mismatches', actual, o.afterCheckSectors !== undefined && (o.afterCheckSectors === 0) === e.consistent);
  }
  if (e.within !== undefined) add(['expect', 'within'], `task done within ${e.within} ms`, `${o.taskMs} ms`, o.taskMs <= e.within);
  if (e.volume !== undefined) add(['expect', 'volume'], e.volume, o.volumeState, o.volumeState === e.volume);
  for (const [name, state] of Object.entries(e.members ?? {})) {
    const actual = o.memberStates.get(name) ?? 'not a member';
    add(['expect', 'members', name], state, actual, actual === state);
  }
  if (e.metaCheck !== undefined) {
    const m = o.metaCheck;
    const actual = m === undefined ? 'meta check did not run' : `${m.ok ? 'clean' : 'not clean'}: ${m.errors.length} errors, ${m.warnings.length} warnings${m.errors.length > 0 ? ` (${m.errors.slice(0, 2).join('; ')})` : ''}`;
    add(['expect', 'metaCheck'], e.metaCheck, actual, m !== undefined && (m.ok ? 'clean' : 'not-clean') === e.metaCheck);
  }
  if (e.metaWarnings !== undefined) {
    const m = o.metaCheck;
    add(['expect', 'metaWarnings'], `${describeRange(e.metaWarnings)} damaged copies detected and not trusted`, m === undefined ? 'meta check did not run' : `${m.warnings.length}${m.warnings.length > 0 ? `: ${m.warnings.slice(0, 2).join('; ')}` : ''}`, m !== undefined && inRange(e.metaWarnings, m.warnings.length));
  }
  if (e.reclaimed !== undefined) add(['expect', 'reclaimed'], describeRange(e.reclaimed), `${o.reclaimed} partitions`, inRange(e.reclaimed, o.reclaimed));
  for (const [name, want] of Object.entries(e.reported ?? {})) {
    const actual = o.reported.get(name) ?? 'no live server';
    const parts = actual.split(', ');
    add(['expect', 'reported', name], `${want} on every live server`, actual, actual !== 'no live server' && parts.every((p) => p.endsWith(`: ${want}`)));
  }
  const reports = o.taskReported;
  const live = (reports ?? []).filter((r) => r.state !== 'killed by the scenario');
  const reportText = reports === undefined ? 'not issued through a server' : describeTaskReports(reports);
  if (e.taskReported !== undefined) add(['expect', 'taskReported'], `${e.taskReported} on every live server`, reportText, live.length > 0 && live.every((r) => r.state === e.taskReported));
  if (e.taskExecutedBy !== undefined) {
    const want = e.taskExecutedBy.join(' then ');
    add(['expect', 'taskExecutedBy'], `executed via ${want} on every live server`, reportText, live.length > 0 && live.every((r) => r.executedBy.join(' then ') === want));
  }
  (e.console ?? []).forEach((c, i) => {
    const answer = o.console[i];
    add(['expect', 'console', i], `${JSON.stringify(c.send)} answers /${c.match}/`, answer?.actual ?? 'not asked', answer?.passed ?? false);
  });
  for (const f of o.faults) {
    const actual = f.error !== undefined ? `could not be injected: ${f.error}` : f.firedAtMs === undefined ? 'never fired (the task ended first)' : `fired at ${f.firedAtMs} ms`;
    add(['faults', f.index], `${f.label} fires`, actual, f.error === undefined && f.firedAtMs !== undefined);
  }
  return results;
}

function inRange(r: CountRange, n: number): boolean {
  if (typeof r === 'number') return n === r;
  return (r.min === undefined || n >= r.min) && (r.max === undefined || n <= r.max);
}

function describeRange(r: CountRange): string {
  if (typeof r === 'number') return `exactly ${r}`;
  if (r.min !== undefined && r.max !== undefined) return `${r.min} to ${r.max}`;
  return r.min !== undefined ? `at least ${r.min}` : r.max !== undefined ? `at most ${r.max}` : 'any number';
}
