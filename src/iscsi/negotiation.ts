/**
 * Operational text negotiation (RFC 7143 6.2, 13). The initiator offers its values; the target answers each
 * with the negotiated result, may offer keys of its own (which the initiator answers in its next request),
 * and may take as many rounds as it likes. `Negotiator` keeps the state across rounds and checks that every
 * answer obeys the key's result function, so a target cannot, say, raise MaxBurstLength above our offer.
 */
import { IscsiLoginError } from '../errors.js';
import type { TextPair } from './text.js';

/** The negotiated parameters the full feature phase obeys. */
export interface SessionParameters {
  /** Largest data segment we may send (the target's declared MaxRecvDataSegmentLength). */
  targetMaxRecvDataSegmentLength: number;
  /** Largest data segment the target may send us (what we declared). */
  initiatorMaxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  dataPduInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  /** Declarations of the target, for display (TargetAlias, TargetPortalGroupTag). */
  targetDeclarations: Record<string, string>;
}

type Kind = 'or' | 'and' | 'min' | 'max' | 'none-only';

interface KeySpec {
  kind: Kind;
  field?: keyof SessionParameters;
  min?: number;
  max?: number;
}

/** Result functions and defaults of RFC 7143 section 13. */
const KEYS: Record<string, KeySpec> = {
  HeaderDigest: { kind: 'none-only' },
  DataDigest: { kind: 'none-only' },
  MaxConnections: { kind: 'min', min: 1, max: 65535 },
  InitialR2T: { kind: 'or', field: 'initialR2T' },
  ImmediateData: { kind: 'and', field: 'immediateData' },
  MaxBurstLength: { kind: 'min', field: 'maxBurstLength', min: 512, max: 0xffffff },
  FirstBurstLength: { kind: 'min', field: 'firstBurstLength', min: 512, max: 0xffffff },
  DefaultTime2Wait: { kind: 'max', field: 'defaultTime2Wait', min: 0, max: 3600 },
  DefaultTime2Retain: { kind: 'min', field: 'defaultTime2Retain', min: 0, max: 3600 },
  MaxOutstandingR2T: { kind: 'min', field: 'maxOutstandingR2T', min: 1, max: 65535 },
  DataPDUInOrder: { kind: 'or', field: 'dataPduInOrder' },
  DataSequenceInOrder: { kind: 'or', field: 'dataSequenceInOrder' },
  ErrorRecoveryLevel: { kind: 'min', field: 'errorRecoveryLevel', min: 0, max: 2 },
};

/** Keys the target declares (no answer expected). */
const DECLARATIVE = new Set(['TargetAlias', 'TargetPortalGroupTag', 'TargetAddress', 'MaxRecvDataSegmentLength', 'TaskReporting']);

/** What blockrig offers. ErrorRecoveryLevel 0: a failed connection fails its tasks and the session is redone. */
export interface InitiatorOffer {
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
}

/** The offer used unless a caller (a test, a benchmark) changes it. */
export const DEFAULT_OFFER: InitiatorOffer = {
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 262144,
  initialR2T: false,
  immediateData: true,
};

/** Negotiation state across login rounds. */
export class Negotiator {
  readonly #offered = new Map<string, string>();
  readonly #params: SessionParameters;

  constructor(private readonly offer: InitiatorOffer = DEFAULT_OFFER) {
    this.#params = {
      targetMaxRecvDataSegmentLength: 8192,
      initiatorMaxRecvDataSegmentLength: offer.maxRecvDataSegmentLength,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      initialR2T: true,
      immediateData: true,
      maxOutstandingR2T: 1,
      dataPduInOrder: true,
      dataSequenceInOrder: true,
      errorRecoveryLevel: 0,
      defaultTime2Wait: 2,
      defaultTime2Retain: 20,
      targetDeclarations: {},
    };
  }

  /** The operational keys of our first operational-stage request. */
  firstOffer(): TextPair[] {
    const o = this.offer;
    const pairs: [string, string][] = [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['MaxConnections', '1'],
      ['InitialR2T', yesNo(o.initialR2T)],
      ['ImmediateData', yesNo(o.immediateData)],
      ['MaxRecvDataSegmentLength', String(o.maxRecvDataSegmentLength)],
      ['MaxBurstLength', String(o.maxBurstLength)],
      ['FirstBurstLength', String(o.firstBurstLength)],
      ['DefaultTime2Wait', '0'],
      ['DefaultTime2Retain', '0'],
      ['MaxOutstandingR2T', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['ErrorRecoveryLevel', '0'],
    ];
    for (const [key, value] of pairs) if (key !== 'MaxRecvDataSegmentLength') this.#offered.set(key, value);
    return pairs.map(([key, value]) => ({ key, value }));
  }

  /** Takes the target's pairs of one round; returns our answers to keys the target offered. */
  absorb(pairs: readonly TextPair[]): TextPair[] {
    const answers: TextPair[] = [];
    for (const { key, value } of pairs) {
      if (key === 'MaxRecvDataSegmentLength') {
        this.#params.targetMaxRecvDataSegmentLength = parseNumber(key, value, 512, 0xffffff);
        continue;
      }
      if (DECLARATIVE.has(key)) {
        this.#params.targetDeclarations[key] = value;
        continue;
      }
      const spec = KEYS[key];
      const ours = this.#offered.get(key);
      if (spec === undefined) {
        // A key we do not know (a vendor key, or one for another session type): say so, as RFC 7143 6.2 asks.
        if (!key.startsWith('X-') && !key.startsWith('X#')) answers.push({ key, value: 'NotUnderstood' });
        continue;
      }
      // The target refused or ignored our offer: the key keeps its RFC 7143 default.
      if (value === 'Reject' || value === 'Irrelevant' || value === 'NotUnderstood') continue;
      if (ours !== undefined) {
        this.#offered.delete(key);
        this.#accept(key, spec, value, ours);
      } else {
        const answer = this.#answer(key, spec, value);
        answers.push({ key, value: answer });
        this.#accept(key, spec, answer, answer);
      }
    }
    return answers;
  }

  /** The negotiated parameters (defaults for anything the target left out). */
  result(): SessionParameters {
    const p = { ...this.#params, targetDeclarations: { ...this.#params.targetDeclarations } };
    if (p.firstBurstLength > p.maxBurstLength) p.firstBurstLength = p.maxBurstLength;
    return p;
  }

  /** Our answer to a key the target offered first. */
  #answer(key: string, spec: KeySpec, value: string): string {
    const o = this.offer;
    switch (spec.kind) {
      case 'none-only':
        if (!value.split(',').includes('None')) throw new IscsiLoginError(`the target requires ${key}=${value}; blockrig supports only None`);
        return 'None';
      case 'or':
      case 'and': {
        const theirs = parseBoolean(key, value);
        const mine = key === 'InitialR2T' ? o.initialR2T : key === 'ImmediateData' ? o.immediateData : true;
        return yesNo(spec.kind === 'or' ? theirs || mine : theirs && mine);
      }
      case 'min': {
        const theirs = parseNumber(key, value, spec.min ?? 0, spec.max ?? 0xffffffff);
        const mine = key === 'MaxBurstLength' ? o.maxBurstLength : key === 'FirstBurstLength' ? o.firstBurstLength : key === 'ErrorRecoveryLevel' ? 0 : key === 'DefaultTime2Retain' ? 0 : 1;
        return String(Math.min(theirs, mine));
      }
      case 'max':
        return String(Math.max(parseNumber(key, value, spec.min ?? 0, spec.max ?? 0xffffffff), 0));
    }
  }

  /** Records a result after checking it obeys the result function against what we offered. */
  #accept(key: string, spec: KeySpec, value: string, ours: string): void {
    switch (spec.kind) {
      case 'none-only':
        if (value !== 'None') throw new IscsiLoginError(`the target answered ${key}=${value}; blockrig offered only None`);
        return;
      case 'or':
      case 'and': {
        const result = parseBoolean(key, value);
        const offered = parseBoolean(key, ours);
        if (spec.kind === 'or' && offered && !result) throw new IscsiLoginError(`the target answered ${key}=No to our Yes; the OR function forbids it (RFC 7143 6.2.1)`);
        if (spec.kind === 'and' && !offered && result) throw new IscsiLoginError(`the target answered ${key}=Yes to our No; the AND function forbids it (RFC 7143 6.2.1)`);
        if (spec.field !== undefined) (this.#params[spec.field] as boolean) = result;
        return;
      }
      case 'min':
      case 'max': {
        const result = parseNumber(key, value, spec.min ?? 0, spec.max ?? 0xffffffff);
        const offered = Number(ours);
        if (spec.kind === 'min' && result > offered) throw new IscsiLoginError(`the target answered ${key}=${result}, above our offer of ${offered}`);
        if (spec.kind === 'max' && result < offered) throw new IscsiLoginError(`the target answered ${key}=${result}, below our offer of ${offered}`);
        if (key === 'MaxConnections' && result !== 1) throw new IscsiLoginError(`the target answered MaxConnections=${result}; blockrig uses one connection`);
        if (key === 'ErrorRecoveryLevel' && result !== 0) throw new IscsiLoginError(`the target answered ErrorRecoveryLevel=${result}; blockrig implements level 0`);
        if (spec.field !== undefined) (this.#params[spec.field] as number) = result;
        return;
      }
    }
  }
}

function yesNo(value: boolean): string {
  return value ? 'Yes' : 'No';
}

function parseBoolean(key: string, value: string): boolean {
  if (value === 'Yes') return true;
  if (value === 'No') return false;
  throw new IscsiLoginError(`the target sent ${key}=${value}; expected Yes or No`, { details: { key, value } });
}

/** Parses a decimal or 0x-hex number (RFC 7143 5.1) within bounds. */
export function parseNumber(key: string, value: string, min: number, max: number): number {
  const n = /^0x[0-9a-f]+$/i.test(value) ? Number.parseInt(value.slice(2), 16) : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new IscsiLoginError(`the target sent ${key}=${value}; expected a number in ${min}..${max}`, { details: { key, value } });
  }
  return n;
}
