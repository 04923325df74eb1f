/** The `verify` task: reads the data set back and counts 4096-byte blocks that differ from the pattern. */
import { z } from 'zod';
import { hexId } from '../metadata/task-record.js';
import { parseWith, seedSchema, STEP_BYTES } from './params.js';
import { PATTERN_BLOCK, fillPattern } from './pattern.js';
import type { TaskKind } from './registry.js';

const schema = z.object({ seed: seedSchema }).strict();

/** Verifies the pattern of `seed`; partition result is its count of mismatched 4096-byte blocks. */
export const verifyKind: TaskKind = {
  name: 'verify',
  summary: 'read the data set and count 4096-byte blocks that differ from the fill pattern of --seed',
  parseParams(raw) {
    return { seed: parseWith(schema, raw, 'verify').seed };
  },
  async runPartition(ctx) {
    const seed = Number(ctx.params.seed);
    let mismatches = ctx.resumeResult;
    for (let done = ctx.resumeFrom; done < ctx.length; ) {
      const n = Math.min(STEP_BYTES, ctx.length - done);
      const got = await ctx.read(ctx.offset + done, n);
      const want = Buffer.allocUnsafe(n);
      fillPattern(want, seed, ctx.offset + done);
      for (let b = 0; b < n; b += PATTERN_BLOCK) {
        if (got.compare(want, b, b + PATTERN_BLOCK, b, b + PATTERN_BLOCK) !== 0) mismatches++;
      }
      done += n;
      if (done < ctx.length) await ctx.checkpoint(done, mismatches);
    }
    return mismatches;
  },
  complete({ task, results }) {
    let mismatches = 0;
    const mismatchedPartitions: number[] = [];
    results.forEach((r, i) => {
      mismatches += r;
      if (r > 0 && mismatchedPartitions.length < 20) mismatchedPartitions.push(i);
    });
    return Promise.resolve({
      result: { seed: Number(task.spec.params.seed), mismatches, mismatchedPartitions },
      actions: [`summed ${results.length} partition results: ${mismatches} mismatched 4096-byte blocks against seed ${hexId(Number(task.spec.params.seed))}`],
    });
  },
};
