/**
 * The cluster supervisor behind `blockrig cluster up`: starts a cluster's processes for a rig. For each
 * configured server it launches one agent (claims 000/19, 001/11: an agent is launched if its server is
 * configured; no server, no agent), plus the configured controller processes on the metadata region.
 * A process that exits unexpectedly is started again after `retryMs`; stopping stops them all.
 *
 * No child outlives the supervisor: each gets an IPC channel and stops when it closes (see
 * `exit-with-parent.ts`), which covers a supervisor killed with SIGKILL while a child was still stopping
 * or had just been restarted; a supervisor that exits any other way SIGKILLs what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock } from '../clock.js';
import { clusterConfig, type LoadedRig } from './config-file.js';

/** One process the supervisor keeps running. */
export interface SupervisedProcess {
  /** `agent` or `controller`. */
  role: 'agent' | 'controller';
  /** Agent id (`A@c1`) or controller id. */
  name: string;
  argv: string[];
  child: ChildProcess | null;
  starts: number;
}

/** Options of the supervisor. */
export interface SupervisorOptions {
  rig: LoadedRig;
  configPath: string;
  clusterId: string;
  cliPath: string;
  clock: Clock;
  /** Called for each start and exit (JSON-able facts, no secrets). */
  report: (event: Record<string, unknown>) => void;
  /** Where children's stderr goes. */
  stderr: NodeJS.WritableStream;
}

/** Starts and restarts one cluster's agents and controllers. */
export class ClusterSupervisor {
  readonly processes: SupervisedProcess[];
  readonly #o: SupervisorOptions;
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    const cluster = clusterConfig(options.rig, options.clusterId);
    this.processes = options.rig.config.servers.map((s) => ({
      role: 'agent' as const,
      name: `${s.id}@${cluster.id}`,
      argv: [options.cliPath, 'agent', '--config', options.configPath, '--cluster', cluster.id, '--server', s.id],
      child: null,
      starts: 0,
    }));
    for (let i = 1; i <= cluster.controllers && cluster.meta !== undefined; i++) {
      this.processes.push({ role: 'controller', name: `controller-${i}`, argv: [options.cliPath, 'controller', 'run', '--meta', cluster.meta, '--id', String(i)], child: null, starts: 0 });
    }
  }

  /** Starts every process. */
  start(): void {
    process.once('exit', () => {
      for (const p of this.processes) if (p.child !== null && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    });
    for (const p of this.processes) this.#launch(p);
  }

  #launch(p: SupervisedProcess): void {
    const child = spawn(process.execPath, p.argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    // The channel is only there to close when this process dies; it must not keep it alive.
    child.channel?.unref();
    child.stderr?.pipe(this.#o.stderr, { end: false });
    p.child = child;
    p.starts++;
    this.#o.report({ event: 'started', role: p.role, name: p.name, pid: child.pid ?? null, starts: p.starts });
    child.once('exit', (code, signal) => {
      p.child = null;
      this.#o.report({ event: 'exited', role: p.role, name: p.name, code, signal });
      if (this.#stopping) return;
      void this.#o.clock.sleep(this.#o.rig.config.timing.retryMs).then(() => {
        if (!this.#stopping) this.#launch(p);
      });
    });
  }

  /** Stops every process (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.processes.map(async (p) => {
        const child = p.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
