/** The `fill` task: writes the deterministic pattern of `pattern.ts` over the data set. */
import { z } from 'zod';
import { hexId } from '../metadata/task-record.js';
import { parseWith, seedSchema, STEP_BYTES } from './params.js';
import { fillPattern } from './pattern.js';
import type { TaskKind } from './registry.js';

const schema = z.object({ seed: seedSchema.optional() }).strict();

/** Fills the data set with the pattern of `seed` (default: the task id); partition result is 0. */
export const fillKind: TaskKind = {
  name: 'fill',
  summary: 'write a deterministic pattern derived from the seed (default: the task id) and the offset',
  parseParams(raw, taskId) {
    const p = parseWith(schema, raw, 'fill');
    return { seed: p.seed ?? taskId };
  },
  async runPartition(ctx) {
    const seed = Number(ctx.params.seed);
    for (let done = ctx.resumeFrom; done < ctx.length; ) {
      const n = Math.min(STEP_BYTES, ctx.length - done);
      const buf = Buffer.allocUnsafe(n);
      fillPattern(buf, seed, ctx.offset + done);
      await ctx.write(ctx.offset + done, buf);
      done += n;
      if (done < ctx.length) await ctx.checkpoint(done, 0);
    }
    return 0;
  },
  complete({ task, states }) {
    const failed = states.filter((s) => s === 3).length;
    return Promise.resolve({
      result: { seed: Number(task.spec.params.seed), seedHex: hexId(Number(task.spec.params.seed)), bytes: task.spec.length, failedPartitions: failed },
      actions: [`recorded the fill of ${task.spec.length} bytes with seed ${hexId(Number(task.spec.params.seed))}; verify it with: blockrig task submit verify --seed ${hexId(Number(task.spec.params.seed))}`],
    });
  },
};
