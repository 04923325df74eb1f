/**
 * A finished task's result in words, as the dashboard's task table and `blockrig task show` print it: the
 * completion status the driver process reported (`outcome.result` of the region's task, and for a volume
 * scrub the member byte ranges of mismatched partitions). The record's `result` is opaque to servers, so
 * this reads it leniently; a shape it does not know is shown as JSON. Runtime-neutral.
 */
import { z } from 'zod';
import type { TaskRecord } from './task.js';

const CompletionSchema = z.looseObject({
  outcome: z.looseObject({ result: z.unknown() }).optional(),
  mismatchLocations: z.array(z.looseObject({ offset: z.number(), length: z.number() })).optional(),
});
const ScrubSchema = z.looseObject({ mismatchSectors: z.number(), repair: z.boolean().optional() });
const RebuildSchema = z.looseObject({ member: z.number(), unreadableRanges: z.number().optional() });
const CopySchema = z.looseObject({ member: z.number(), to: z.string(), status: z.string() });
const VerifySchema = z.looseObject({ mismatches: z.number() });
const FillSchema = z.looseObject({ seedHex: z.string() });

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : word.endsWith('h') ? 'es' : 's'}`;

/** The result of a finished task in a few words, or null while it has none. */
export function taskResultSummary(task: Pick<TaskRecord, 'kind' | 'result'>): string | null {
  const status = CompletionSchema.safeParse(task.result);
  const result = status.success ? status.data.outcome?.result : undefined;
  if (result === undefined || result === null) return null;
  const where = status.success ? (status.data.mismatchLocations ?? []) : [];
  const scrub = ScrubSchema.safeParse(result);
  if (task.kind === 'volume-scrub' && scrub.success) {
    const at = where.length === 0 ? '' : ` at member bytes ${where.map((l) => `${l.offset}+${l.length}`).join(', ')}`;
    return `${plural(scrub.data.mismatchSectors, 'mismatched sector')}${scrub.data.repair === true && scrub.data.mismatchSectors > 0 ? ' (repaired)' : ''}${at}`;
  }
  if (task.kind === 'volume-initialize' && scrub.success) return `${plural(scrub.data.mismatchSectors, 'sector')} rewritten`;
  const rebuild = RebuildSchema.safeParse(result);
  if (task.kind === 'volume-rebuild' && rebuild.success) return `member ${rebuild.data.member} rebuilt, ${plural(rebuild.data.unreadableRanges ?? 0, 'unreadable range')}`;
  const copy = CopySchema.safeParse(result);
  if (task.kind === 'volume-copy' && copy.success) return copy.data.status === 'finished' ? `member ${copy.data.member} copied to ${copy.data.to}` : `copy of member ${copy.data.member} failed`;
  const verify = VerifySchema.safeParse(result);
  if (task.kind === 'verify' && verify.success) return plural(verify.data.mismatches, 'mismatch');
  const fill = FillSchema.safeParse(result);
  if (task.kind === 'fill' && fill.success) return `pattern seed ${fill.data.seedHex}`;
  return JSON.stringify(result);
}
