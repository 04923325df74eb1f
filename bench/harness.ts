/**
 * The benchmark harness. Each `bench/*.bench.ts` file default-exports a `Benchmark`; `bench/run.ts` runs
 * them, writes `bench/results/NAME.json` and rewrites the benchmark's section of `docs/benchmarks.md`.
 * Every row compares blockrig with the peer tool measured in the same run, as a ratio.
 */
import { join } from 'node:path';

/** The built CLI (`npm run bench` builds it first), for benchmarks that start blockrig processes. */
export const CLI_PATH = join(import.meta.dirname, '..', 'dist', 'cli.js');

/** One measured case: blockrig against its peer, in the same unit. */
export interface BenchRow {
  /** What was measured ("seq read 1 MiB, buffered"). */
  case: string;
  /** blockrig's figure. */
  blockrig: number;
  /** The peer's figure, measured in the same run on the same device. */
  peer: number;
  /** The peer tool ("fio psync", "nbdkit file", "nbdcopy"). */
  peerName: string;
  /** Unit of both figures ("MiB/s", "IOPS", "ms"). */
  unit: string;
  /** True when a larger figure is better (throughput); false for times and latencies. */
  higherIsBetter: boolean;
}

/** What a benchmark returns. */
export interface BenchResult {
  rows: BenchRow[];
  /** Free text for the docs: setup, what limits the figures. */
  notes?: string;
}

/** What `bench/run.ts` gives each benchmark. */
export interface BenchContext {
  /** A scratch folder, removed afterwards. */
  workDir: string;
  /** Scale factor from `BLOCKRIG_BENCH_SCALE` (default 1): sizes and durations multiply by it. */
  scale: number;
  /** Progress lines for the operator. */
  log(message: string): void;
}

/** A benchmark file's default export. */
export interface Benchmark {
  /** Short id, used for the results file and the docs section ("file-driver"). */
  name: string;
  /** Heading in docs/benchmarks.md. */
  title: string;
  run(context: BenchContext): Promise<BenchResult>;
}

/** blockrig's figure relative to the peer's, so that above 1 always means blockrig is better. */
export function advantage(row: BenchRow): number {
  if (row.peer === 0 || row.blockrig === 0) return 0;
  return row.higherIsBetter ? row.blockrig / row.peer : row.peer / row.blockrig;
}

/** Renders a result as a Markdown table. */
export function renderMarkdown(result: BenchResult): string {
  const lines = [
    '| case | blockrig | peer | peer tool | ratio (blockrig/peer, >1 is better) |',
    '| --- | ---: | ---: | --- | ---: |',
    ...result.rows.map(
      (r) => `| ${r.case} | ${fmt(r.blockrig)} ${r.unit} | ${fmt(r.peer)} ${r.unit} | ${r.peerName} | ${advantage(r).toFixed(2)} |`,
    ),
  ];
  if (result.notes !== undefined && result.notes !== '') lines.push('', result.notes);
  return lines.join('\n');
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
