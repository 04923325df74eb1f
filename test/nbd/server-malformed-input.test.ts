/**
 * The server against input no well-behaved client sends. Each case checks the answer the spec asks for,
 * that the data on the device is intact, and that the server still serves a proper client afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryDevice, MemoryDevice } from '../../drivers/memory.js';
import { openNbdDevice } from '../../drivers/nbd.js';
import { Command, CommandFlag, NbdErrno, Option, OptionReply, ReplyType } from '../../src/nbd/protocol.js';
import { tempDir } from '../support/temp.js';
import { startBlockrigServer, unixUri } from './peers.js';
import { RawNbdClient, u32 } from './raw-client.js';
import type { NbdServer } from '../../src/nbd/server.js';

const dir = tempDir('blockrig-nbd-malformed-');
const MiB = 1024 * 1024;
let device: MemoryDevice;
let socketPath: string;
let server: NbdServer;
let serial = 0;

beforeEach(async () => {
  device = createMemoryDevice({ size: 8 * MiB });
  await device.write(0, Buffer.alloc(MiB, 0x77));
  const started = await startBlockrigServer(dir, `m${serial++}`, [
    { name: 'disk', device },
    { name: 'ro', device, options: { readOnly: true } },
  ]);
  socketPath = started.socketPath;
  server = started.server;
});

afterEach(() => server.close());

/** A proper client can still read and write. */
async function stillServes(): Promise<void> {
  const dev = await openNbdDevice(unixUri(socketPath, 'disk'), { connections: 1 });
  try {
    await dev.write(4 * MiB, Buffer.alloc(4096, 0x42));
    expect((await dev.read(4 * MiB, 4096)).every((b) => b === 0x42)).toBe(true);
  } finally {
    await dev.close();
  }
}

function firstMiBIntact(): void {
  expect(device.store.read(0, MiB).every((b) => b === 0x77)).toBe(true);
}

describe('nbd server: malformed handshakes', () => {
  it('answers an unknown option with NBD_REP_ERR_UNSUP and goes on negotiating', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    client.option(0x1234, Buffer.from('whatever'));
    expect(await client.optionReply()).toMatchObject({ option: 0x1234, type: OptionReply.ErrUnsup });
    expect(await client.go('disk')).toBe(8 * MiB);
    client.close();
  });

  it('refuses an oversized option with NBD_REP_ERR_TOO_BIG after skipping its data, and goes on', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    client.option(Option.Go, Buffer.alloc(1024 * 1024, 0x41));
    expect(await client.optionReply()).toMatchObject({ option: Option.Go, type: OptionReply.ErrTooBig });
    expect(await client.go('disk')).toBe(8 * MiB);
    client.close();
  });

  it('answers a GO whose name length overruns the option with NBD_REP_ERR_INVALID', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    client.option(Option.Go, Buffer.concat([u32(1000), Buffer.from('disk'), Buffer.alloc(2)]));
    expect((await client.optionReply()).type).toBe(OptionReply.ErrInvalid);
    client.option(Option.Go, Buffer.concat([u32(4), Buffer.from('nope'), Buffer.alloc(2)]));
    expect((await client.optionReply()).type).toBe(OptionReply.ErrUnknown);
    expect(await client.go('disk')).toBe(8 * MiB);
    client.close();
  });

  it('closes a connection whose option magic is wrong, and serves the next client', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    client.send(Buffer.alloc(16, 0xff));
    expect(await client.closedWithin(5000)).toBe(true);
    await stillServes();
  });

  it('closes a connection that sets unknown client flags', async () => {
    const { client } = await RawNbdClient.connect(socketPath);
    client.send(u32(0x80000001));
    expect(await client.closedWithin(5000)).toBe(true);
    await stillServes();
  });
});

describe('nbd server: malformed requests', () => {
  it('refuses reads and writes past the end (EINVAL, ENOSPC) without touching data', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk');
    client.request(Command.Read, 8 * MiB - 512, 1024, { cookie: 7 });
    expect(await client.simpleReply()).toMatchObject({ errno: NbdErrno.EINVAL, cookie: 7 });
    client.request(Command.Write, 8 * MiB - 512, 1024, { payload: Buffer.alloc(1024, 1) });
    expect((await client.simpleReply()).errno).toBe(NbdErrno.ENOSPC);
    client.request(Command.Read, 2 ** 62, 512);
    expect((await client.simpleReply()).errno).toBe(NbdErrno.EINVAL);
    expect(device.store.read(8 * MiB - 512, 512).every((b) => b === 0)).toBe(true);
    client.close();
  });

  it('refuses unaligned requests below the minimum block size once the client agreed to it', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk');
    client.request(Command.Write, 100, 512, { payload: Buffer.alloc(512, 9) });
    expect((await client.simpleReply()).errno).toBe(NbdErrno.EINVAL);
    firstMiBIntact();
    client.close();
  });

  it('does read-modify-write for unaligned requests from a client that never agreed to block sizes', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    client.option(Option.ExportName, Buffer.from('disk'));
    await client.reader.read(10);
    client.request(Command.Write, 100, 3, { payload: Buffer.from([1, 2, 3]) });
    expect((await client.simpleReply()).errno).toBe(0);
    client.request(Command.Read, 99, 5);
    expect([...(await client.simpleReply(5)).data]).toEqual([0x77, 1, 2, 3, 0x77]);
    client.close();
  });

  it('refuses writes to a read-only export with EPERM', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('ro');
    client.request(Command.Write, 0, 512, { payload: Buffer.alloc(512) });
    expect((await client.simpleReply()).errno).toBe(NbdErrno.EPERM);
    client.request(Command.WriteZeroes, 0, 512);
    expect((await client.simpleReply()).errno).toBe(NbdErrno.EPERM);
    firstMiBIntact();
    client.close();
  });

  it('answers unknown commands and flags with EINVAL and keeps the session', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk');
    client.request(99, 0, 512, { cookie: 1 });
    expect(await client.simpleReply()).toMatchObject({ errno: NbdErrno.EINVAL, cookie: 1 });
    client.request(Command.Read, 0, 512, { cookie: 2, flags: 0x4000 });
    expect(await client.simpleReply()).toMatchObject({ errno: NbdErrno.EINVAL, cookie: 2 });
    client.request(Command.BlockStatus, 0, 512, { cookie: 3 });
    expect(await client.simpleReply()).toMatchObject({ errno: NbdErrno.EINVAL, cookie: 3 });
    client.request(Command.Read, 0, 512, { cookie: 4 });
    const reply = await client.simpleReply(512);
    expect(reply.errno).toBe(0);
    expect(reply.data.every((b) => b === 0x77)).toBe(true);
    client.close();
  });

  it('refuses a read above the maximum payload with EOVERFLOW and skips an oversized write payload', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk');
    client.request(Command.Read, 0, 33 * MiB);
    expect((await client.simpleReply()).errno).toBe(NbdErrno.EOVERFLOW);
    client.request(Command.Write, 0, 33 * MiB, { payload: Buffer.alloc(33 * MiB, 0x55) });
    expect((await client.simpleReply()).errno).toBe(NbdErrno.EOVERFLOW);
    client.request(Command.Read, 0, 512, { cookie: 9 });
    const reply = await client.simpleReply(512);
    expect(reply).toMatchObject({ errno: 0, cookie: 9 });
    expect(reply.data.every((b) => b === 0x77)).toBe(true);
    firstMiBIntact();
    client.close();
  });

  it('sends a structured error chunk for a bad read when structured replies are on', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk', true);
    client.request(Command.Read, 8 * MiB, 512, { cookie: 5, flags: CommandFlag.Df });
    const header = await client.reader.read(20);
    expect(header.readUInt16BE(6)).toBe(ReplyType.Error);
    const payload = await client.reader.read(header.readUInt32BE(16));
    expect(payload.readUInt32BE(0)).toBe(NbdErrno.EINVAL);
    client.close();
  });

  it('closes on a bad request magic and applies nothing of a write cut off mid-payload', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk');
    client.request(Command.Read, 0, 512, { magic: 0xdeadbeef });
    expect(await client.closedWithin(5000)).toBe(true);

    const cut = await RawNbdClient.handshake(socketPath);
    await cut.go('disk');
    cut.request(Command.Write, 0, 65536, { payload: Buffer.alloc(1000, 0xee) });
    cut.socket.end();
    expect(await cut.closedWithin(5000)).toBe(true);
    firstMiBIntact();
    await stillServes();
  });

  it('stops reading from a client that does not read its replies, and still shuts down after it leaves', async () => {
    const client = await RawNbdClient.handshake(socketPath);
    await client.go('disk');
    client.socket.pause(); // never read: replies pile up on the server side
    for (let i = 0; i < 12; i++) client.request(Command.Read, 0, 8 * MiB, { cookie: i });
    await stillServes();
    client.close();
    await server.close();
  });

  it('drains in-flight writes on close and flushes before acknowledging a flush', async () => {
    const dev = await openNbdDevice(unixUri(socketPath, 'disk'), { connections: 1 });
    const writes = Array.from({ length: 32 }, (_, i) => dev.write(2 * MiB + i * 4096, Buffer.alloc(4096, i + 1)));
    await dev.flush();
    await Promise.all(writes);
    const closing = server.close();
    await closing;
    for (let i = 0; i < 32; i++) expect(device.store.read(2 * MiB + i * 4096, 4096).every((b) => b === i + 1)).toBe(true);
    await dev.close();
  });
});

describe('nbd server: flush', () => {
  /** A memory device with a volatile cache whose flush waits until the test opens a gate. */
  class GatedDevice extends MemoryDevice {
    flushes = 0;
    gate: Promise<void> = Promise.resolve();
    override async flush(): Promise<void> {
      await this.gate;
      this.flushes++;
      return super.flush();
    }
  }

  it('acknowledges a flush only after the device flushed, and flushes on shutdown', async () => {
    const gated = new GatedDevice({ size: 4 * MiB });
    let open: () => void = () => undefined;
    gated.gate = new Promise((resolve) => (open = resolve));
    const started = await startBlockrigServer(dir, 'gated', [{ name: 'disk', device: gated }]);
    const dev = await openNbdDevice(unixUri(started.socketPath, 'disk'), { connections: 1 });
    await dev.write(0, Buffer.alloc(4096, 1));
    let acknowledged = false;
    const flushing = dev.flush().then(() => (acknowledged = true));
    await dev.read(0, 4096); // a later request is answered while the flush waits
    expect(acknowledged).toBe(false);
    expect(gated.flushes).toBe(0);
    open();
    await flushing;
    expect(gated.flushes).toBe(1);
    await dev.close();
    await started.server.close();
    expect(gated.flushes).toBe(2);
  });
});
