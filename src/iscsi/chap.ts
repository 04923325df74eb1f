/**
 * CHAP authentication for iSCSI login (RFC 7143 12.1.3, RFC 1994): the target sends an identifier and a
 * challenge; the initiator answers MD5(identifier || secret || challenge). Only the MD5 algorithm (CHAP_A=5)
 * is offered, which is what tgt and libiscsi use. One-way only: blockrig does not authenticate the target.
 */
import { createHash } from 'node:crypto';
import { IscsiLoginError } from '../errors.js';
import type { TextPair } from './text.js';

/** CHAP_A value for MD5. */
export const CHAP_MD5 = '5';

/** Decodes a CHAP binary value: `0x` hex or `0b` base64 (RFC 7143 5.1). */
export function decodeChapBinary(key: string, value: string): Buffer {
  if (/^0x([0-9a-f]{2})+$/i.test(value)) return Buffer.from(value.slice(2), 'hex');
  if (/^0x[0-9a-f]+$/i.test(value)) return Buffer.from(`0${value.slice(2)}`, 'hex');
  if (/^0b[A-Za-z0-9+/=]+$/.test(value)) return Buffer.from(value.slice(2), 'base64');
  throw new IscsiLoginError(`the target sent ${key}=${value.slice(0, 40)}, which is not a hex or base64 CHAP value`);
}

/** The CHAP response to one challenge. */
export function chapResponse(identifier: number, secret: string, challenge: Buffer): Buffer {
  return createHash('md5').update(Buffer.from([identifier])).update(Buffer.from(secret, 'utf8')).update(challenge).digest();
}

/** Builds our CHAP_N/CHAP_R answer from the target's CHAP_A/CHAP_I/CHAP_C pairs. */
export function answerChallenge(pairs: readonly TextPair[], user: string, secret: string): TextPair[] {
  const get = (key: string): string | undefined => pairs.find((p) => p.key === key)?.value;
  const algorithm = get('CHAP_A');
  const id = get('CHAP_I');
  const challenge = get('CHAP_C');
  if (algorithm !== CHAP_MD5) throw new IscsiLoginError(`the target chose CHAP_A=${algorithm ?? '(none)'}; blockrig offers only MD5 (5)`);
  if (id === undefined || challenge === undefined) throw new IscsiLoginError('the target sent a CHAP challenge without CHAP_I or CHAP_C');
  const identifier = Number(id);
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) throw new IscsiLoginError(`the target sent CHAP_I=${id}; expected 0..255`);
  const challengeBytes = decodeChapBinary('CHAP_C', challenge);
  if (challengeBytes.length === 0 || challengeBytes.length > 1024) throw new IscsiLoginError(`the target sent a CHAP challenge of ${challengeBytes.length} bytes`);
  return [
    { key: 'CHAP_N', value: user },
    { key: 'CHAP_R', value: `0x${chapResponse(identifier, secret, challengeBytes).toString('hex')}` },
  ];
}
