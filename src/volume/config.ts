/**
 * A volume's configuration: what is needed to assemble it on any controller. Validated with zod where it
 * enters (the CLI, the volume table); sizes may be written as "64KiB".
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { parseSize } from '../units.js';

/** A volume's configuration: what is needed to assemble it on any controller. */
export const VolumeConfigSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a volume name is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  level: z.enum(['raid1', 'raid5', 'raid6']),
  /** Chunk size in bytes (raid1: the row size used for locking, rebuild and scrub). */
  chunkSize: z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      try {
        return parseSize(v, 'chunkSize');
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .default(64 * 1024),
  members: z.array(z.string().min(1)).min(2).max(64),
  spares: z.array(z.string().min(1)).default([]),
  errorThreshold: z.number().int().nonnegative().default(20),
});
/** A volume configuration as written by a user (sizes may be strings). */
export type VolumeConfigInput = z.input<typeof VolumeConfigSchema>;
/** A validated volume configuration. */
export type VolumeConfig = z.output<typeof VolumeConfigSchema>;

/** Validates a configuration; InvalidArgumentError names the field. */
export function parseVolumeConfig(input: unknown): VolumeConfig {
  const parsed = VolumeConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new InvalidArgumentError(`volume configuration: ${field === '' ? '' : `${field}: `}${issue?.message ?? 'invalid'}`, { details: { field } });
  }
  return parsed.data;
}

