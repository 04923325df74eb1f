/**
 * What the controller processes' audit files (`blockrig controller run --audit FILE`: one JSON line per
 * claim, release, partition start and end) say about a task: which claims a controller holds, and which
 * chunks were claimed by more than one controller incarnation, that is taken over from a holder that died
 * or stalled (a chunk is claimed again only then).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { AuditRecord } from '../../src/controller/events.js';

/** The records of one audit file; a line cut short by SIGKILL is skipped. */
export function readAudit(file: string): AuditRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as AuditRecord];
      } catch {
        return [];
      }
    });
}

/** Chunks of task `taskId` claimed and not yet released, in one controller's records. */
export function claimsHeld(records: readonly AuditRecord[], taskId: string): number {
  const held = new Set<number>();
  for (const r of records) {
    if (r.type === 'claimed' && r.taskId === taskId) held.add(r.chunk);
    if (r.type === 'released' && r.taskId === taskId) held.delete(r.chunk);
  }
  return held.size;
}

/** Claims that took a chunk (of any task) another controller incarnation had claimed before: reclaims. */
export function reclaims(records: readonly AuditRecord[]): Extract<AuditRecord, { type: 'claimed' }>[] {
  const holders = new Map<string, Set<string>>();
  const out: Extract<AuditRecord, { type: 'claimed' }>[] = [];
  for (const r of [...records].sort((a, b) => a.at - b.at)) {
    if (r.type !== 'claimed') continue;
    const key = `${r.taskId}/${r.chunk}`;
    const incarnation = `${r.controller}/${r.incarnation}`;
    const set = holders.get(key) ?? new Set<string>();
    if (set.size > 0 && !set.has(incarnation)) out.push(r);
    set.add(incarnation);
    holders.set(key, set);
  }
  return out;
}

/** Chunks (of any task) claimed by more than one controller incarnation, over every controller's records. */
export function reclaimedChunks(records: readonly AuditRecord[]): number {
  return new Set(reclaims(records).map((r) => `${r.taskId}/${r.chunk}`)).size;
}
