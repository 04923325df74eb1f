/**
 * The iSCSI driver against libiscsi's `iscsi-perf` on the same tgtd LUN, in the same run: sequential reads
 * of 128 KiB and random reads of 4 KiB, 16 in flight, for a fixed time each. iscsi-perf only reads, so
 * writes have no peer here. Figures are IOPS; both sides go through the same tgtd, which on two shared
 * cores is much of what is measured.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { openDevice } from '../drivers/index.js';
import { MissingDependencyError } from '../src/errors.js';
import { Tgtd } from '../src/iscsi/tgtd-target.js';
import type { BenchContext, BenchRow, Benchmark } from './harness.js';

const MiB = 1024 * 1024;
const IN_FLIGHT = 16;
const ROUNDS = 3;
const IQN = 'iqn.2026-01.dev.blockrig:bench';

interface Case {
  name: string;
  blockBytes: number;
  random: boolean;
}

const CASES: Case[] = [
  { name: `sequential read 128 KiB x ${IN_FLIGHT} in flight`, blockBytes: 128 * 1024, random: false },
  { name: `random read 4 KiB x ${IN_FLIGHT} in flight`, blockBytes: 4096, random: true },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** IOPS of blockrig's driver for `seconds`. */
async function blockrigIops(uri: string, c: Case, seconds: number): Promise<number> {
  const dev = await openDevice(uri, { readOnly: true });
  try {
    const blocks = Math.floor(dev.size / c.blockBytes);
    let next = 0;
    let done = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const block = c.random ? randomInt(blocks) : next++ % blocks;
        await dev.read(block * c.blockBytes, c.blockBytes);
        done++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return done / ((performance.now() - started) / 1000);
  } finally {
    await dev.close();
  }
}

/** IOPS iscsi-perf reports (its final "iops average"). */
function iscsiPerfIops(uri: string, c: Case, seconds: number): Promise<number> {
  const args = ['-m', String(IN_FLIGHT), '-b', String(c.blockBytes / 512), '-t', String(seconds), ...(c.random ? ['-r'] : []), uri];
  return new Promise((resolve, reject) => {
    execFile('iscsi-perf', args, { timeout: (seconds + 30) * 1000, maxBuffer: 16 * MiB }, (err, stdout) => {
      const averages = [...stdout.matchAll(/iops average (\d+)/g)];
      const last = averages.at(-1)?.[1];
      if (last === undefined) reject(new Error(`iscsi-perf gave no figure: ${err?.message ?? stdout.slice(-300)}`));
      else resolve(Number(last));
    });
  });
}

async function run(ctx: BenchContext): Promise<{ rows: BenchRow[]; notes: string }> {
  for (const [command, pkg] of [['tgtd', 'tgt'], ['iscsi-perf', 'libiscsi-bin']] as const) {
    await new Promise<void>((resolve, reject) =>
      execFile('which', [command], (err) => (err ? reject(new MissingDependencyError(`the program "${command}"`, pkg, { cause: err })) : resolve())),
    );
  }
  const seconds = Math.max(2, Math.round(5 * ctx.scale));
  const size = 256 * MiB;
  const tgtd = await Tgtd.launch(ctx.workDir);
  const rows: BenchRow[] = [];
  try {
    tgtd.addTarget({ iqn: IQN, luns: [{ lun: 1, sizeBytes: size }] });
    const uri = tgtd.uri(IQN, 1);
    for (const c of CASES) {
      const mine: number[] = [];
      const peer: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        mine.push(await blockrigIops(uri, c, seconds));
        peer.push(await iscsiPerfIops(uri, c, seconds));
      }
      const row: BenchRow = { case: c.name, blockrig: median(mine), peer: median(peer), peerName: 'iscsi-perf (libiscsi)', unit: 'IOPS', higherIsBetter: true };
      ctx.log(`${row.case}: blockrig ${row.blockrig.toFixed(0)}, iscsi-perf ${row.peer.toFixed(0)} IOPS`);
      rows.push(row);
    }
  } finally {
    await tgtd.stop();
  }
  return {
    rows,
    notes:
      `tgtd (rdwr backing store on a ${size / MiB} MiB sparse file in the temp folder) on 127.0.0.1, one session each, ${IN_FLIGHT} commands in flight, ` +
      `${seconds} s per run, ${ROUNDS} alternating rounds, medians. blockrig runs in the benchmark's own Node process; READ (16) with Data-In ` +
      'reassembled into one Buffer per command, and the command PDUs issued together (as the completions of one received chunk come in) sent with one writev (BatchedSocketWrites). ' +
      'What still costs: a buffer allocated per received PDU and per command (garbage collection is about 15% of the initiator\'s CPU in a profile), ' +
      'and one JavaScript thread for session and completion handling. Both initiators share the two cores with tgtd, so the ratio says more than the absolute figures.',
  };
}

const bench: Benchmark = { name: 'iscsi', title: 'iSCSI driver vs iscsi-perf (libiscsi), reading a tgtd LUN', run };
export default bench;
