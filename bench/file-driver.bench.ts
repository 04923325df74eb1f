/**
 * The file driver against fio on the same kernel loop device in the same run: sequential 1 MiB and
 * random 4 KiB reads and writes, buffered and O_DIRECT, one request at a time (fio's psync engine does the
 * same: one pread/pwrite per I/O). blockrig goes through the whole driver stack (base-class checks, the
 * page-cache fast path or libuv's thread pool), reading with `readInto` into one reused page-aligned buffer
 * and writing from it, as fio does with its own buffer.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileDevice, type FileDevice } from '../drivers/file.js';
import { createLoopDevice } from '../drivers/loop.js';
import { allocAligned } from '../drivers/native/aligned.js';
import { ioctlValue } from '../drivers/native/libc.js';
import { MissingDependencyError, PermissionError } from '../src/errors.js';
import type { Benchmark, BenchRow } from './harness.js';

/** `_IO(0x12, 97)`: drop the block device's own buffer cache. */
const BLKFLSBUF = 0x1261;

interface Case {
  rw: 'read' | 'write' | 'randread' | 'randwrite';
  blockSize: number;
  direct: boolean;
}

function caseName(c: Case): string {
  const what = { read: 'seq read', write: 'seq write', randread: 'random read', randwrite: 'random write' }[c.rw];
  return `${what} ${c.blockSize === 4096 ? '4 KiB' : '1 MiB'}, ${c.direct ? 'O_DIRECT' : 'buffered'}`;
}

/** Rounds per case; each figure is the median. */
const ROUNDS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** xorshift32 offsets, seeded, in whole blocks. */
function randomOffsets(count: number, blocks: number, blockSize: number): number[] {
  let state = 0x9e3779b9;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out.push(((state >>> 0) % blocks) * blockSize);
  }
  return out;
}

/** Runs one case through the file driver; returns bytes per second. */
async function runBlockrig(dev: FileDevice, c: Case, bytes: number): Promise<number> {
  const count = bytes / c.blockSize;
  const offsets = c.rw.startsWith('rand') ? randomOffsets(count, dev.size / c.blockSize, c.blockSize) : Array.from({ length: count }, (_, i) => (i * c.blockSize) % dev.size);
  // One page-aligned buffer reused by every request, as fio does: reads fill it with readInto (no
  // allocation, and O_DIRECT needs no bounce buffer), writes send it.
  const buffer = allocAligned(c.blockSize).fill(0x5a);
  const started = performance.now();
  if (c.rw === 'read' || c.rw === 'randread') for (const offset of offsets) await dev.readInto(offset, buffer);
  else for (const offset of offsets) await dev.write(offset, buffer);
  return bytes / ((performance.now() - started) / 1000);
}

/** Runs the same case with fio psync; returns bytes per second. */
function runFio(path: string, c: Case, bytes: number, size: number): number {
  const out = execFileSync(
    'fio',
    [
      '--name=blockrig-peer', `--filename=${path}`, '--ioengine=psync', `--rw=${c.rw}`, `--bs=${c.blockSize}`, `--direct=${c.direct ? 1 : 0}`,
      `--size=${size}`, `--io_size=${bytes}`, '--norandommap', '--randrepeat=1', '--output-format=json',
      // Parity with blockrig: no fadvise hints (blockrig gives none, so both get the kernel's readahead) and
      // no cache invalidation of fio's own (both tools start after the same flush and BLKFLSBUF).
      '--fadvise_hint=0', '--invalidate=0',
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const job = (JSON.parse(out) as { jobs: { read: { bw_bytes: number }; write: { bw_bytes: number } }[] }).jobs[0];
  if (!job) throw new Error(`fio printed no job results for ${caseName(c)}`);
  return c.rw === 'read' || c.rw === 'randread' ? job.read.bw_bytes : job.write.bw_bytes;
}

const bench: Benchmark = {
  name: 'file-driver',
  title: 'File driver vs fio (psync) on one loop device',
  async run(ctx) {
    if (process.getuid?.() !== 0) throw new PermissionError('the file-driver benchmark attaches a loop device: run it as root');
    try {
      execFileSync('fio', ['--version'], { stdio: 'pipe' });
    } catch (err) {
      throw new MissingDependencyError('the program "fio"', 'fio', { cause: err });
    }
    const size = Math.round(256 * 1024 * 1024 * ctx.scale);
    const image = join(ctx.workDir, 'bench.img');
    writeFileSync(image, '');
    truncateSync(image, size);
    // The loop device stays attached (held by this handle) for every case, so both tools use one device.
    const loop = await createLoopDevice({ image });
    // A plain read-only fd on the node for BLKFLSBUF (the driver keeps its own handle private).
    const control = openSync(loop.path, 'r');
    const rows: BenchRow[] = [];
    try {
      await loop.write(0, Buffer.alloc(size, 0x11));
      await loop.flush();
      const cases: Case[] = [];
      for (const direct of [false, true]) {
        for (const rw of ['write', 'read', 'randwrite', 'randread'] as const) cases.push({ rw, blockSize: rw.startsWith('rand') ? 4096 : 1024 * 1024, direct });
      }
      for (const c of cases) {
        // Sequential cases pass over the device 4 times (fio wraps around the same way when io_size > size),
        // so that each measurement lasts long enough to mean something.
        const bytes = Math.round(((c.blockSize === 4096 ? 64 : 1024) * 1024 * 1024 * ctx.scale) / c.blockSize) * c.blockSize;
        const settle = async (): Promise<void> => {
          // Same starting point for both tools: nothing dirty, and the loop device's own cache dropped.
          await loop.flush();
          ioctlValue(control, BLKFLSBUF, 0, 'ioctl(BLKFLSBUF)');
        };
        // Five alternating rounds and the median of each tool: the machine is shared, single runs are noisy.
        const oursRuns: number[] = [];
        const peerRuns: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          await settle();
          const dev = await createFileDevice({ path: loop.path, direct: c.direct });
          try {
            oursRuns.push(await runBlockrig(dev, c, bytes));
            await dev.flush();
          } finally {
            await dev.close();
          }
          await settle();
          peerRuns.push(runFio(loop.path, c, bytes, size));
        }
        const ours = median(oursRuns);
        const peer = median(peerRuns);
        const random = c.blockSize === 4096;
        const row: BenchRow = {
          case: caseName(c),
          blockrig: random ? ours / 4096 : ours / 2 ** 20,
          peer: random ? peer / 4096 : peer / 2 ** 20,
          peerName: 'fio psync',
          unit: random ? 'IOPS' : 'MiB/s',
          higherIsBetter: true,
        };
        ctx.log(`${row.case}: blockrig ${row.blockrig.toFixed(0)} ${row.unit}, fio ${row.peer.toFixed(0)} ${row.unit}`);
        rows.push(row);
      }
    } finally {
      closeSync(control);
      await loop.close();
    }
    return {
      rows,
      notes:
        `One ${size / 2 ** 20} MiB image on ext4, attached to one loop device for the whole run; each case runs blockrig's file driver (sequential cases: 1 GiB, four passes; random cases: 64 MiB of 4 KiB requests), ` +
        'then fio --ioengine=psync with the same block size, direct flag, byte count and one request in flight, after a flush and BLKFLSBUF; five alternating rounds, median of each. ' +
        'Both tools reuse one page-aligned buffer (blockrig reads with readInto). Buffered reads are served from the page cache of the backing file for both tools. ' +
        'blockrig tries each buffered request first with preadv2/pwritev2(RWF_NOWAIT) on the event loop, which succeeds when the loop device\'s own page cache ' +
        'holds the blocks (reads; this kernel refuses non-blocking buffered writes to block devices), and otherwise pays the Node/libuv thread-pool hop per request ' +
        '(a futex wake-up of a worker and a wake-up of the loop, each of which waits for a CPU on a loaded machine), which shows most on small random I/O and under O_DIRECT. ' +
        'The development machines are shared 2-core VMs whose virtual disk is cached by the host, so single figures swing by 2x or more between runs; read the ratios as rough.',
    };
  },
};

export default bench;
