/** How the CLI prints: tables for people, JSON for scripts, errors in both forms. */
import Table from 'cli-table3';
import { BlockrigError, mappingFor } from '../errors.js';

/** Options every command that prints results accepts. */
export interface OutputOptions {
  json?: boolean;
}

/** Prints a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned table with a header; `columns` maps header text to a cell getter. */
export function printTable<T>(rows: readonly T[], columns: Record<string, (row: T) => string | number | boolean>): void {
  const table = new Table({
    head: Object.keys(columns),
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '', top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', right: '', middle: '  ' },
  });
  for (const row of rows) table.push(Object.values(columns).map((get) => String(get(row))));
  process.stdout.write(`${table.toString()}\n`);
}

/** Prints "key: value" lines, aligned, for one record. */
export function printFields(fields: Record<string, string | number | boolean>): void {
  const width = Math.max(...Object.keys(fields).map((k) => k.length));
  for (const [key, value] of Object.entries(fields)) process.stdout.write(`${`${key}:`.padEnd(width + 2)}${String(value)}\n`);
}

/**
 * Reports an error and returns the exit status from the error table. With `--json` the error goes to
 * stdout as `{ "error": { code, message, details } }` so scripts can parse it.
 */
export function reportError(err: unknown, json: boolean): number {
  const mapping = mappingFor(err);
  const body =
    err instanceof BlockrigError
      ? err.toJSON()
      : { code: 'BLOCKRIG_E_INTERNAL', message: err instanceof Error ? err.message : String(err), details: {} };
  if (json) printJson({ error: body });
  else {
    process.stderr.write(`blockrig: ${body.message} [${body.code}]\n`);
    if (!(err instanceof BlockrigError) && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  }
  return mapping.exit;
}
