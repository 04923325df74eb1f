/**
 * Workloads of a scenario run. The pattern writer fills the volume with seeded blocks, keeps writing seeded
 * blocks at seeded places while the task runs, and at the end reads every byte back and compares it with
 * what it wrote (the model is one generation number per block, so the expected bytes are recomputed, not
 * stored). The fio workload exports the volume with blockrig's NBD server on a unix socket and runs fio's
 * nbd engine against it with verify=crc32c, so a real client's I/O crosses the rebuild.
 */
import { join } from 'node:path';
import type { BlockDevice } from '../../drivers/types.js';
import type { Clock } from '../../src/clock.js';
import { NbdServer } from '../../src/nbd/server.js';
import { seededRandom } from '../../src/random.js';
import { findProgram, type ProcessSupervisor } from '../rig/processes.js';

/** What a workload reports at the end. */
export interface WorkloadResult {
  /** region: the verify task the controller processes ran over the region task's data set. */
  readonly kind: 'pattern' | 'fio' | 'region';
  readonly writesDuringTask: number;
  readonly bytesVerified: number;
  /** True when every byte read back as written. */
  readonly verified: boolean;
  /** The first difference, or fio's complaint. */
  readonly problem: string | undefined;
}


/** Fills `out` with the bytes of block `block` at generation `gen` under `seed`. */
function fillBlock(out: Buffer, seed: number, block: number, gen: number): void {
  let x = (seed ^ Math.imul(block + 1, 0x9e3779b1) ^ Math.imul(gen + 1, 0x85ebca77)) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
}

/** The seeded pattern writer; see the module comment. */
export class PatternWorkload {
  readonly #device: BlockDevice;
  readonly #blockSize: number;
  readonly #seed: number;
  readonly #generations: Uint32Array;
  #writes = 0;

  constructor(device: BlockDevice, blockSize: number, seed: number) {
    this.#device = device;
    this.#blockSize = blockSize;
    this.#seed = seed;
    this.#generations = new Uint32Array(Math.floor(device.size / blockSize));
  }

  /** Writes generation 0 of every block, 1 MiB at a time. */
  async fill(): Promise<void> {
    const perWrite = Math.max(1, Math.floor((1024 * 1024) / this.#blockSize));
    for (let b = 0; b < this.#generations.length; b += perWrite) {
      const count = Math.min(perWrite, this.#generations.length - b);
      const buf = Buffer.alloc(count * this.#blockSize);
      for (let i = 0; i < count; i++) fillBlock(buf.subarray(i * this.#blockSize, (i + 1) * this.#blockSize), this.#seed, b + i, 0);
      await this.#device.write(b * this.#blockSize, buf);
    }
    await this.#device.flush();
  }

  /** Writes up to `count` seeded blocks, one every `gapMs`, until done or `signal` aborts. */
  async writeDuring(count: number, gapMs: number, clock: Clock, signal: AbortSignal): Promise<void> {
    const random = seededRandom(this.#seed ^ 0x5eed);
    const buf = Buffer.alloc(this.#blockSize);
    for (let i = 0; i < count && !signal.aborted; i++) {
      const block = Math.floor(random() * this.#generations.length);
      const gen = (this.#generations[block] ?? 0) + 1;
      fillBlock(buf, this.#seed, block, gen);
      // The model advances only once the volume acknowledged the write.
      await this.#device.write(block * this.#blockSize, buf);
      this.#generations[block] = gen;
      this.#writes++;
      await clock.sleep(gapMs).catch(() => undefined);
    }
  }

  /** Reads everything back and compares; stops at the first difference. */
  async verify(): Promise<WorkloadResult> {
    const perRead = Math.max(1, Math.floor((1024 * 1024) / this.#blockSize));
    const expected = Buffer.alloc(this.#blockSize);
    let verifiedBytes = 0;
    for (let b = 0; b < this.#generations.length; b += perRead) {
      const count = Math.min(perRead, this.#generations.length - b);
      let got: Buffer;
      try {
        got = await this.#device.read(b * this.#blockSize, count * this.#blockSize);
      } catch (err) {
        return this.#result(verifiedBytes, `read of ${count * this.#blockSize} bytes at ${b * this.#blockSize} failed: ${(err as Error).message}`);
      }
      for (let i = 0; i < count; i++) {
        fillBlock(expected, this.#seed, b + i, this.#generations[b + i] ?? 0);
        if (!got.subarray(i * this.#blockSize, (i + 1) * this.#blockSize).equals(expected)) {
          return this.#result(verifiedBytes, `block at byte ${(b + i) * this.#blockSize} differs from generation ${this.#generations[b + i] ?? 0} of the pattern`);
        }
        verifiedBytes += this.#blockSize;
      }
    }
    return this.#result(verifiedBytes, undefined);
  }

  #result(bytes: number, problem: string | undefined): WorkloadResult {
    return { kind: 'pattern', writesDuringTask: this.#writes, bytesVerified: bytes, verified: problem === undefined, problem };
  }
}

/** Options of the fio workload. */
export interface FioWorkloadOptions {
  readonly volume: BlockDevice;
  readonly workDir: string;
  readonly processes: ProcessSupervisor;
  readonly size: number;
  readonly blockSize: number;
  readonly rw: string;
  readonly seed: number;
}

/** Exports the volume and runs fio with verification; resolves when fio exits. */
export async function runFioWorkload(o: FioWorkloadOptions): Promise<WorkloadResult> {
  const fio = findProgram('fio', 'fio');
  const server = new NbdServer();
  const socket = join(o.workDir, 'volume.sock');
  server.addExport('volume', o.volume);
  await server.listen({ kind: 'unix', path: socket });
  try {
    const proc = await o.processes.start('fio', fio, [
      '--name=hil',
      '--ioengine=nbd',
      `--uri=nbd+unix:///volume?socket=${socket}`,
      `--rw=${o.rw}`,
      `--bs=${o.blockSize}`,
      `--size=${o.size}`,
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      `--randseed=${o.seed}`,
      '--iodepth=4',
      // fio would otherwise leave local-hil-0-verify.state behind in its working directory.
      '--verify_state_save=0',
    ], o.workDir);
    const exit = await proc.exit;
    const ok = exit.code === 0;
    const tail = proc.log().trim().split('\n').slice(-3).join(' | ');
    return { kind: 'fio', writesDuringTask: Math.floor(o.size / o.blockSize), bytesVerified: ok ? o.size : 0, verified: ok, problem: ok ? undefined : `fio exited with ${exit.signal ?? `code ${exit.code}`}: ${tail}` };
  } finally {
    await server.close();
  }
}
