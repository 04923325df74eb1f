/**
 * Fault rules: what the fault driver (`fault.ts`) injects, validated with zod because rules arrive from
 * outside (HIL scenario YAML, the CLI, the harness at run time). Each rule names a kind, the operations
 * and byte range it applies to, and how often it fires; decisions draw from a seeded PRNG so that a
 * scenario replays the same faults on the same request sequence.
 *
 * Kinds (see `docs/drivers.md`, "Fault rules"):
 * - `error`: the request fails with `DeviceIoError` (errno, default EIO) and does nothing.
 * - `latency`: the request waits `ms` (plus up to `jitterMs`, plus its length / `bytesPerSecond`) on the
 *   device's clock first.
 * - `offline`: the device goes offline (availability event) and this and every later request fails with
 *   `DeviceUnavailableError`, until `durationMs` passes or `setOffline(false)` is called.
 * - `torn-write`: only the first `keepBytes` (rounded down to whole logical blocks) of a write land, then
 *   it fails with `DeviceIoError` EIO, as a power cut mid-write does; with `offline: true` the device then
 *   stays offline, as the drive that lost its power does.
 *
 * A device that listens on a control channel (`fault-control.ts`) tells every other opener when a rule
 * takes it offline (an `offline` rule, a torn write with `offline`): a drive that is gone is gone for
 * every process that uses it.
 * - `bitflip`: `bits` random bits flip silently in the part of the request inside the range, in the data
 *   returned (`on: read`, the medium keeps the good data) or in the data stored (`on: write`).
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../src/errors.js';

/** Operations a rule can match. */
export const FAULT_OPS = ['read', 'write', 'flush', 'trim', 'writeZeroes'] as const;
/** One operation. */
export type FaultOp = (typeof FAULT_OPS)[number];

const byteCount = z.number().int().nonnegative();
const common = {
  /** Chosen by the caller or assigned (`rule-1`, `rule-2`...). */
  id: z.string().min(1).optional(),
  /** Operations it applies to; default: every operation its kind makes sense for. */
  ops: z.array(z.enum(FAULT_OPS)).min(1).optional(),
  /** Start of the byte range it applies to (requests overlapping the range match). Default 0. */
  offset: byteCount.optional(),
  /** Length of the range; default: to the end of the device. */
  length: byteCount.optional(),
  /** Probability that a matching request triggers it, 0..1. Default 1. */
  rate: z.number().min(0).max(1).optional(),
  /** Matching requests to let through before it starts firing. Default 0. */
  after: byteCount.optional(),
  /** Fire at most this many times, then stay inert. Default: no limit. */
  count: z.number().int().positive().optional(),
};

/** A fault rule as written by a caller (JSON, YAML). */
export const faultRuleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('error'), errno: z.string().regex(/^E[A-Z0-9]+$/).optional(), ...common }).strict(),
  z
    .object({
      kind: z.literal('latency'),
      ms: z.number().nonnegative(),
      jitterMs: z.number().nonnegative().optional(),
      /** A slow link: the request also waits its length divided by this (bytes per second). */
      bytesPerSecond: z.number().positive().optional(),
      ...common,
    })
    .strict(),
  z.object({ kind: z.literal('offline'), durationMs: z.number().positive().optional(), reason: z.string().optional(), ...common }).strict(),
  z
    .object({
      kind: z.literal('torn-write'),
      keepBytes: byteCount,
      /** The drive lost its power: after the torn write it goes offline (for every opener, see below). */
      offline: z.boolean().optional(),
      ...common,
    })
    .strict(),
  z.object({ kind: z.literal('bitflip'), on: z.enum(['read', 'write']), bits: z.number().int().positive().optional(), ...common }).strict(),
]);

/** A fault rule as accepted by `addRule` and the `faultRules` open option. */
export type FaultRuleInput = z.input<typeof faultRuleSchema>;
/** A validated rule. */
export type FaultRule = z.output<typeof faultRuleSchema> & { readonly id: string };

/** Operations each kind applies to unless `ops` says otherwise. */
const DEFAULT_OPS: Record<FaultRule['kind'], readonly FaultOp[]> = {
  error: ['read', 'write', 'flush', 'trim', 'writeZeroes'],
  latency: ['read', 'write', 'flush', 'trim', 'writeZeroes'],
  offline: ['read', 'write', 'flush', 'trim', 'writeZeroes'],
  'torn-write': ['write'],
  bitflip: ['read', 'write'],
};

/** Validates a rule; a bad one throws `InvalidArgumentError` naming the field and the value. */
export function parseFaultRule(input: unknown, id: string): FaultRule {
  const result = faultRuleSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new InvalidArgumentError(`fault rule ${id}: ${field === '' ? '' : `${field}: `}${issue?.message ?? 'invalid'} (got ${JSON.stringify(input)})`, {
      details: { field: `faultRules.${field}`, rule: id },
    });
  }
  const rule = { ...result.data, id: result.data.id ?? id };
  if (rule.kind === 'bitflip' && rule.ops === undefined) return { ...rule, ops: [rule.on] };
  return rule;
}

/** A rule with its run-time counters. */
export class ActiveRule {
  readonly rule: FaultRule;
  /** Matching requests seen. */
  matched = 0;
  /** Times it fired. */
  fired = 0;

  constructor(rule: FaultRule) {
    this.rule = rule;
  }

  /**
   * True when `op` on [offset, offset+length) is within this rule's scope. A flush has no range: it
   * matches a rule without one, or a ranged rule that names `flush` in `ops` (so that a bad-sector rule
   * does not fail every flush).
   */
  matches(op: FaultOp, offset: number, length: number): boolean {
    if (!(this.rule.ops ?? DEFAULT_OPS[this.rule.kind]).includes(op)) return false;
    // `on` decides where a bit flip happens; `ops` cannot move it to other operations.
    if (this.rule.kind === 'bitflip' && op !== this.rule.on) return false;
    if (this.rule.kind === 'torn-write' && op !== 'write') return false;
    if (op === 'flush') return this.rule.ops !== undefined || (this.rule.offset === undefined && this.rule.length === undefined);
    const start = this.rule.offset ?? 0;
    const end = this.rule.length === undefined ? Infinity : start + this.rule.length;
    return offset < end && offset + Math.max(length, 1) > start;
  }

  /** Counts a matching request and decides whether the rule fires on it. */
  decide(random: () => number): boolean {
    this.matched++;
    if (this.matched <= (this.rule.after ?? 0)) return false;
    if (this.rule.count !== undefined && this.fired >= this.rule.count) return false;
    const rate = this.rule.rate ?? 1;
    if (rate < 1 && random() >= rate) return false;
    this.fired++;
    return true;
  }

  /** The overlap of [offset, offset+length) with the rule's range, relative to `offset`. */
  overlap(offset: number, length: number): { start: number; end: number } {
    const start = Math.max(0, (this.rule.offset ?? 0) - offset);
    const end = this.rule.length === undefined ? length : Math.min(length, (this.rule.offset ?? 0) + this.rule.length - offset);
    return { start, end: Math.max(start, end) };
  }
}

