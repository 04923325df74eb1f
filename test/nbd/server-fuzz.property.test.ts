/**
 * Fuzzing the server with fast-check: random byte streams, and valid handshakes and request sequences with
 * random bytes flipped, inserted or cut off. After every stream the server must still be up (an uncaught
 * exception fails the run), a read-only guard export must hold its data, and a well-behaved client must be
 * served.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDevice, type MemoryDevice } from '../../drivers/memory.js';
import { openNbdDevice } from '../../drivers/nbd.js';
import { BASE_ALLOCATION, ClientFlag, Command, IHAVEOPT, InfoType, Option, REQUEST_MAGIC } from '../../src/nbd/protocol.js';
import type { NbdServer } from '../../src/nbd/server.js';
import { tempDir } from '../support/temp.js';
import { startBlockrigServer, unixUri } from './peers.js';
import { u16, u32 } from './raw-client.js';

const dir = tempDir('blockrig-nbd-fuzz-');
const MiB = 1024 * 1024;
let server: NbdServer;
let socketPath: string;
let guard: MemoryDevice;

beforeAll(async () => {
  guard = createMemoryDevice({ size: 4 * MiB });
  await guard.write(0, Buffer.alloc(MiB, 0x77));
  const started = await startBlockrigServer(dir, 'fuzz', [
    { name: 'disk', device: createMemoryDevice({ size: 8 * MiB }) },
    { name: 'guard', device: guard, options: { readOnly: true } },
  ]);
  server = started.server;
  socketPath = started.socketPath;
});

afterAll(() => server.close());

/** Sends `bytes` as a whole client conversation, waits for the server to close, returns what it sent. */
async function feed(bytes: Uint8Array): Promise<Buffer> {
  const socket = connect({ path: socketPath });
  const received: Buffer[] = [];
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => received.push(chunk)); // keep reading, so the server is never blocked on us
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => socket.end(Buffer.from(bytes)));
  });
  return Buffer.concat(received);
}

async function wellBehavedClientIsServed(): Promise<void> {
  const dev = await openNbdDevice(unixUri(socketPath, 'disk'), { connections: 1 });
  try {
    await dev.write(MiB, Buffer.alloc(4096, 0x42));
    expect((await dev.read(MiB, 4096)).every((b) => b === 0x42)).toBe(true);
  } finally {
    await dev.close();
  }
  expect(guard.store.read(0, MiB).every((b) => b === 0x77)).toBe(true);
}

function option(code: number, data: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(IHAVEOPT, 0);
  header.writeUInt32BE(code, 8);
  header.writeUInt32BE(data.length, 12);
  return Buffer.concat([header, data]);
}

const optionArb = fc.oneof(
  fc.constant(option(Option.StructuredReply, Buffer.alloc(0))),
  fc.constant(option(Option.List, Buffer.alloc(0))),
  fc.constant(option(Option.Info, Buffer.concat([u32(4), Buffer.from('disk'), u16(1), u16(InfoType.BlockSize)]))),
  fc.constant(option(Option.SetMetaContext, Buffer.concat([u32(4), Buffer.from('disk'), u32(1), u32(BASE_ALLOCATION.length), Buffer.from(BASE_ALLOCATION)]))),
  // Any option but those that end negotiation (EXPORT_NAME, ABORT, GO), with random data.
  fc
    .tuple(fc.integer({ min: 0, max: 20 }).filter((code) => code !== Option.ExportName && code !== Option.Abort && code !== Option.Go), fc.uint8Array({ maxLength: 64 }))
    .map(([code, data]) => option(code, Buffer.from(data))),
);

const requestArb = fc
  .record({
    type: fc.oneof(fc.constantFrom(Command.Read, Command.Write, Command.Flush, Command.Trim, Command.WriteZeroes, Command.BlockStatus), fc.integer({ min: 0, max: 0xffff }).filter((t) => t !== Command.Disconnect)),
    // DISC is the one request with no reply; a conversation that disconnects first would have nothing to check.
    flags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    offset: fc.oneof(fc.integer({ min: 0, max: 8 * MiB }).map((n) => n - (n % 512)), fc.integer({ min: 0, max: 2 ** 40 })),
    length: fc.oneof(fc.constantFrom(0, 512, 4096, 65536), fc.integer({ min: 0, max: 70000 })),
  })
  .map(({ type, flags, offset, length }) => {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    return type === Command.Write ? Buffer.concat([header, Buffer.alloc(length, 0xab)]) : header;
  });

const conversationArb = fc
  .tuple(fc.constantFrom(ClientFlag.FixedNewstyle, ClientFlag.FixedNewstyle | ClientFlag.NoZeroes), fc.array(optionArb, { maxLength: 4 }), fc.boolean(), fc.array(requestArb, { maxLength: 6 }))
  .map(([flags, options, go, requests]) => {
    const name = go ? 'disk' : 'guard';
    const finish = option(Option.Go, Buffer.concat([u32(name.length), Buffer.from(name), u16(1), u16(InfoType.BlockSize)]));
    return { stream: Buffer.concat([u32(flags), ...options, finish, ...requests]), requests: requests.length };
  });

const mutationArb = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  ),
  { minLength: 1, maxLength: 4 },
);

function mutate(stream: Buffer, mutations: readonly { kind: string; at: number; value?: number; bytes?: Uint8Array }[]): Buffer {
  let out = Buffer.from(stream);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === 'flip' && out.length > 0) out[at] = m.value ?? 0;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes ?? []), out.subarray(at)]);
    else if (m.kind === 'cut') out = out.subarray(0, at);
  }
  return out;
}

describe('nbd server fuzzing', () => {
  it('survives random byte streams', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 256 }), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.concat([u32(3), Buffer.from(b)]))), async (bytes) => {
        await feed(bytes);
      }),
      { numRuns: 300 },
    );
    await wellBehavedClientIsServed();
  });

  it('survives valid conversations and mutated ones, and keeps the guard export intact', async () => {
    await fc.assert(
      fc.asyncProperty(conversationArb, fc.option(mutationArb, { nil: undefined }), async ({ stream, requests }, mutations) => {
        const replies = await feed(mutations === undefined ? stream : mutate(stream, mutations));
        if (mutations === undefined && requests > 0) {
          // An unmutated conversation reaches transmission: its first request is answered.
          const simple = Buffer.from([0x67, 0x44, 0x66, 0x98]);
          const structured = Buffer.from([0x66, 0x8e, 0x33, 0xef]);
          expect(replies.includes(simple) || replies.includes(structured)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
    await wellBehavedClientIsServed();
  });
});
