/**
 * Payloads in pooled frames. Reads: the device reads straight into the frame that is sent, and replies
 * carry the right data even when the client reads them late, so frames queued on the socket wait for
 * their write before being lent again. Writes: payloads are received into frames and lent again only
 * after the device finished with them. A failing read answers with its errno and the session goes on.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryDevice } from '../../drivers/memory.js';
import { DeviceIoError } from '../../src/errors.js';
import { Command, NbdErrno, ReplyType, STRUCTURED_REPLY_MAGIC } from '../../src/nbd/protocol.js';
import { tempDir } from '../support/temp.js';
import { startBlockrigServer } from './peers.js';
import { RawNbdClient } from './raw-client.js';

const dir = tempDir('blockrig-nbd-frames-');
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
let serial = 0;

/** A memory device whose reads into the caller's memory fail at one offset. */
class FailingAt extends MemoryDevice {
  constructor(readonly badOffset: number) {
    super({ size: 16 * MiB });
  }

  protected override doReadInto(offset: number, target: Uint8Array): Promise<void> {
    if (offset === this.badOffset) return Promise.reject(new DeviceIoError(this.uri, 'read', offset, target.length));
    return super.doReadInto(offset, target);
  }
}

/** A memory device that looks at a write's payload only after a timer: a payload lent again too early shows. */
class SlowWriter extends MemoryDevice {
  constructor() {
    super({ size: 16 * MiB });
  }

  protected override async doWrite(offset: number, data: Uint8Array): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    await super.doWrite(offset, data);
  }
}

/** Reads one reply to a read: simple (header + data) or one structured chunk; returns cookie, errno, data. */
async function readReply(client: RawNbdClient, structured: boolean, length: number): Promise<{ cookie: number; errno: number; data: Buffer }> {
  if (!structured) return client.simpleReply(length);
  const header = await client.reader.read(20);
  expect(header.readUInt32BE(0)).toBe(STRUCTURED_REPLY_MAGIC);
  const type = header.readUInt16BE(6);
  const payload = await client.reader.read(header.readUInt32BE(16));
  const cookie = Number(header.readBigUInt64BE(8));
  if (type === ReplyType.OffsetData) return { cookie, errno: 0, data: payload.subarray(8) };
  return { cookie, errno: payload.readUInt32BE(0), data: Buffer.alloc(0) };
}

describe('nbd server: payloads in pooled frames', () => {
  for (const structured of [false, true]) {
    it(`sends the right data for 256 reads queued behind a client that reads late (${structured ? 'structured' : 'simple'} replies)`, async () => {
      const device = new MemoryDevice({ size: 16 * MiB });
      const content = randomBytes(16 * MiB);
      await device.write(0, content);
      const { socketPath } = await startBlockrigServer(dir, `f${serial++}`, [{ name: 'disk', device }]);
      const client = await RawNbdClient.handshake(socketPath);
      try {
        await client.go('disk', structured);
        client.socket.pause();
        const offsets = Array.from({ length: 256 }, (_, i) => ((i * 37) % 256) * CHUNK);
        offsets.forEach((offset, i) => client.request(Command.Read, offset, CHUNK, { cookie: i + 1 }));
        // Let the server answer into its socket buffer while nobody reads, then read everything.
        await new Promise((resolve) => setTimeout(resolve, 200));
        client.socket.resume();
        for (let n = 0; n < offsets.length; n++) {
          const reply = await readReply(client, structured, CHUNK);
          expect(reply.errno).toBe(0);
          const offset = offsets[reply.cookie - 1] as number;
          expect(Buffer.compare(reply.data, content.subarray(offset, offset + CHUNK))).toBe(0);
        }
      } finally {
        client.close();
      }
    });
  }

  it('applies 256 pipelined writes received into pooled frames, to a device that reads each payload late', async () => {
    const device = new SlowWriter();
    const { socketPath } = await startBlockrigServer(dir, `f${serial++}`, [{ name: 'disk', device }]);
    const client = await RawNbdClient.handshake(socketPath);
    try {
      await client.go('disk');
      const expected = randomBytes(256 * CHUNK);
      for (let i = 0; i < 256; i++) {
        const offset = ((i * 37) % 256) * CHUNK;
        client.request(Command.Write, offset, CHUNK, { cookie: i + 1, payload: expected.subarray(offset, offset + CHUNK) });
      }
      for (let i = 0; i < 256; i++) expect((await client.simpleReply()).errno).toBe(0);
      expect(Buffer.compare(device.store.read(0, 256 * CHUNK), expected)).toBe(0);
    } finally {
      client.close();
    }
  });

  it('answers a read the device fails with EIO and goes on serving reads', async () => {
    const device = new FailingAt(CHUNK);
    await device.write(0, Buffer.alloc(2 * CHUNK, 0x5c));
    const { socketPath } = await startBlockrigServer(dir, `f${serial++}`, [{ name: 'disk', device }]);
    const client = await RawNbdClient.handshake(socketPath);
    try {
      await client.go('disk');
      client.request(Command.Read, CHUNK, CHUNK, { cookie: 1 });
      expect(await client.simpleReply(CHUNK)).toMatchObject({ cookie: 1, errno: NbdErrno.EIO });
      client.request(Command.Read, 0, CHUNK, { cookie: 2 });
      const ok = await client.simpleReply(CHUNK);
      expect(ok.errno).toBe(0);
      expect(ok.data.every((b) => b === 0x5c)).toBe(true);
    } finally {
      client.close();
    }
  });
});
