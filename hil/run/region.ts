/**
 * A task on a metadata region, run by real controller processes (task kind `region`). The harness formats
 * the region on the rig device with `blockrig meta format`, starts one `blockrig controller run --meta
 * IMAGE --id N --audit FILE` process per controller, submits a `fill` task with `blockrig task submit fill
 * --meta IMAGE --wait --json` (its data set is the device after the region) and, once it is complete, a
 * `verify` task with the same seed: the data is verified by the controllers themselves. Kill and pause
 * faults signal the controller processes (SIGKILL; SIGSTOP then SIGCONT). Progress is read from the region
 * (the fill task's COMPLETE partitions) every 100 ms, so progress-point faults fire on real progress.
 * `tearRecord` tears one copy of a record on the medium; `check` runs `blockrig meta check --json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../src/clock.js';
import type { AuditRecord } from '../../src/controller/events.js';
import { dumpRegion } from '../../src/metadata/inspect.js';
import { META_BLOCK } from '../../src/metadata/layout.js';
import { blockCrc } from '../../src/metadata/record.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import type { BuiltDevice } from '../rig/devices.js';
import type { ProcessSupervisor, RigProcess } from '../rig/processes.js';
import type { ControllerEvent, ControllerState, TaskControl } from './controllers.js';
import { seededRandom } from '../../src/random.js';

/** Options of `RegionTask`. */
export interface RegionTaskOptions {
  readonly device: BuiltDevice;
  readonly controllers: number;
  readonly partitions: number;
  readonly chunkPartitions: number;
  /** The scenario's lease: the region's heartbeat interval; the other timeouts follow from it. */
  readonly leaseMs: number;
  readonly seed: number;
  readonly workDir: string;
  readonly cliPath: string;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** What `blockrig meta check --json` said. */
export interface MetaCheckResult {
  readonly ok: boolean;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

/** A copy is valid when its magic and CRC check (the full decode is `meta check`'s business). */
function crcValid(block: Buffer): boolean {
  return block.subarray(0, 8).toString('latin1') === 'BLKRIG01' && blockCrc(block) === block.readUInt32LE(60);
}

/** See the module comment. */
export class RegionTask implements TaskControl {
  readonly events: ControllerEvent[] = [];
  readonly #o: RegionTaskOptions;
  readonly #image: string;
  readonly #procs: RigProcess[] = [];
  readonly #states: ControllerState[];
  readonly #listeners = new Set<() => void>();
  #region: MetadataRegion | undefined;
  #progress = 0;
  #started = 0;
  #verified: { ok: boolean; detail: string } | undefined;

  constructor(options: RegionTaskOptions) {
    this.#o = options;
    if (options.device.image === undefined) throw new Error(`device ${options.device.spec.name} has no image file for the metadata region`);
    this.#image = options.device.image;
    this.#states = Array.from({ length: options.controllers }, () => 'running');
  }

  /** Fraction of the fill task's partitions COMPLETE, 0..1. */
  get progress(): number {
    return this.#progress;
  }

  /**
   * Claims of the fill task (chunks of `chunkPartitions` partitions) taken by more than one controller
   * incarnation: taken over from a dead or stalled holder (a chunk is claimed again only then).
   */
  get reclaimed(): number {
    const holders = new Map<number, Set<string>>();
    for (const r of this.#audit()) {
      if (r.type !== 'claimed' || r.taskId !== this.#fillId) continue;
      const set = holders.get(r.chunk) ?? new Set<string>();
      set.add(`${r.controller}/${r.incarnation}`);
      holders.set(r.chunk, set);
    }
    return [...holders.values()].filter((s) => s.size > 1).length;
  }

  /** The verify task's outcome, once it ran. */
  get verified(): { ok: boolean; detail: string; bytes: number } | undefined {
    return this.#verified === undefined ? undefined : { ...this.#verified, bytes: this.#verified.ok ? this.#dataBytes : 0 };
  }

  #fillId: string | undefined;
  #dataBytes = 0;

  onProgress(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #cli(name: string, args: readonly string[]): Promise<RigProcess> {
    return this.#o.processes.start(name, process.execPath, [this.#o.cliPath, ...args]);
  }

  /** Runs a CLI command to its end; rejects with its output when it fails. */
  async #run(name: string, args: readonly string[]): Promise<string> {
    const p = await this.#cli(name, args);
    const { code, signal } = await p.exit;
    if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}):\n${p.log()}`);
    return p.log();
  }

  /** Formats the region and starts the controller processes. */
  async start(): Promise<void> {
    const o = this.#o;
    const hb = Math.max(50, Math.round(o.leaseMs));
    // A generous I/O timeout: on a shared CI machine a renewal can wait for the CPU, and a process that
    // cannot renew in time fences itself (exit BLOCKRIG_E_LEASE_LOST), which is not what a scenario tests.
    const io = Math.max(1000, 2 * hb);
    const renew = 2 * hb + io;
    const dead = Math.ceil(1.1 * (renew + 2 * io));
    await this.#run('meta-format', ['meta', 'format', this.#image, '--controllers', String(o.controllers + 2), '--tasks', '2', '--max-chunks', String(Math.ceil(o.partitions / o.chunkPartitions)), '--heartbeat-ms', String(hb), '--io-timeout-ms', String(io), '--renew-timeout-ms', String(renew), '--host-dead-ms', String(dead), '--label', 'hil']);
    this.#region = await MetadataRegion.open(o.device.device);
    o.log(`metadata region on ${this.#image}: ${this.#region.superblock.regionBytes} bytes, data at ${this.#region.superblock.dataOffset}; heartbeat ${hb} ms, reclaim after ${dead} ms`);
    for (let id = 0; id < o.controllers; id++) {
      const p = await this.#cli(`controller:${id}`, ['controller', 'run', '--meta', this.#image, '--id', String(id), '--audit', this.#auditFile(id)]);
      this.#procs.push(p);
      o.log(`controller ${id}: blockrig controller run, pid ${p.pid}`);
    }
  }

  #auditFile(id: number): string {
    return join(this.#o.workDir, `controller-${id}.audit`);
  }

  #audit(): AuditRecord[] {
    return this.#procs.flatMap((_, id) => {
      const f = this.#auditFile(id);
      if (!existsSync(f)) return [];
      return readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as AuditRecord];
          } catch {
            return []; // a line cut by SIGKILL
          }
        });
    });
  }

  #event(controller: number, what: ControllerEvent['what'], detail?: string): void {
    this.events.push({ atMs: Math.round(this.#o.clock.now() - this.#started), controller, what, ...(detail === undefined ? {} : { detail }) });
  }

  /** Submits the fill task and waits for it, then the verify task; rejects when the fill does not complete. */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    this.#started = o.clock.now();
    const seed = (o.seed >>> 0).toString(16).padStart(8, '0');
    const common = ['--meta', this.#image, '--partitions', String(o.partitions), '--chunk-partitions', String(o.chunkPartitions), '--seed', seed, '--id', String(o.controllers), '--wait', '--json'];
    const fill = await this.#cli('task-submit:fill', ['task', 'submit', 'fill', ...common]);
    const onAbort = (): void => o.processes.signal(fill.pid, 'SIGKILL');
    signal.addEventListener('abort', onAbort);
    let polling = true;
    const poll = (async () => {
      while (polling) {
        await this.#poll().catch(() => undefined);
        await o.clock.sleep(100);
      }
    })();
    const { code, signal: killedBy } = await fill.exit;
    polling = false;
    await poll;
    await this.#poll().catch(() => undefined);
    signal.removeEventListener('abort', onAbort);
    for (const [id, p] of this.#procs.entries()) if (p.exited && this.#states[id] === 'running') this.#event(id, 'error', `exited: ${p.log().split('\n').slice(-3).join(' ')}`);
    if (signal.aborted) throw new Error('the scenario run was aborted before the task finished');
    if (code !== 0) throw new Error(`task submit fill --wait failed (${killedBy ?? `exit ${code}`}): ${fill.log().slice(-600)}`);
    o.log(`fill task ${this.#fillId ?? '?'} complete`);
    const verify = await this.#cli('task-submit:verify', ['task', 'submit', 'verify', ...common]);
    const v = await verify.exit;
    this.#verified = { ok: v.code === 0, detail: v.code === 0 ? `verify task over ${o.partitions} partitions complete` : `verify task failed (${v.signal ?? `exit ${v.code}`}): ${verify.log().slice(-400)}` };
    o.log(`verify: ${this.#verified.detail}`);
  }

  async #poll(): Promise<void> {
    const region = this.#region;
    if (region === undefined) return;
    const dump = await dumpRegion(region);
    const fill = dump.tasks.find((t) => t.spec?.kind === 'fill');
    if (fill === undefined) return;
    this.#fillId = fill.id;
    this.#dataBytes = fill.spec.length;
    const done = (fill.counts.COMPLETE ?? 0) / Math.max(1, fill.partitions);
    if (done !== this.#progress) {
      this.#progress = done;
      for (const l of [...this.#listeners]) l();
    }
  }

  kill(id: number): void {
    const p = this.#procs[id];
    if (p === undefined || this.#states[id] === 'killed') return;
    this.#o.processes.signal(p.pid, 'SIGKILL');
    this.#states[id] = 'killed';
    this.#event(id, 'killed', `pid ${p.pid}`);
  }

  pause(id: number, ms: number): void {
    const p = this.#procs[id];
    if (p === undefined || this.#states[id] !== 'running') return;
    this.#o.processes.signal(p.pid, 'SIGSTOP');
    this.#states[id] = 'paused';
    this.#event(id, 'paused', `pid ${p.pid}, ${ms} ms`);
    void this.#o.clock.sleep(ms).then(() => {
      this.#o.processes.signal(p.pid, 'SIGCONT');
      if (this.#states[id] === 'paused') this.#states[id] = 'running';
      this.#event(id, 'resumed');
    });
  }

  /** Resumes any paused controller and stops them all (SIGTERM: they leave the region). */
  async stop(): Promise<void> {
    for (const p of this.#procs) this.#o.processes.signal(p.pid, 'SIGCONT');
    for (const p of this.#procs) await this.#o.processes.stop(p.pid, this.#o.clock);
  }

  /**
   * A torn write of a record's next version, on the medium under the fault wrapper (the controller
   * processes read the same file): the newest valid copy, with sequence + 1 and the other copy number,
   * lands in the other copy for its first `keepBytes` only, the rest of the block is seeded random bytes.
   * Returns what it did; throws when the record has no valid copy or the torn block still checks.
   */
  async tearRecord(record: 'superblock' | 'task' | 'chunk', chunk: number, keepBytes: number, seed: number): Promise<string> {
    const region = this.#region;
    if (region === undefined) throw new Error('the metadata region is not formatted yet');
    const inner = this.#o.device.device.inner;
    let offsets: [number, number];
    let name: string;
    if (record === 'superblock') {
      offsets = [region.layout.superblockOffset(0), region.layout.superblockOffset(1)];
      name = 'the superblock';
    } else {
      const dump = await dumpRegion(region);
      const fill = dump.tasks.find((t) => t.spec?.kind === 'fill');
      if (fill === undefined) throw new Error('no fill task in the region yet');
      if (record === 'task') {
        offsets = [region.layout.taskOffset(fill.slot, 0), region.layout.taskOffset(fill.slot, 1)];
        name = `task slot ${fill.slot}`;
      } else {
        offsets = [region.layout.chunkOffset(fill.slot, chunk, 0), region.layout.chunkOffset(fill.slot, chunk, 1)];
        name = `chunk ${chunk} of task slot ${fill.slot}`;
      }
    }
    const blocks = await Promise.all(offsets.map(async (off) => Buffer.from(await inner.read(off, META_BLOCK))));
    const seq = blocks.map((b) => (crcValid(b) ? Number(b.readBigUInt64LE(16)) : -1));
    const [s0 = -1, s1 = -1] = seq;
    if (s0 < 0 && s1 < 0) throw new Error(`${name} has no valid copy yet: nothing to tear`);
    const newest = s1 > s0 ? 1 : 0;
    const target = 1 - newest;
    const next = Buffer.from(blocks[newest] ?? Buffer.alloc(META_BLOCK));
    const sequence = (seq[newest] ?? 0) + 1;
    next.writeBigUInt64LE(BigInt(sequence), 16);
    next.writeUInt32LE(target, 52);
    next.writeUInt32LE(blockCrc(next), 60);
    const keep = Math.min(META_BLOCK - 1, keepBytes);
    const random = seededRandom(seed);
    for (let i = keep; i < META_BLOCK; i++) next[i] = Math.floor(random() * 256);
    const offset = offsets[target] ?? 0;
    await inner.write(offset, next);
    await inner.flush();
    const after = Buffer.from(await inner.read(offset, META_BLOCK));
    if (crcValid(after)) throw new Error(`copy ${target} of ${name} still checks after the tear`);
    return `the write of sequence ${sequence} of ${name} to copy ${target} was torn after ${keep} bytes; copy ${newest} (sequence ${seq[newest]}) is intact`;
  }

  /** `blockrig meta check --json` on the region. */
  async check(): Promise<MetaCheckResult> {
    const p = await this.#cli('meta-check', ['meta', 'check', this.#image, '--json']);
    await p.exit;
    const text = p.log();
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start < 0 || end < start) throw new Error(`meta check printed no report:\n${text}`);
    const report = JSON.parse(text.slice(start, end + 1)) as MetaCheckResult;
    return { ok: report.ok, errors: report.errors, warnings: report.warnings };
  }
}
