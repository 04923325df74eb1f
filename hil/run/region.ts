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
import type { Clock } from '../../src/clock.js';
import { dumpRegion } from '../../src/metadata/inspect.js';
import { META_BLOCK } from '../../src/metadata/layout.js';
import { blockCrc } from '../../src/metadata/record.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import type { BuiltDevice } from '../rig/devices.js';
import type { ProcessSupervisor } from '../rig/processes.js';
import { ControllerFleet, regionTiming, type ControllerEvent, type ScenarioTask } from './fleet.js';
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
export class RegionTask implements ScenarioTask {
  readonly #o: RegionTaskOptions;
  readonly #image: string;
  readonly #fleet: ControllerFleet;
  #region: MetadataRegion | undefined;
  #verified: { ok: boolean; detail: string; bytes: number } | undefined;

  constructor(options: RegionTaskOptions) {
    this.#o = options;
    if (options.device.image === undefined) throw new Error(`device ${options.device.spec.name} has no image file for the metadata region`);
    this.#image = options.device.image;
    this.#fleet = new ControllerFleet({ meta: this.#image, metaDevice: options.device.device, controllers: options.controllers, workDir: options.workDir, cliPath: options.cliPath, processes: options.processes, clock: options.clock, log: options.log });
  }

  get progress(): number {
    return this.#fleet.progress;
  }

  get reclaimed(): number {
    return this.#fleet.reclaimed;
  }

  get events(): readonly ControllerEvent[] {
    return this.#fleet.events;
  }

  /** The verify task's outcome, once it ran. */
  get verified(): { ok: boolean; detail: string; bytes: number } | undefined {
    return this.#verified;
  }

  onProgress(listener: () => void): () => void {
    return this.#fleet.onProgress(listener);
  }

  kill(id: number): void {
    this.#fleet.kill(id);
  }

  pause(id: number, ms: number): void {
    this.#fleet.pause(id, ms);
  }

  /** Stops the controller processes. */
  stop(): Promise<void> {
    return this.#fleet.stop();
  }

  /** Formats the region and starts the controller processes. */
  async start(): Promise<void> {
    const o = this.#o;
    await this.#fleet.run('meta-format', ['meta', 'format', this.#image, '--controllers', String(o.controllers + 2), '--tasks', '2', '--max-chunks', String(Math.ceil(o.partitions / o.chunkPartitions)), ...regionTiming(o.leaseMs), '--label', 'hil']);
    this.#region = await MetadataRegion.open(o.device.device);
    o.log(`metadata region on ${this.#image}: ${this.#region.superblock.regionBytes} bytes, data at ${this.#region.superblock.dataOffset}`);
    await this.#fleet.start();
  }

  /** Submits the fill task and waits for it, then the verify task; rejects when the fill does not complete. */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    const seed = (o.seed >>> 0).toString(16).padStart(8, '0');
    const common = ['--partitions', String(o.partitions), '--chunk-partitions', String(o.chunkPartitions), '--seed', seed];
    await this.#fleet.submit('fill', common, signal);
    const bytes = this.#fleet.task?.length ?? 0;
    try {
      await this.#fleet.submit('verify', common, signal);
      this.#verified = { ok: true, detail: `verify task over ${o.partitions} partitions complete`, bytes };
    } catch (err) {
      this.#verified = { ok: false, detail: (err as Error).message.slice(0, 400), bytes: 0 };
    }
    o.log(`verify: ${this.#verified.detail}`);
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
    const p = await this.#fleet.cli('meta-check', ['meta', 'check', this.#image, '--json']);
    await p.exit;
    const text = p.log();
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start < 0 || end < start) throw new Error(`meta check printed no report:\n${text}`);
    const report = JSON.parse(text.slice(start, end + 1)) as MetaCheckResult;
    return { ok: report.ok, errors: report.errors, warnings: report.warnings };
  }
}
