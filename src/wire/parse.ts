/** Validation at a boundary: a zod failure becomes `InvalidArgumentError` naming the field and the problem. */
import type { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';

/** Parses `value` with `schema`; throws `InvalidArgumentError` whose `details.field` names the bad field. */
export function parseAt<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? where : issue.path.map(String).join('.');
  const problem = issue?.message ?? 'invalid';
  throw new InvalidArgumentError(`${where}: field "${field}": ${problem}`, {
    details: { field, problem, issues: result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) },
  });
}
