/**
 * Login negotiation over as many rounds as the target wants: a target that answers in pieces (C bit), holds
 * the operational stage open (T=0), offers keys of its own and finally transits; and the checks that refuse
 * answers breaking a key's result function.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseDeviceUri } from '../../drivers/uri.js';
import { systemClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { answerChallenge, chapResponse } from '../../src/iscsi/chap.js';
import { Negotiator } from '../../src/iscsi/negotiation.js';
import { discoverTargets, parseSendTargets } from '../../src/iscsi/discovery.js';
import { openSession } from '../../src/iscsi/open-session.js';
import { encodePdu, RESERVED_TAG, TargetOpcode, type Pdu } from '../../src/iscsi/pdu.js';
import { decodeText, encodeText } from '../../src/iscsi/text.js';
import { parseIscsiUri } from '../../src/iscsi/uri.js';
import { FakeTarget } from './fake-target.js';

function respond(socket: Socket, request: Pdu, flags: number, text: string, statSn: number): void {
  const cmdSn = request.u32(24);
  socket.write(Buffer.concat(encodePdu({ opcode: TargetOpcode.LoginResponse, flags, lun: request.bhs.subarray(8, 16), itt: request.itt, words: { 24: statSn, 28: cmdSn, 32: cmdSn + 7 }, data: Buffer.from(text) })));
}

describe('iscsi login', () => {
  it('follows a target through continued text, extra rounds and keys of its own', async () => {
    const fake = await FakeTarget.start();
    const requests: Pdu[] = [];
    fake.loginScript = (socket, request) => {
      requests.push(request);
      const n = requests.length;
      if (n === 1) respond(socket, request, 0x80 | 0x01, 'AuthMethod=None\0TargetPortalGroupTag=1\0', 1);
      // Operational stage: half the answers with C=1, the rest after the initiator's empty request...
      else if (n === 2) respond(socket, request, 0x40 | (1 << 2), 'HeaderDigest=None\0DataDigest=None\0MaxBurstLength=65536\0', 2);
      else if (n === 3) respond(socket, request, 1 << 2, 'FirstBurstLength=16384\0InitialR2T=Yes\0ImmediateData=No\0MaxRecvDataSegmentLength=4096\0OFMarker=No\0X-com.example.Tuning=7\0', 3);
      // ...then, T=0 kept the stage open, the initiator answers our keys and asks to move on again.
      else respond(socket, request, 0x80 | (1 << 2) | 3, '', 4);
    };
    const session = await openSession(parseIscsiUri(parseDeviceUri(fake.uri())), systemClock);
    try {
      expect(requests).toHaveLength(4);
      expect(requests[2]!.data.length).toBe(0); // the continuation request is empty
      expect(decodeText(requests[3]!.data)).toEqual([{ key: 'OFMarker', value: 'NotUnderstood' }]);
      expect(session.params).toMatchObject({
        maxBurstLength: 65536,
        firstBurstLength: 16384,
        initialR2T: true,
        immediateData: false,
        targetMaxRecvDataSegmentLength: 4096,
        targetDeclarations: { TargetPortalGroupTag: '1' },
      });
    } finally {
      await session.logout();
      await fake.close();
    }
  });

  it('refuses answers that break the result functions', () => {
    const raise = new Negotiator();
    raise.firstOffer();
    expect(() => raise.absorb([{ key: 'MaxBurstLength', value: '2097152' }])).toThrow(/above our offer/);
    const flip = new Negotiator();
    flip.firstOffer();
    expect(() => flip.absorb([{ key: 'DataPDUInOrder', value: 'No' }])).toThrow(/OR function forbids it/);
    const level = new Negotiator();
    level.firstOffer();
    expect(() => level.absorb([{ key: 'MaxBurstLength', value: 'lots' }])).toThrow(/expected a number/);
    const target = new Negotiator();
    expect(target.absorb([{ key: 'MaxBurstLength', value: '0x4000' }, { key: 'InitialR2T', value: 'Yes' }])).toEqual([
      { key: 'MaxBurstLength', value: '16384' },
      { key: 'InitialR2T', value: 'Yes' },
    ]);
    expect(target.result()).toMatchObject({ maxBurstLength: 16384, initialR2T: true });
  });

  it('answers a CHAP challenge with MD5(id, secret, challenge) and refuses other algorithms', () => {
    const challenge = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const answer = answerChallenge(
      [
        { key: 'CHAP_A', value: '5' },
        { key: 'CHAP_I', value: '7' },
        { key: 'CHAP_C', value: `0x${challenge.toString('hex')}` },
      ],
      'rig',
      'secret',
    );
    // MD5 of 0x07 || "secret" || challenge, computed outside blockrig with `openssl md5`.
    expect(answer).toEqual([
      { key: 'CHAP_N', value: 'rig' },
      { key: 'CHAP_R', value: '0x15c1682eb7ac3daca85d727884af20a0' },
    ]);
    expect(chapResponse(7, 'secret', challenge).toString('hex')).toBe('15c1682eb7ac3daca85d727884af20a0');
    expect(() => answerChallenge([{ key: 'CHAP_A', value: '7' }], 'rig', 'secret')).toThrow(/offers only MD5/);
    expect(encodeText([{ key: 'A', value: 'b' }]).toString()).toBe('A=b\0');
  });

  it('discovers targets with SendTargets over continued Text Responses', async () => {
    const fake = await FakeTarget.start();
    const requests: Pdu[] = [];
    fake.script = (ctx) => {
      if (ctx.pdu.opcode !== 0x04) return false;
      requests.push(ctx.pdu);
      if (requests.length === 1) ctx.send(TargetOpcode.TextResponse, 0x40, { words: { 20: 0x55 }, data: Buffer.from('TargetName=iqn.a:one\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=[::1]:3260,1\0') });
      else ctx.send(TargetOpcode.TextResponse, 0x80, { words: { 20: RESERVED_TAG }, data: Buffer.from('TargetName=iqn.a:two\0TargetAddress=10.0.0.2:3261,2\0') });
      return true;
    };
    const targets = await discoverTargets({ host: '127.0.0.1', port: fake.port, initiatorName: 'iqn.2026-01.dev.blockrig:test', timeoutMs: 5000 }, systemClock);
    expect(targets).toEqual([
      { name: 'iqn.a:one', addresses: ['10.0.0.1:3260,1', '[::1]:3260,1'] },
      { name: 'iqn.a:two', addresses: ['10.0.0.2:3261,2'] },
    ]);
    expect(decodeText(requests[0]!.data)).toEqual([{ key: 'SendTargets', value: 'All' }]);
    expect(requests[1]!.u32(20)).toBe(0x55);
    expect(requests[1]!.data.length).toBe(0);
    expect(() => parseSendTargets(Buffer.from('TargetAddress=1.2.3.4:3260,1\0'))).toThrow(/before any TargetName/);
    await fake.close();
  });

  it('reports a refused login with the status in words', async () => {
    const fake = await FakeTarget.start();
    fake.loginScript = (socket, request) => {
      const response = encodePdu({ opcode: TargetOpcode.LoginResponse, flags: 0, lun: request.bhs.subarray(8, 16), itt: request.itt })[0]!;
      response[36] = 2;
      response[37] = 2;
      socket.write(response);
    };
    await expect(openSession(parseIscsiUri(parseDeviceUri(fake.uri())), systemClock)).rejects.toMatchObject({
      code: ErrorCode.IscsiLogin,
      message: expect.stringMatching(/authorization failed/) as unknown,
      details: { statusClass: 2, statusDetail: 2 },
    });
    await fake.close();
  });
});
