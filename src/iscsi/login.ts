/**
 * The login phase (RFC 7143 6.3, 11.12, 11.13): security negotiation (AuthMethod None, or CHAP when a user
 * and secret are given), then operational negotiation, over as many request/response rounds as the target
 * wants, including text split across PDUs with the C (continue) bit. Ends in the full feature phase with the
 * negotiated parameters and the sequence numbers the session continues from.
 */
import { randomBytes } from 'node:crypto';
import { IscsiLoginError, IscsiProtocolError } from '../errors.js';
import { answerChallenge, CHAP_MD5 } from './chap.js';
import type { IscsiConnection } from './connection.js';
import { Negotiator, type InitiatorOffer, type SessionParameters } from './negotiation.js';
import { encodePdu, InitiatorOpcode, opcodeName, TargetOpcode, type Pdu } from './pdu.js';
import { decodeText, encodeText, type TextPair } from './text.js';

/** Login stages (CSG/NSG values). */
const Stage = { Security: 0, Operational: 1, FullFeature: 3 } as const;

/** Most request/response rounds a login may take before we give up on the target. */
const MAX_ROUNDS = 32;

/** What the login needs. */
export interface LoginOptions {
  initiatorName: string;
  /** The target to log in to; absent for a discovery session (SendTargets). */
  targetName?: string;
  /** CHAP user and secret; without them AuthMethod=None is offered. */
  chap?: { user: string; secret: string };
  offer?: InitiatorOffer;
  /** Timeout per response, in milliseconds of the connection's clock. */
  timeoutMs: number;
  /** The first CmdSN of the session. */
  cmdSn?: number;
}

/** The outcome of a successful login. */
export interface LoginResult {
  params: SessionParameters;
  tsih: number;
  isid: Buffer;
  /** The CmdSN the first command carries. */
  cmdSn: number;
  /** The StatSN we expect next. */
  expStatSn: number;
  expCmdSn: number;
  maxCmdSn: number;
  /** The authentication method the target chose. */
  authMethod: string;
}

/** Human words for login status class/detail (RFC 7143 11.13.5). */
const STATUS_TEXT: Record<number, string> = {
  0x0101: 'the target moved temporarily (redirection is not supported by blockrig)',
  0x0102: 'the target moved permanently (redirection is not supported by blockrig)',
  0x0200: 'initiator error',
  0x0201: 'authentication failed: check the user and password in the URI',
  0x0202: 'authorization failed: the target does not allow this initiator (check its ACL)',
  0x0203: 'the target was not found: check the IQN',
  0x0204: 'the target was removed',
  0x0205: 'unsupported iSCSI version',
  0x0206: 'too many connections',
  0x0207: 'a required login parameter is missing',
  0x020a: 'the session does not exist',
  0x020b: 'invalid request during login',
  0x0300: 'target error',
  0x0301: 'the target service is unavailable',
  0x0302: 'the target is out of resources',
};

/** Runs the login on a fresh connection. */
export async function login(conn: IscsiConnection, options: LoginOptions): Promise<LoginResult> {
  const negotiator = new Negotiator(options.offer);
  const isid = Buffer.concat([Buffer.from([0x80]), randomBytes(3), Buffer.from([0, 0])]);
  const itt = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
  const cmdSn = options.cmdSn ?? 1;
  let expStatSn = 0;
  let csg: number = Stage.Security;
  let authMethod = 'None';
  let pending: TextPair[] = [
    { key: 'InitiatorName', value: options.initiatorName },
    ...(options.targetName === undefined ? [] : [{ key: 'TargetName', value: options.targetName }]),
    { key: 'SessionType', value: options.targetName === undefined ? 'Discovery' : 'Normal' },
    { key: 'AuthMethod', value: options.chap ? 'CHAP,None' : 'None' },
  ];
  let transit = options.chap === undefined;
  let offeredOperational = false;

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const nsg = csg === Stage.Security ? Stage.Operational : Stage.FullFeature;
    const send = (pairs: TextPair[], t: boolean): void => {
      const flags = (t ? 0x80 : 0) | (csg << 2) | (t ? nsg : 0);
      const lunField = Buffer.alloc(8);
      isid.copy(lunField, 0);
      conn.send(encodePdu({ opcode: InitiatorOpcode.LoginRequest, immediate: true, flags, itt, lun: lunField, words: { 20: 0, 24: cmdSn, 28: expStatSn }, data: encodeText(pairs) }));
    };
    send(pending, transit);
    // Gather one response, which may span several PDUs (C bit): each continuation is asked for with an empty request.
    let text = Buffer.alloc(0);
    let response: Pdu;
    for (;;) {
      response = await conn.receive(options.timeoutMs, 'login response');
      checkResponse(response, itt);
      expStatSn = (response.u32(24) + 1) >>> 0;
      text = Buffer.concat([text, response.data]);
      if ((response.flags & 0x40) === 0) break;
      if (text.length > 1 << 20) throw new IscsiProtocolError('the target sent more than 1 MiB of login text');
      send([], false);
    }
    const pairs = decodeText(text);
    const targetTransit = (response.flags & 0x80) !== 0;
    const responseCsg = (response.flags >> 2) & 3;
    if (responseCsg !== csg) throw new IscsiProtocolError(`the target answered a login request of stage ${csg} in stage ${responseCsg}`);

    pending = [];
    transit = true;
    if (csg === Stage.Security) {
      const chosen = pairs.find((p) => p.key === 'AuthMethod')?.value;
      if (chosen !== undefined) authMethod = chosen;
      if (chosen === 'CHAP') {
        if (!options.chap) throw new IscsiLoginError('the target chose CHAP authentication, but the URI carries no user and password');
        pending = [{ key: 'CHAP_A', value: CHAP_MD5 }];
        transit = false;
      } else if (chosen !== undefined && chosen !== 'None') {
        throw new IscsiLoginError(`the target chose AuthMethod=${chosen}; blockrig offers CHAP and None`);
      }
      if (pairs.some((p) => p.key === 'CHAP_C')) {
        if (!options.chap) throw new IscsiLoginError('the target sent a CHAP challenge, but the URI carries no user and password');
        pending = answerChallenge(pairs, options.chap.user, options.chap.secret);
      }
      negotiator.absorb(pairs.filter((p) => !p.key.startsWith('CHAP_') && p.key !== 'AuthMethod'));
    } else {
      pending = negotiator.absorb(pairs);
    }

    if (targetTransit) {
      const next = response.flags & 3;
      if (next === Stage.FullFeature) {
        if (csg === Stage.Security) negotiator.absorb([]);
        return {
          params: negotiator.result(),
          tsih: response.u16(14),
          isid,
          cmdSn,
          expStatSn,
          expCmdSn: response.u32(28),
          maxCmdSn: response.u32(32),
          authMethod,
        };
      }
      if (next !== Stage.Operational || csg !== Stage.Security) throw new IscsiProtocolError(`the target moved the login from stage ${csg} to stage ${next}`);
      csg = Stage.Operational;
    }
    if (csg === Stage.Operational && !offeredOperational) {
      offeredOperational = true;
      pending = [...negotiator.firstOffer(), ...pending];
    }
  }
  throw new IscsiLoginError(`the target did not finish the login within ${MAX_ROUNDS} rounds`);
}

function checkResponse(pdu: Pdu, itt: number): void {
  if (pdu.opcode === TargetOpcode.Reject) throw new IscsiLoginError(`the target rejected the login request (reason 0x${pdu.u8(2).toString(16)})`);
  if (pdu.opcode !== TargetOpcode.LoginResponse) throw new IscsiProtocolError(`the target sent ${opcodeName(pdu.opcode)} during login; expected a login response`);
  const status = (pdu.u8(36) << 8) | pdu.u8(37);
  if (status !== 0) {
    const text = STATUS_TEXT[status] ?? STATUS_TEXT[status & 0xff00] ?? 'unknown status';
    throw new IscsiLoginError(`iSCSI login refused: ${text} (status class ${pdu.u8(36)}, detail ${pdu.u8(37)})`, {
      details: { statusClass: pdu.u8(36), statusDetail: pdu.u8(37) },
    });
  }
  if (pdu.itt !== itt) throw new IscsiProtocolError(`the login response carries ITT 0x${pdu.itt.toString(16)}; the request had 0x${itt.toString(16)}`);
}
