/**
 * The NBD client driver reading a whole nbdkit export (the pattern plugin, so the server costs little and
 * the client is what is measured) against nbdcopy to `null:` from the same export, in the same run:
 * 256 KiB requests, 64 in flight, over 1 and 4 connections for both; blockrig with `readInto` (reused
 * buffers, as nbdcopy) and with `read` (a new buffer per request).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openNbdDevice } from '../drivers/nbd.js';
import { MissingDependencyError } from '../src/errors.js';
import type { Benchmark, BenchContext, BenchRow } from './harness.js';

const MiB = 1024 * 1024;
const ROUNDS = 3;
const REQUEST = 256 * 1024;
const IN_FLIGHT = 64;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * MiB/s of reading the whole export with the blockrig driver: with `read` (a new buffer per request) or,
 * as nbdcopy does, with `readInto` a buffer each of the requests in flight reuses.
 */
async function blockrigRead(uri: string, connections: number, into: boolean): Promise<number> {
  const dev = await openNbdDevice(`${uri}&connections=${connections}`);
  try {
    const started = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      const buffer = Buffer.allocUnsafe(REQUEST);
      while (next < dev.size) {
        const offset = next;
        next += REQUEST;
        const length = Math.min(REQUEST, dev.size - offset);
        if (into) await dev.readInto(offset, length === REQUEST ? buffer : buffer.subarray(0, length));
        else await dev.read(offset, length);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return dev.size / MiB / ((performance.now() - started) / 1000);
  } finally {
    await dev.close();
  }
}

function nbdcopyRead(uri: string, connections: number, size: number): number {
  const started = performance.now();
  execFileSync('nbdcopy', [`--connections=${connections}`, `--request-size=${REQUEST}`, `--requests=${IN_FLIGHT}`, uri, 'null:'], { stdio: 'pipe' });
  return size / MiB / ((performance.now() - started) / 1000);
}

async function run(ctx: BenchContext): Promise<{ rows: BenchRow[]; notes: string }> {
  for (const [command, pkg] of [['nbdkit', 'nbdkit'], ['nbdcopy', 'libnbd-bin']] as const) {
    try {
      execFileSync('which', [command], { stdio: 'pipe' });
    } catch (err) {
      throw new MissingDependencyError(`the program "${command}"`, pkg, { cause: err });
    }
  }
  const size = Math.round(1024 * ctx.scale) * MiB;
  const socketPath = join(ctx.workDir, 'nbdkit.sock');
  const child = spawn('nbdkit', ['-f', '--exit-with-parent', '-U', socketPath, 'pattern', `size=${size}`], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  while (!existsSync(socketPath)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('nbdkit did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const uri = `nbd+unix:///?socket=${socketPath}`;
  const rows: BenchRow[] = [];
  try {
    for (const connections of [1, 4]) {
      for (const into of [true, false]) {
        const mine: number[] = [];
        const peer: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          mine.push(await blockrigRead(uri, connections, into));
          peer.push(nbdcopyRead(uri, connections, size));
        }
        const how = into ? 'readInto' : 'read';
        const row: BenchRow = { case: `${how}, whole export, 256 KiB x ${IN_FLIGHT} in flight, ${connections} conn${connections > 1 ? 's' : ''}`, blockrig: median(mine), peer: median(peer), peerName: 'nbdcopy to null:', unit: 'MiB/s', higherIsBetter: true };
        ctx.log(`${row.case}: blockrig ${row.blockrig.toFixed(0)}, nbdcopy ${row.peer.toFixed(0)} MiB/s`);
        rows.push(row);
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
  return {
    rows,
    notes:
      `nbdkit pattern plugin, ${size / MiB} MiB, unix socket; ${ROUNDS} alternating rounds, medians. blockrig runs in the benchmark's own Node process. ` +
      'The driver receives into one reused buffer (socket onread) and its reply parser copies each read\'s data straight into the caller\'s buffer: ' +
      'with readInto (what nbdcopy does, one buffer per request in flight, reused) a read allocates nothing; with read it allocates the buffer it ' +
      'resolves with, and the garbage collector reclaiming those is what the read rows lose. What still limits blockrig: all connections share one ' +
      'JavaScript thread (nbdcopy runs a native thread per connection), and the data is copied once from the socket buffer into the target ' +
      '(libnbd receives straight into its buffer).',
  };
}

const bench: Benchmark = { name: 'nbd-client', title: 'NBD client driver vs nbdcopy, reading an nbdkit export', run };
export default bench;
