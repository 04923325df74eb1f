/**
 * Loads scenario files: parses the YAML keeping node positions, validates with `scenarioSchema`, and turns
 * every zod issue into "file:line:column: field: message" so the author is sent to the exact line. The
 * positions are kept with the scenario, so that a failing expectation in a report can point at the line
 * of the expectation that failed.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { scenarioSchema, type Scenario } from './schema.js';

/** A place in a scenario file. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** One problem found in a scenario file. */
export interface ScenarioProblem extends SourcePosition {
  /** Dotted path of the field ("faults.2.device"); empty for the whole document. */
  readonly field: string;
  readonly message: string;
}

/** A validated scenario and where each of its fields is written. */
export interface LoadedScenario {
  readonly file: string;
  readonly scenario: Scenario;
  /** Position of the field at `path`, or of its nearest written ancestor. */
  positionOf(path: readonly (string | number)[]): SourcePosition;
}

/** Result of checking one file without throwing. */
export type CheckResult = { readonly ok: true; readonly loaded: LoadedScenario } | { readonly ok: false; readonly problems: readonly ScenarioProblem[] };

/** Parses and validates YAML text; never throws for a bad scenario. */
export function checkScenarioText(text: string, file: string): CheckResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number): SourcePosition => {
    const { line, col } = lines.linePos(offset);
    return { file, line, column: col };
  };
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((e) => ({ ...position(e.pos[0]), field: '', message: e.message.split('\n')[0] ?? e.message })) };
  }
  const positionOf = (path: readonly (string | number)[]): SourcePosition => position(offsetOf(doc, path));
  const parsed = scenarioSchema.safeParse(doc.toJS());
  if (parsed.success) return { ok: true, loaded: { file, scenario: parsed.data, positionOf } };
  return { ok: false, problems: parsed.error.issues.map((issue) => problemOf(issue, doc, position)) };
}

/** Loads a scenario file; a bad one throws ConfigError listing every problem with its line. */
export function loadScenario(file: string): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read scenario ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
  const result = checkScenarioText(text, file);
  if (result.ok) return result.loaded;
  throw new ConfigError(`scenario ${basename(file)} is invalid:\n${result.problems.map(formatProblem).join('\n')}`, {
    details: { file, problems: result.problems },
  });
}

/** "file:line:column: field: message", the form editors and CI annotations understand. */
export function formatProblem(p: ScenarioProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.field === '' ? '' : `${p.field}: `}${p.message}`;
}

function problemOf(issue: z.core.$ZodIssue, doc: Document, position: (offset: number) => SourcePosition): ScenarioProblem {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const positionOf = (p: readonly (string | number)[]): SourcePosition => position(offsetOf(doc, p));
  if (issue.code === 'unrecognized_keys') {
    // Point at the unknown key itself, not at the object holding it.
    const key = issue.keys[0] ?? '';
    const offset = keyOffset(doc, path, key);
    const field = [...path, key].join('.');
    const known = offset === undefined ? positionOf(path) : position(offset);
    return { ...known, field, message: `unknown field "${key}"${issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(', ')})` : ''}` };
  }
  const value = doc.getIn(path);
  const got = value === undefined ? ' (missing)' : isPrimitive(value) ? ` (got ${JSON.stringify(value)})` : '';
  return { ...positionOf(path), field: path.join('.'), message: `${issue.message}${got}` };
}

function isPrimitive(v: unknown): boolean {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/** Offset of the node at `path`, or of the deepest ancestor present (a missing field points at its parent). */
function offsetOf(doc: Document, path: readonly (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node !== undefined && node !== null && typeof node === 'object' && 'range' in node && node.range) {
      if (n < path.length) {
        // The parent exists but the field does not: its own key is the better place to point at.
        const keyAt = n > 0 ? keyOffset(doc, path.slice(0, n - 1), path[n - 1] ?? '') : undefined;
        return keyAt ?? node.range[0];
      }
      return keyOffset(doc, path.slice(0, -1), path[path.length - 1] ?? '') ?? node.range[0];
    }
  }
  return 0;
}

/** Offset of the key `key` inside the map at `path` (for a sequence, of item `key`). */
function keyOffset(doc: Document, path: readonly (string | number)[], key: string | number): number | undefined {
  const parent = path.length === 0 ? doc.contents : (doc.getIn(path, true));
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
    return isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
  }
  if (isSeq(parent) && typeof key === 'number') {
    const item = parent.items[key] as Node | undefined;
    return item?.range?.[0];
  }
  return undefined;
}
