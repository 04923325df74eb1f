/**
 * Runs one scenario: builds the rig, fills the volume, starts the workload and the controllers on the
 * task, fires the fault timeline, checks the expectations and tears everything down, whatever happened
 * (including an abort from Ctrl-C or the scenario's timeout). The result holds everything the JUnit and
 * HTML reports show, including the seed, so that a failure can be replayed with `--seed`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../src/clock.js';
import { ProcessSupervisor } from '../rig/processes.js';
import { Teardown } from '../rig/teardown.js';
import type { LoadedScenario } from '../scenario/load.js';
import { PartitionedTask, type ControllerEvent } from './controllers.js';
import { checkExpectations, type ExpectationResult } from './expectations.js';
import { FaultTimeline, type FaultRecord } from './faults.js';
import { startServers, type RigServers } from '../rig/servers.js';
import { buildRig, type Rig } from './rig.js';
import { prepareTask } from './task.js';
import { PatternWorkload, runFioWorkload, type WorkloadResult } from './workload.js';

/** Options of `runScenario`. */
export interface RunOptions {
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Keep the work folder (images, sockets) after the run. */
  readonly keep?: boolean;
  /** Where work folders are made (default the system temp dir). */
  readonly baseDir?: string;
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
  /** Receives each line of the run log as it happens. */
  readonly onLog?: (line: string) => void;
  /** The blockrig CLI script that servers and agents run (default: the running script, `dist/cli.js`). */
  readonly cliPath?: string;
}

/** One device's state at the end of a run. */
export interface DeviceReport {
  readonly name: string;
  readonly kind: string;
  readonly uri: string;
  readonly available: boolean;
  /** Role in the volume: "member 2", "spare", "replacement of member 1", or "unused". */
  readonly role: string;
  readonly memberState: string;
  readonly readErrors: number;
  readonly writeErrors: number;
  readonly faultsFired: number;
}

/** What one server reported at the end of a run. */
export interface ServerReport {
  readonly server: string;
  /** "killed by the scenario", "not answering", or "answering". */
  readonly status: string;
  readonly devices: readonly { name: string; available: boolean; reason: string }[];
}

/** Everything a run produced. */
export interface ScenarioRun {
  readonly name: string;
  readonly file: string;
  readonly description: string;
  readonly seed: number;
  readonly startedAt: string;
  readonly durationMs: number;
  /** True when the rig came up and every expectation held. */
  readonly passed: boolean;
  /** Why the run could not complete (rig, abort), apart from expectations. */
  readonly error: string | undefined;
  readonly expectations: readonly ExpectationResult[];
  readonly faults: readonly FaultRecord[];
  /** Task progress samples: milliseconds after the task started, fraction complete. */
  readonly progress: readonly { atMs: number; progress: number }[];
  readonly taskMs: number | undefined;
  readonly controllerEvents: readonly ControllerEvent[];
  readonly devices: readonly DeviceReport[];
  readonly volumeState: string | undefined;
  readonly workload: WorkloadResult | undefined;
  /** What each server reported about the watched devices at the end (servers scenarios only). */
  readonly serverReports: readonly ServerReport[];
  /** The run log first, then every process's output. */
  readonly logs: readonly { name: string; text: string }[];
  readonly workDir: string;
}

/** Runs one scenario; never throws for a scenario failure (the result says it), only for bugs. */
export async function runScenario(loaded: LoadedScenario, options: RunOptions = {}): Promise<ScenarioRun> {
  const s = loaded.scenario;
  const clock = options.clock ?? systemClock;
  const seed = options.seed ?? s.seed;
  const started = clock.now();
  const startedAt = new Date(clock.wallTime()).toISOString();
  const workDir = mkdtempSync(join(options.baseDir ?? tmpdir(), `blockrig-hil-${s.name}-`));
  const runLog: string[] = [];
  const log = (line: string): void => {
    const stamped = `[${((clock.now() - started) / 1000).toFixed(3)}s] ${line}`;
    runLog.push(stamped);
    options.onLog?.(stamped);
  };
  const processes = new ProcessSupervisor();
  const teardown = new Teardown();
  teardown.push('stop the rig processes', () => processes.stopAll(clock));
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(new Error(`the scenario's timeout of ${s.timeout} ms passed`)), s.timeout);
  const onAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort);
  log(`scenario ${s.name} (${loaded.file}), seed ${seed}, work folder ${workDir}`);

  let rig: Rig | undefined;
  let servers: RigServers | undefined;
  const serverReports: ServerReport[] = [];
  let task: PartitionedTask | undefined;
  let timeline: FaultTimeline | undefined;
  let error: string | undefined;
  let expectations: ExpectationResult[] = [];
  let workload: WorkloadResult | undefined;
  let taskMs: number | undefined;
  const progress: { atMs: number; progress: number }[] = [];
  try {
    rig = await buildRig(s, { workDir, seed, clock, processes, teardown, log });
    const volume = rig.volume;
    if (s.servers !== undefined) {
      servers = await startServers(s.servers.count, [...rig.devices.values()], { workDir, processes, clock, cliPath: options.cliPath ?? process.argv[1] ?? 'blockrig', log, teardown, hosts: s.servers.hosts });
    }
    const pattern = s.workload?.kind === 'pattern' ? new PatternWorkload(volume, s.workload.blockSize, seed) : undefined;
    if (pattern !== undefined) {
      await pattern.fill();
      log(`workload: volume filled with the seeded pattern`);
    }
    const prepared = prepareTask(s, rig, clock);
    log(`task ${s.task.kind}: ${prepared.describe}`);
    const activeTask = new PartitionedTask({ rows: volume.layout.rows, partitions: s.task.partitions, controllers: s.controllers.count, leaseMs: s.controllers.leaseMs, clock, work: prepared.work });
    task = activeTask;
    const faultsDone = new AbortController();
    const activeTimeline = new FaultTimeline(s.faults, { task: activeTask, devices: rig.devices, relay: rig.relay, servers, processes, clock, seed, log });
    timeline = activeTimeline;
    const taskStart = clock.now();
    const sample = (): void => {
      progress.push({ atMs: Math.round(clock.now() - taskStart), progress: activeTask.progress });
    };
    activeTask.onProgress(() => {
      sample();
      activeTimeline.onProgress(activeTask.progress);
    });
    const taskDone = new AbortController();
    const during = AbortSignal.any([taskDone.signal, abort.signal]);
    const workloadRun =
      s.workload?.kind === 'fio'
        ? runFioWorkload({ volume, workDir, processes, size: s.workload.size, blockSize: s.workload.blockSize, rw: s.workload.rw, seed })
        : pattern?.writeDuring(s.workload?.kind === 'pattern' ? s.workload.writes : 0, 2, clock, during).then(() => undefined);
    await activeTimeline.start(AbortSignal.any([faultsDone.signal, abort.signal]));
    sample();
    let taskError: string | undefined;
    try {
      await activeTask.run(abort.signal);
      log(`task ${s.task.kind}: completed, ${activeTask.reclaimed} partitions reclaimed`);
    } catch (err) {
      taskError = (err as Error).message;
      log(`task ${s.task.kind}: failed: ${taskError}`);
    }
    taskMs = Math.round(clock.now() - taskStart);
    sample();
    taskDone.abort();
    // Faults still waiting for their time are cancelled, and every lasting fault is undone now.
    faultsDone.abort();
    await activeTimeline.settle();
    const workloadResult = await workloadRun;
    workload = workloadResult ?? (pattern === undefined ? undefined : await pattern.verify());
    if (workload !== undefined) log(`workload ${workload.kind}: ${workload.writesDuringTask} writes during the task, ${workload.verified ? `verified ${workload.bytesVerified} bytes` : `NOT verified: ${workload.problem ?? ''}`}`);
    if (abort.signal.aborted) throw abort.signal.reason instanceof Error ? abort.signal.reason : new Error('aborted');
    const afterCheckSectors = s.expect.consistent === undefined ? undefined : await checkConsistency(rig, log);
    const reported = servers === undefined ? new Map<string, string>() : await awaitReports(servers, s.expect.reported ?? {}, clock, serverReports, log);
    expectations = checkExpectations(loaded, {
      task: taskError === undefined ? 'completed' : 'failed',
      taskError,
      taskMs,
      mismatchSectors: prepared.mismatchSectors(),
      afterCheckSectors,
      workload,
      volumeState: volume.volumeState,
      memberStates: memberStates(s.volume.members, rig),
      reclaimed: activeTask.reclaimed,
      reported,
      faults: activeTimeline.records,
    });
    for (const r of expectations) log(`${r.passed ? 'PASS' : 'FAIL'} ${r.name}: expected ${r.expected}, got ${r.actual} (${r.where.file}:${r.where.line})`);
  } catch (err) {
    error = (err as Error).message;
    log(`run failed: ${error}`);
  } finally {
    clearTimeout(timeout);
    options.signal?.removeEventListener('abort', onAbort);
  }
  const devices = rig === undefined ? [] : deviceReports(s.volume.members, s.volume.spares, rig);
  const volumeState = rig?.volume.volumeState;
  const problems = await teardown.run();
  for (const p of problems) log(`teardown: ${p}`);
  if (options.keep === true) log(`work folder kept: ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
  log('teardown complete');
  return {
    name: s.name,
    file: loaded.file,
    description: s.description,
    seed,
    startedAt,
    durationMs: Math.round(clock.now() - started),
    passed: error === undefined && expectations.every((r) => r.passed),
    error,
    expectations,
    faults: timeline?.records ?? [],
    progress,
    taskMs,
    controllerEvents: task?.events ?? [],
    devices,
    volumeState,
    workload,
    serverReports,
    logs: [{ name: 'run', text: runLog.join('\n') }, ...processes.processes.map((p) => ({ name: `${p.name} (pid ${p.pid})`, text: p.log() }))],
    workDir,
  };
}

/** A check-only scrub of the whole volume after the task: mismatching sectors, or undefined when rows could not be checked. */
async function checkConsistency(rig: Rig, log: (line: string) => void): Promise<number | undefined> {
  try {
    const result = await rig.volume.scrubRows(0, rig.volume.layout.rows, { repair: false });
    log(`check: ${result.rowsChecked} rows checked, ${result.rowsSkipped} skipped, ${result.mismatchBytes / 512} mismatching sectors`);
    // Rows skipped for want of redundancy were not proven consistent: no verdict rather than a false pass.
    return result.rowsSkipped > 0 ? undefined : result.mismatchBytes / 512;
  } catch (err) {
    log(`check: not possible: ${(err as Error).message}`);
    return undefined;
  }
}

/** The state of the volume slot each rig device sits in, by device name. */
function memberStates(members: readonly string[], rig: Rig): Map<string, string> {
  const states = new Map<string, string>();
  for (const m of rig.volume.members) {
    const name = [...rig.devices.values()].find((d) => d.device === m.device)?.spec.name ?? members[m.index];
    if (name !== undefined) states.set(name, m.state);
  }
  // A member whose slot went to a replacement is out of the volume.
  for (const name of members) if (!states.has(name)) states.set(name, 'removed');
  return states;
}

function deviceReports(members: readonly string[], spares: readonly string[], rig: Rig): DeviceReport[] {
  const status = rig.volume.status();
  return [...rig.devices.values()].map((d) => {
    const slot = rig.volume.members.find((m) => m.device === d.device);
    const slotStatus = slot === undefined ? undefined : status.members[slot.index];
    const original = members.indexOf(d.spec.name);
    const role = slot !== undefined ? (original === slot.index ? `member ${slot.index}` : `replacement of member ${slot.index}`) : spares.includes(d.spec.name) ? 'spare' : original >= 0 ? `former member ${original}` : 'unused';
    return {
      name: d.spec.name,
      kind: d.spec.kind,
      uri: d.device.inner.uri,
      available: d.device.available,
      role,
      memberState: slotStatus?.state ?? '-',
      readErrors: slotStatus?.readErrors ?? 0,
      writeErrors: slotStatus?.writeErrors ?? 0,
      faultsFired: d.device.rules.reduce((n, r) => n + r.fired, 0),
    };
  });
}

/**
 * Waits (up to 15 s: agents probe and transmit on their own schedule) until every live server reports
 * each device as `expected` says, then records what each server reports. Returns, per expected device, what
 * the servers said ("A: unavailable, B: unavailable"); a device matches when every live server agrees.
 */
async function awaitReports(servers: RigServers, expected: Record<string, string>, clock: Clock, out: ServerReport[], log: (line: string) => void): Promise<Map<string, string>> {
  const live = servers.ids.filter((id) => !servers.killed(id));
  const views = new Map<string, Awaited<ReturnType<RigServers['view']>>>();
  const matches = (): boolean =>
    live.length > 0 &&
    live.every((id) => {
      const view = views.get(id);
      return view !== undefined && Object.entries(expected).every(([name, want]) => view.devices.some((d) => d.name === name && (d.available ? 'available' : 'unavailable') === want));
    });
  const deadline = clock.now() + 15_000;
  for (;;) {
    for (const id of live) views.set(id, await servers.view(id));
    if (matches() || clock.now() > deadline) break;
    await clock.sleep(200);
  }
  for (const id of servers.ids) {
    const view = views.get(id);
    const status = servers.killed(id) ? 'killed by the scenario' : view === undefined ? 'not answering' : 'answering';
    out.push({ server: id, status, devices: (view?.devices ?? []).map((d) => ({ name: d.name, available: d.available, reason: d.reason })) });
    log(`server ${id}: ${status}${view === undefined ? '' : `; ${view.devices.map((d) => `${d.name} ${d.available ? 'available' : 'unavailable'}`).join(', ')}`}`);
  }
  const said = new Map<string, string>();
  for (const name of Object.keys(expected)) {
    const parts = live.map((id) => {
      const d = views.get(id)?.devices.find((x) => x.name === name);
      return `${id}: ${d === undefined ? 'no report' : d.available ? 'available' : 'unavailable'}`;
    });
    said.set(name, parts.length === 0 ? 'no live server' : parts.join(', '));
  }
  return said;
}
