/**
 * BatchedSocketWrites: writes made together stay corked until the current tick's work is done, then
 * leave in order, and every `written` callback runs once the bytes are handed to the kernel.
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchedSocketWrites } from '../../src/batched-socket-writes.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-batched-writes-');
const server = createServer();
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function socketPair(): Promise<{ client: Socket; peer: Socket }> {
  if (!server.listening) {
    server.listen(join(dir, 'batch.sock'));
    await once(server, 'listening');
  }
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(join(dir, 'batch.sock'));
  await once(client, 'connect');
  const [peer] = await accepted;
  return { client, peer };
}

describe('BatchedSocketWrites', () => {
  it('corks writes made together until the tick\'s work is done, then delivers them in order with every callback', async () => {
    const { client, peer } = await socketPair();
    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    const batch = new BatchedSocketWrites(client);
    let written = 0;
    const messages = Array.from({ length: 100 }, (_, i) => Buffer.alloc(100, i));
    for (const m of messages) batch.write(m, () => written++);
    expect(client.writableCorked).toBe(1);
    expect(written).toBe(0);
    await Promise.resolve(); // promise jobs of the same tick: still corked
    expect(client.writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.writableCorked).toBe(0);
    batch.write(Buffer.from('next turn')); // a later burst corks again
    expect(client.writableCorked).toBe(1);
    while (Buffer.concat(received).length < 100 * 100 + 9) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(Buffer.compare(Buffer.concat(received), Buffer.concat([...messages, Buffer.from('next turn')]))).toBe(0);
    expect(written).toBe(100);
    client.destroy();
    peer.destroy();
  });
});
