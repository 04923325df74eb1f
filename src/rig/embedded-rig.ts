/**
 * The embedded rig behind `npm start`: writes the working folder, formats each cluster's metadata region,
 * then starts, as separate processes of the built CLI, the volume exports (a raid5 on cluster c1, a raid1
 * on c2, each over NBD), the two domain servers (A on c1, B on c2, each serving the dashboard) and each
 * cluster's supervisor (`cluster up`: one agent per server, and the controllers: two on c1, one on c2). It
 * waits until both servers see both clusters' agents and devices, and reports URLs, NBD URIs and the
 * login. `stop()` ends every driver process of an unfinished task and every process it started, each by
 * pid; no loop device is used.
 *
 * The exports run with `--no-rebuild`: a replaced member (a spare taking a failed member's slot) is
 * rebuilt by a `volume-rebuild` task that the controllers share, issued from the dashboard, the CLI or the
 * demo, so a rebuild shows as a task with partition cells like any other.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { BlockrigError, CancelledError, ErrorCode, TimeoutError } from '../errors.js';
import { AgentViewSchema, ClusterViewSchema, FINAL_TASK_STATES } from '../wire/index.js';
import { ClusterStore } from '../cluster/store.js';
import { ApiClient } from '../cli/client/api-client.js';
import { ProcessSet, type RigProcess } from './processes.js';
import { writeRigFiles, type RigPlan, type RigSizes } from './rig-files.js';

const run = promisify(execFile);

/** Options of the embedded rig. */
export interface EmbeddedRigOptions {
  dir: string;
  /** The built CLI (`dist/cli.js`). */
  cliPath: string;
  sizes: RigSizes;
  /** Progress lines for the person watching. */
  log: (line: string) => void;
  readyTimeoutMs?: number;
}

/** What `start()` reports. */
export interface RigReady {
  dashboards: { server: string; cluster: string; url: string }[];
  exports: { volume: string; level: string; cluster: string; uri: string; size: number }[];
  user: string;
  password: string;
  passwordFile: string;
  configPath: string;
  processes: { name: string; pid: number }[];
}

const ServeAnswerSchema = z.object({ uri: z.string(), size: z.number() });

/** A running embedded rig. */
export class EmbeddedRig {
  readonly #o: EmbeddedRigOptions;
  readonly #procs = new ProcessSet();
  #plan: RigPlan | null = null;
  #servers: { id: string; url: string }[] = [];
  #stopping = false;

  constructor(options: EmbeddedRigOptions) {
    this.#o = options;
  }

  /** The written plan, once started. */
  get plan(): RigPlan | null {
    return this.#plan;
  }

  async #cli(args: string[]): Promise<string> {
    try {
      const { stdout } = await run(process.execPath, [this.#o.cliPath, ...args], { maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new BlockrigError(ErrorCode.Internal, `blockrig ${args.slice(0, 2).join(' ')} failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
    }
  }

  #start(name: string, args: string[]): RigProcess {
    // Ctrl-C while starting: start nothing more (stop() is already ending what was started).
    if (this.#stopping) throw new CancelledError('the rig is stopping');
    return this.#procs.start(name, [process.execPath, this.#o.cliPath, ...args], this.#logFile(name));
  }

  #logFile(name: string): string {
    return join(this.#plan?.dir ?? this.#o.dir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`);
  }

  /** Starts everything and waits until the rig is ready. */
  async start(): Promise<RigReady> {
    this.#plan = writeRigFiles(this.#o.dir, this.#o.sizes, { controllers: [2, 1] });
    const plan = this.#plan;
    for (const c of plan.clusters) await this.#cli(['meta', 'format', c.meta]);
    this.#o.log(`metadata regions formatted: ${plan.clusters.map((c) => c.meta).join(', ')}`);

    const exports: RigReady['exports'] = [];
    for (const c of plan.clusters) {
      const v = c.volume;
      await this.#cli(['volume', 'create', v.name, '--meta', c.meta, '--level', v.level, ...v.members.flatMap((m) => ['--member', m]), '--spare', v.spare, '--assume-clean', '--json']);
      const serve = this.#start(`volume-${v.name}`, ['volume', 'serve', v.name, '--meta', c.meta, '--listen', '127.0.0.1:0', '--no-rebuild', '--poll-ms', '250', '--json']);
      const answer = ServeAnswerSchema.parse(await this.#procs.waitForJson(serve, 'uri', 30_000, this.#logFile(serve.name)));
      exports.push({ volume: v.name, level: v.level, cluster: c.id, uri: answer.uri, size: answer.size });
      this.#o.log(`volume ${v.name} (${v.level}, ${v.members.length} members + 1 spare on cluster ${c.id}) exported at ${answer.uri}`);
    }

    const servers = plan.clusters.map((c) => ({ id: c.server, cluster: c.id, proc: this.#start(`server-${c.server}`, ['server', '--config', plan.configPath, '--id', c.server]) }));
    for (const s of servers) {
      const listening = await this.#procs.waitForJson(s.proc, 'url', 30_000, this.#logFile(s.proc.name));
      this.#servers.push({ id: s.id, url: z.object({ url: z.string() }).parse(listening).url });
    }
    for (const c of plan.clusters) this.#start(`cluster-${c.id}`, ['cluster', 'up', '--config', plan.configPath, '--cluster', c.id]);
    await this.#waitReady(plan);
    return {
      dashboards: this.#servers.map((s) => ({ server: s.id, cluster: servers.find((x) => x.id === s.id)?.cluster ?? '-', url: s.url })),
      exports,
      user: plan.user,
      password: plan.password,
      passwordFile: plan.passwordFile,
      configPath: plan.configPath,
      processes: this.#procs.all.map((p) => ({ name: p.name, pid: p.pid })),
    };
  }

  /** A logged-in API client (both servers, A first). */
  client(): ApiClient {
    if (!this.#plan) throw new BlockrigError(ErrorCode.Internal, 'the rig has not started');
    return new ApiClient({ servers: this.#servers.map((s) => s.url), user: this.#plan.user, password: this.#plan.password });
  }

  async #waitReady(plan: RigPlan): Promise<void> {
    const deadline = Date.now() + (this.#o.readyTimeoutMs ?? 60_000);
    const expected = plan.clusters.length;
    for (const s of this.#servers) {
      const client = new ApiClient({ servers: [s.url], user: plan.user, password: plan.password });
      for (;;) {
        const [agents, clusters] = await Promise.all([
          client.get(z.object({ agents: z.array(AgentViewSchema) }), '/api/v1/agents'),
          client.get(z.object({ clusters: z.array(ClusterViewSchema) }), '/api/v1/clusters'),
        ]);
        const alive = agents.agents.filter((a) => a.alive).length;
        const reported = clusters.clusters.every((c) => c.devices.length === c.deviceCount && c.deviceCount > 0);
        if (alive >= expected && reported) break;
        if (Date.now() > deadline) throw new TimeoutError(`server ${s.id} did not see every cluster's agent and devices in time: see the logs in ${plan.dir}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /**
   * Stops every process started, each by pid (cluster supervisors first, so no agent starts another
   * driver), then ends the driver processes of unfinished tasks: they run in their own process groups so
   * that they outlive an agent, and the cluster's persistent data says which they are.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#procs.stopAll();
    for (const c of this.#plan?.clusters ?? []) {
      let store: ClusterStore | null = null;
      try {
        store = new ClusterStore(join(this.#plan?.dir ?? '', c.id, 'data'), c.id);
        for (const t of store.tasks()) {
          if (FINAL_TASK_STATES.includes(t.state) || t.driverPid === null) continue;
          try {
            process.kill(-t.driverPid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      } catch {
        // No store yet: the cluster never stored a task.
      } finally {
        store?.close();
      }
    }
  }
}
