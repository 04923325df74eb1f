/**
 * The client's push parser must give the same result however the byte stream is cut into socket reads:
 * a stream of simple and structured replies (split data chunks, holes, errors, block status) is fed in
 * random pieces, and the reassembled reads and chunks must match what was sent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplyParser, type ReplyHandler } from '../../src/nbd/client-reply-parser.js';
import { ReplyFlag, ReplyType } from '../../src/nbd/protocol.js';
import { chunk, simpleReply } from './scripted-server.js';

function cookieBytes(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

/** Replies for: cookie 1 simple read of `a`, cookie 2 structured read of `b` in two reordered chunks, cookie 3 error, cookie 4 block status. */
function stream(a: Buffer, b: Buffer): Buffer {
  const half = Math.floor(b.length / 2);
  const status = Buffer.alloc(4 + 16);
  status.writeUInt32BE(1, 0);
  status.writeUInt32BE(4096, 4);
  status.writeUInt32BE(3, 8);
  status.writeUInt32BE(8192, 12);
  status.writeUInt32BE(0, 16);
  const error = Buffer.concat([Buffer.from([0, 0, 0, 5, 0, 3]), Buffer.from('bad')]);
  return Buffer.concat([
    simpleReply(cookieBytes(1), 0, a),
    chunk(cookieBytes(2), ReplyType.OffsetData, Buffer.concat([u64(1000 + half), b.subarray(half)]), false),
    chunk(cookieBytes(3), ReplyType.Error, error, true),
    chunk(cookieBytes(2), ReplyType.OffsetData, Buffer.concat([u64(1000), b.subarray(0, half)]), true),
    chunk(cookieBytes(4), ReplyType.BlockStatus, status, true),
  ]);
}

describe('client reply parser', () => {
  it('reassembles the same replies however the stream is split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.uint8Array({ minLength: 2, maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 40 }), (aBytes, bBytes, cuts) => {
        const a = Buffer.from(aBytes);
        const b = Buffer.from(bBytes);
        const bytes = stream(a, b);
        const reads = new Map<number, Buffer>([[1, Buffer.alloc(a.length)], [2, Buffer.alloc(b.length)]]);
        const events: string[] = [];
        const handler: ReplyHandler = {
          simpleReply: (cookie, errno) => {
            events.push(`simple ${cookie} ${errno}`);
            return { buffer: reads.get(cookie) as Buffer, offset: 0 };
          },
          simpleDone: (cookie) => events.push(`simple-done ${cookie}`),
          dataChunk: (cookie, offset, length) => {
            events.push(`data ${cookie} ${offset} ${length}`);
            return { buffer: reads.get(cookie) as Buffer, offset: offset - 1000 };
          },
          otherChunk: (cookie, type, payload) => events.push(`chunk ${cookie} ${type} ${payload.toString('hex')}`),
          chunkDone: (cookie, flags) => events.push(`done ${cookie} ${flags & ReplyFlag.Done}`),
        };
        const parser = new ReplyParser(handler);
        // Feed through one reused buffer, as the socket does, scribbling over it after each push.
        const scratch = Buffer.alloc(bytes.length);
        const points = [...new Set(cuts.map((c) => c % bytes.length))].sort((x, y) => x - y);
        let from = 0;
        for (const to of [...points, bytes.length]) {
          if (to <= from) continue;
          bytes.copy(scratch, 0, from, to);
          parser.push(scratch, 0, to - from);
          scratch.fill(0xee);
          from = to;
        }
        const half = Math.floor(b.length / 2);
        expect(reads.get(1)?.equals(a)).toBe(true);
        expect(reads.get(2)?.equals(b)).toBe(true);
        expect(events).toEqual([
          'simple 1 0',
          'simple-done 1',
          `data 2 ${1000 + half} ${b.length - half}`,
          'done 2 0',
          `chunk 3 ${ReplyType.Error} 000000050003${Buffer.from('bad').toString('hex')}`,
          'done 3 1',
          `data 2 1000 ${half}`,
          'done 2 1',
          `chunk 4 ${ReplyType.BlockStatus} 00000001000010000000000300002000${'00000000'}`,
          'done 4 1',
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a reply with a bad magic', () => {
    const parser = new ReplyParser({
      simpleReply: () => undefined,
      simpleDone: () => undefined,
      dataChunk: () => ({ buffer: Buffer.alloc(0), offset: 0 }),
      otherChunk: () => undefined,
      chunkDone: () => undefined,
    });
    expect(() => parser.push(Buffer.alloc(16, 0x42))).toThrow(/bad magic/);
  });
});
