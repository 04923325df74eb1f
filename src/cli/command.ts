/**
 * The shape of a CLI command module and the wrapper every action runs in: it maps errors to exit
 * statuses through the one error table and prints them as text or JSON.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { reportError } from './output.js';

/** A command module adds its commands to the program. */
export type CommandModule = (program: Command) => void;

/**
 * Wraps an action: the returned exit status (or 0) becomes the process's; a thrown error is reported and
 * mapped to its exit status. The last argument commander passes is the Command; its options decide `--json`.
 */
export function action<A extends unknown[]>(run: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command | undefined;
    const json = command?.optsWithGlobals?.()?.json === true;
    try {
      const status = await run(...args);
      process.exitCode = status ?? 0;
    } catch (err) {
      process.exitCode = reportError(err, json);
    }
  };
}

/**
 * Validates command-line values with a zod schema. A failure becomes `InvalidArgumentError` (exit 2)
 * naming the field and the bad value.
 */
export function parseArgs<T>(schema: z.ZodType<T>, value: unknown, field?: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const name = field ?? (path === '' ? 'argument' : path);
  const bad = path === '' ? value : (value as Record<string, unknown> | undefined)?.[String(issue?.path[0])];
  throw new InvalidArgumentError(`${name}: ${issue?.message ?? 'invalid value'} (got ${JSON.stringify(bad)})`, { details: { field: name, value: bad } });
}
