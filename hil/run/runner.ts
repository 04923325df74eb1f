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
import type { ControllerEvent, ScenarioTask, TaskControl } from './fleet.js';
import { RegionTask, type MetaCheckResult } from './region.js';
import { describeTaskReports, VolumeTask } from './volume-task.js';
import { checkExpectations, type ExpectationResult } from './expectations.js';
import { FaultTimeline, type FaultRecord } from './faults.js';
import { startServers, type RigServers } from '../rig/servers.js';
import { askConsole, awaitReports, checkConsistency, deviceReports, memberStates, type DeviceReport, type ServerReport } from './observe.js';
import { buildRig, type Rig } from './rig.js';
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

export type { DeviceReport, ServerReport } from './observe.js';

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
  const workDir = mkdtempSync(join(options.baseDir ?? tmpdir(), `blockrig-hil-${s.name.slice(0, 16)}-`));
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
  let task: TaskControl | undefined;
  let timeline: FaultTimeline | undefined;
  let error: string | undefined;
  let expectations: ExpectationResult[] = [];
  let workload: WorkloadResult | undefined;
  let taskMs: number | undefined;
  const progress: { atMs: number; progress: number }[] = [];
  try {
    const cliPath = options.cliPath ?? process.argv[1] ?? 'blockrig';
    rig = await buildRig(s, { workDir, seed, clock, processes, teardown, log, cliPath });
    const volume = rig.volume;
    if (s.servers !== undefined) {
      servers = await startServers(s.servers.count, [...rig.devices.values()], { workDir, processes, clock, cliPath, log, teardown, hosts: s.servers.hosts, ...(rig.served === undefined ? {} : { meta: rig.served.meta }) });
    }
    const pattern = s.workload?.kind === 'pattern' ? new PatternWorkload(volume, s.workload.blockSize, seed) : undefined;
    if (pattern !== undefined) {
      await pattern.fill();
      log(`workload: volume filled with the seeded pattern`);
    }
    let activeTask: ScenarioTask;
    let volumeTask: VolumeTask | undefined;
    let region: RegionTask | undefined;
    if (s.task.kind === 'region') {
      const device = rig.devices.get(s.task.device);
      if (device === undefined) throw new Error(`no device ${s.task.device}`);
      const regionTask = new RegionTask({ device, controllers: s.controllers.count, partitions: s.task.partitions, chunkPartitions: s.task.chunkPartitions, leaseMs: s.controllers.leaseMs, seed, workDir, cliPath, processes, clock, log });
      teardown.push('stop the controller processes', () => regionTask.stop());
      await regionTask.start();
      log(`task region: fill then verify over ${s.task.partitions} partitions by ${s.controllers.count} controller processes`);
      region = regionTask;
      activeTask = regionTask;
    } else {
      if (rig.served === undefined) throw new Error('a volume task needs the served volume');
      volumeTask = new VolumeTask({ scenario: s, served: rig.served, devices: rig.devices, servers, clock, log });
      log(`task ${s.task.kind}: ${await volumeTask.prepare()}, by ${s.controllers.count} controller processes`);
      activeTask = volumeTask;
    }
    task = activeTask;
    const faultsDone = new AbortController();
    const activeTimeline = new FaultTimeline(s.faults, { task: activeTask, ...(region === undefined ? {} : { region }), devices: rig.devices, relay: rig.relay, powerSettled: rig.powerSettled, servers, processes, clock, seed, log });
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
    // Samples between completions too, so a stall (a dead controller's partition waiting to be reclaimed)
    // shows as a flat stretch of the chart rather than a straight line between two completions.
    const sampler = setInterval(sample, 100);
    let taskError: string | undefined;
    try {
      await activeTask.run(abort.signal);
      log(`task ${s.task.kind}: completed, ${activeTask.reclaimed} partitions reclaimed`);
    } catch (err) {
      taskError = (err as Error).message;
      log(`task ${s.task.kind}: failed: ${taskError}`);
    }
    clearInterval(sampler);
    taskMs = Math.round(clock.now() - taskStart);
    sample();
    taskDone.abort();
    // Faults still waiting for their time are cancelled, and every lasting fault is undone now.
    faultsDone.abort();
    await activeTimeline.settle();
    const workloadResult = await workloadRun;
    const verified = region?.verified;
    workload = workloadResult ?? (pattern !== undefined ? await pattern.verify() : verified === undefined ? undefined : { kind: 'region', writesDuringTask: 0, bytesVerified: verified.bytes, verified: verified.ok, problem: verified.ok ? undefined : verified.detail });
    if (workload !== undefined) log(`workload ${workload.kind}: ${workload.writesDuringTask} writes during the task, ${workload.verified ? `verified ${workload.bytesVerified} bytes` : `NOT verified: ${workload.problem ?? ''}`}`);
    if (abort.signal.aborted) throw abort.signal.reason instanceof Error ? abort.signal.reason : new Error('aborted');
    const afterCheckSectors = s.expect.consistent === undefined ? undefined : await checkConsistency(rig, log);
    let metaCheck: MetaCheckResult | undefined;
    if (region !== undefined) {
      metaCheck = await region.check();
      log(`meta check: ${metaCheck.ok ? 'clean' : 'NOT clean'}, ${metaCheck.errors.length} errors, ${metaCheck.warnings.length} warnings${[...metaCheck.errors, ...metaCheck.warnings].map((m) => `\n  ${m}`).join('')}`);
    }
    const consoleAnswers = await askConsole(rig, s.expect.console ?? [], log);
    const reported = servers === undefined ? new Map<string, string>() : await awaitReports(servers, s.expect.reported ?? {}, clock, serverReports, log);
    const taskReported = await volumeTask?.serverReports();
    if (taskReported !== undefined) log(`task as the servers report it: ${describeTaskReports(taskReported)}`);
    expectations = checkExpectations(loaded, {
      task: taskError === undefined ? 'completed' : 'failed',
      taskError,
      taskMs,
      mismatchSectors: volumeTask?.mismatchSectors ?? 0,
      metaCheck,
      afterCheckSectors,
      workload,
      volumeState: volume.volumeState,
      memberStates: memberStates(s.volume.members, rig),
      reclaimed: activeTask.reclaimed,
      reported,
      taskReported,
      console: consoleAnswers,
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
  const consoleTranscript = rig?.console?.console.transcript;
  const volumeState = rig?.volume.volumeState;
  // Read before teardown: reclaims come from the audit files in the work folder.
  const controllerEvents = task?.events ?? [];
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
    controllerEvents,
    devices,
    volumeState,
    workload,
    serverReports,
    logs: [{ name: 'run', text: runLog.join('\n') }, ...(consoleTranscript === undefined ? [] : [{ name: 'console', text: consoleTranscript }]), ...processes.processes.map((p) => ({ name: `${p.name} (pid ${p.pid})`, text: p.log() }))],
    workDir,
  };
}
