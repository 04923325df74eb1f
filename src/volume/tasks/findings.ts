/**
 * How volume tasks report what they found: mismatched stripes and unreadable ranges, listed up to a cap
 * with the total count, since a task's result and the volume table's intent record each live in one
 * 4096-byte metadata block.
 */
import type { Mismatch } from '../maintenance.js';
import type { BadBlock } from '../member.js';
import type { StripeFinding } from '../volume-table.js';

/** Stripes listed in a scrub task's result (the rest are counted). */
export const RESULT_STRIPES = 16;
/** Stripes kept with the last scrub in the volume table (for `volume status`). */
export const STATUS_STRIPES = 8;
/** Bytes of JSON a listing may take in a task result. */
const RESULT_LIST_BYTES = 1800;

/** The stored form of a mismatch. */
export function stripeFinding(m: Mismatch): StripeFinding {
  return { row: m.row, kind: m.kind, offset: m.memberOffset, length: m.length, members: [...m.members], repaired: m.repaired };
}

/** The first `cap` stripes, fewer when their JSON would pass the byte budget. */
export function capStripes(stripes: readonly StripeFinding[], cap = RESULT_STRIPES): StripeFinding[] {
  const out = stripes.slice(0, cap);
  while (out.length > 0 && JSON.stringify(out).length > RESULT_LIST_BYTES) out.pop();
  return out;
}

/** Sorts ranges and merges touching or overlapping ones. */
export function mergeRanges(ranges: readonly BadBlock[]): BadBlock[] {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const out: BadBlock[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) {
      out[out.length - 1] = { offset: last.offset, length: Math.max(last.length, r.offset + r.length - last.offset) };
    } else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

/** One line per stripe, for action lines and logs: "row 12 p member 3 [786432+4096] repaired". */
export function describeStripe(s: StripeFinding): string {
  return `row ${s.row} ${s.kind} member ${s.members.join(',') || '-'} [${s.offset}+${s.length}]${s.repaired ? ' repaired' : ''}`;
}
