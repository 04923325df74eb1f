/**
 * SendTargets discovery (RFC 7143 appendix C): a discovery session asks a portal which targets it offers
 * and at which addresses, then logs out. The answer may span several Text Responses (C bit), each fetched
 * with an empty Text Request that echoes the target's transfer tag.
 */
import type { Clock } from '../clock.js';
import { IscsiProtocolError } from '../errors.js';
import { IscsiConnection } from './connection.js';
import { login } from './login.js';
import { encodePdu, InitiatorOpcode, opcodeName, RESERVED_TAG, TargetOpcode } from './pdu.js';
import { decodeText, encodeText } from './text.js';

/** One target a portal offers. */
export interface DiscoveredTarget {
  name: string;
  /** `host:port,portal-group-tag` as the target wrote them. */
  addresses: string[];
}

/** Where and how to ask. */
export interface DiscoveryOptions {
  host: string;
  port: number;
  initiatorName: string;
  timeoutMs: number;
  chap?: { user: string; secret: string };
}

/** Most Text Responses one answer may take before we stop asking. */
const MAX_CONTINUATIONS = 64;

/** Lists the targets of a portal. */
export async function discoverTargets(options: DiscoveryOptions, clock: Clock): Promise<DiscoveredTarget[]> {
  const conn = await IscsiConnection.open(options.host, options.port, clock, options.timeoutMs);
  try {
    const session = await login(conn, { initiatorName: options.initiatorName, timeoutMs: options.timeoutMs, ...(options.chap && { chap: options.chap }) });
    let cmdSn = session.cmdSn;
    let expStatSn = session.expStatSn;
    let ttt = RESERVED_TAG;
    let text = Buffer.alloc(0);
    const itt = 1;
    for (let round = 0; ; round++) {
      if (round === MAX_CONTINUATIONS) throw new IscsiProtocolError(`the target's SendTargets answer did not end within ${MAX_CONTINUATIONS} Text Responses`);
      const data = round === 0 ? encodeText([{ key: 'SendTargets', value: 'All' }]) : undefined;
      conn.send(encodePdu({ opcode: InitiatorOpcode.TextRequest, flags: 0x80, itt, words: { 20: ttt, 24: cmdSn, 28: expStatSn }, ...(data && { data }) }));
      cmdSn = (cmdSn + 1) >>> 0;
      const pdu = await conn.receive(options.timeoutMs, 'text response');
      if (pdu.opcode === TargetOpcode.Reject) throw new IscsiProtocolError(`the target rejected the SendTargets request (reason 0x${pdu.u8(2).toString(16)})`);
      if (pdu.opcode !== TargetOpcode.TextResponse || pdu.itt !== itt) {
        throw new IscsiProtocolError(`the target answered SendTargets with ${opcodeName(pdu.opcode)} for ITT 0x${pdu.itt.toString(16)}`);
      }
      expStatSn = (pdu.u32(24) + 1) >>> 0;
      text = Buffer.concat([text, pdu.data]);
      if (text.length > 1 << 20) throw new IscsiProtocolError('the target sent more than 1 MiB of SendTargets text');
      if ((pdu.flags & 0x40) === 0) break;
      ttt = pdu.u32(20);
    }
    conn.send(encodePdu({ opcode: InitiatorOpcode.LogoutRequest, immediate: true, flags: 0x80, itt: itt + 1, words: { 24: cmdSn, 28: expStatSn } }));
    await conn.receive(options.timeoutMs, 'logout response').catch(() => undefined);
    return parseSendTargets(text);
  } finally {
    conn.destroy();
  }
}

/** Groups `TargetName`/`TargetAddress` pairs: each address belongs to the name before it. */
export function parseSendTargets(text: Buffer): DiscoveredTarget[] {
  const targets: DiscoveredTarget[] = [];
  for (const { key, value } of decodeText(text, true)) {
    if (key === 'TargetName') targets.push({ name: value, addresses: [] });
    else if (key === 'TargetAddress') {
      const current = targets.at(-1);
      if (current === undefined) throw new IscsiProtocolError(`the target sent TargetAddress=${value} before any TargetName`);
      current.addresses.push(value);
    }
  }
  return targets;
}
