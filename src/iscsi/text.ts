/**
 * iSCSI text: `key=value` pairs, each ended by a NUL byte (RFC 7143 6.1), as carried by Login and Text
 * PDUs. Order matters to the target (it answers in order), so pairs are kept as an ordered list.
 */
import { IscsiProtocolError } from '../errors.js';

/** One `key=value` pair. */
export interface TextPair {
  readonly key: string;
  readonly value: string;
}

/** Largest key (RFC 7143 6.1: 63 bytes) and value (8192 bytes for most keys; CHAP_C may be longer). */
const MAX_KEY = 63;
const MAX_VALUE = 65536;

/** Encodes pairs as NUL-terminated `key=value` strings. */
export function encodeText(pairs: readonly TextPair[]): Buffer {
  return Buffer.from(pairs.map((p) => `${p.key}=${p.value}\0`).join(''), 'utf8');
}

/**
 * Decodes a text data segment. Trailing NUL padding is allowed; a pair without `=`, an over-long key or
 * value, or a key given twice is a protocol error naming the offending text. SendTargets answers repeat
 * TargetName and TargetAddress by design (RFC 7143 appendix C), so they may pass `allowRepeats`.
 */
export function decodeText(data: Buffer, allowRepeats = false): TextPair[] {
  const pairs: TextPair[] = [];
  const seen = new Set<string>();
  for (const item of data.toString('utf8').split('\0')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new IscsiProtocolError(`the target sent text "${clip(item)}", which is not key=value (RFC 7143 6.1)`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key.length > MAX_KEY || value.length > MAX_VALUE) throw new IscsiProtocolError(`the target sent an over-long text key or value for "${clip(key)}"`);
    if (!allowRepeats && seen.has(key)) throw new IscsiProtocolError(`the target sent the key ${clip(key)} twice in one text exchange (RFC 7143 6.2)`);
    seen.add(key);
    pairs.push({ key, value });
  }
  return pairs;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
