/** The `checksum` task: CRC32C of every partition into the task's result. */
import { z } from 'zod';
import { crc32c } from '../metadata/crc32c.js';
import { parseWith, STEP_BYTES } from './params.js';
import type { TaskKind } from './registry.js';

const schema = z.object({}).strict();

/** Partition result: the CRC32C of the partition's bytes. Completion: a CRC32C over those results. */
export const checksumKind: TaskKind = {
  name: 'checksum',
  summary: 'compute the CRC32C of every partition, and a CRC32C over those',
  parseParams(raw) {
    parseWith(schema, raw, 'checksum');
    return {};
  },
  async runPartition(ctx) {
    let crc = ctx.resumeResult;
    for (let done = ctx.resumeFrom; done < ctx.length; ) {
      const n = Math.min(STEP_BYTES, ctx.length - done);
      crc = crc32c(await ctx.read(ctx.offset + done, n), crc);
      done += n;
      if (done < ctx.length) await ctx.checkpoint(done, crc);
    }
    return crc;
  },
  complete({ results }) {
    const all = Buffer.alloc(results.length * 4);
    results.forEach((r, i) => all.writeUInt32LE(r >>> 0, i * 4));
    const total = crc32c(all);
    return Promise.resolve({
      result: { crc32cOfPartitions: total.toString(16).padStart(8, '0'), partitions: results.length, first: results.slice(0, 8).map((r) => r.toString(16).padStart(8, '0')) },
      actions: [`combined ${results.length} partition CRC32Cs into ${total.toString(16).padStart(8, '0')}`],
    });
  },
};
