/** Parameter schemas shared by the built-in task kinds. */
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';

/** A 32-bit seed given as a number or hex text ("7f3a09c1"), as `task show` prints task ids. */
export const seedSchema = z.union([
  z.number().int().min(0).max(0xffffffff),
  z
    .string()
    .regex(/^(0x)?[0-9a-f]{1,8}$/i, 'seed must be 1-8 hex digits')
    .transform((s) => parseInt(s.replace(/^0x/i, ''), 16)),
]);

/** Parses raw params with a schema, throwing `InvalidArgumentError` naming the field. */
export function parseWith<T>(schema: z.ZodType<T>, raw: unknown, kind: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.join('.') || 'params';
  throw new InvalidArgumentError(`task kind ${kind}: parameter ${field}: ${issue?.message ?? 'invalid'}`, { details: { field } });
}

/** Bytes a partition is processed in between checkpoints. */
export const STEP_BYTES = 1024 * 1024;
