/**
 * The NBD client driver beyond the contract: fallback to EXPORT_NAME, split and reordered structured
 * chunks, error chunks, request timeouts, reconnect after a server restart (in-flight requests resent, an
 * in-flight flush failed), giving up when the server stays away, multi-conn, 64-bit offsets, block status,
 * and `blockrig nbd list`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import { openNbdDevice } from '../../drivers/nbd.js';
import type { AvailabilityChange } from '../../drivers/types.js';
import { ErrorCode } from '../../src/errors.js';
import { AllocationFlag, Command, NbdErrno, ReplyType, TransmissionFlag } from '../../src/nbd/protocol.js';
import { runCli } from '../support/cli.js';
import { stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { startBlockrigServer, startNbdkit, startQemuNbd, unixUri } from './peers.js';
import { chunk, simpleReply, startScriptedServer } from './scripted-server.js';

const dir = tempDir('blockrig-nbd-client-');
const MiB = 1024 * 1024;

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

describe('nbd client URIs', () => {
  it.each([
    ['nbds://host/disk', 'TLS'],
    ['nbd+unix:///disk', 'socket=PATH'],
    ['nbd://localhost/disk?conections=4', 'unknown option "conections"'],
    ['nbd://localhost/disk?connections=0', 'from 1 to 16'],
    ['nbd://localhost/disk?timeout=soon', 'duration'],
    ['nbd://localhost/disk?structured=maybe', 'structured=maybe'],
  ])('rejects %s naming the problem', async (uri, problem) => {
    const opening = openNbdDevice(uri);
    await expect(opening).rejects.toMatchObject({ code: ErrorCode.InvalidUri });
    await expect(opening).rejects.toThrow(problem);
  });

  it('reports a server that is not there with BLOCKRIG_E_DISCONNECTED', async () => {
    await expect(openNbdDevice(`nbd+unix:///disk?socket=${join(dir, 'nobody.sock')}`)).rejects.toMatchObject({ code: ErrorCode.Disconnected });
  });
});

describe('nbd client against scripted servers', () => {
  it('falls back to NBD_OPT_EXPORT_NAME when GO is unsupported, using simple replies', async () => {
    const medium = Buffer.alloc(4 * MiB);
    const { socketPath } = await startScriptedServer(dir, 'old', {
      modern: false,
      size: medium.length,
      onRequest: (r, socket) => {
        if (r.type === Command.Write) (r.payload as Buffer).copy(medium, r.offset);
        socket.write(simpleReply(r.cookie, 0, r.type === Command.Read ? medium.subarray(r.offset, r.offset + r.length) : undefined));
      },
    });
    const dev = await openNbdDevice(unixUri(socketPath, 'x'));
    expect(dev.negotiated).toMatchObject({ usedExportNameFallback: true, structuredReplies: false });
    await dev.write(8192, Buffer.alloc(4096, 3));
    expect((await dev.read(8192, 4096)).every((b) => b === 3)).toBe(true);
    await dev.close();
  });

  it('assembles reads from split, reordered data and hole chunks, and reports error chunks', async () => {
    const { socketPath } = await startScriptedServer(dir, 'chunks', {
      modern: true,
      size: 4 * MiB,
      onRequest: (r, socket) => {
        if (r.offset === 0) {
          // 3 pieces, last first, the middle one a hole.
          const third = r.length / 4;
          socket.write(chunk(r.cookie, ReplyType.OffsetData, Buffer.concat([u64(r.offset + 2 * third), Buffer.alloc(r.length - 2 * third, 0xcc)]), false));
          socket.write(chunk(r.cookie, ReplyType.OffsetHole, Buffer.concat([u64(r.offset + third), Buffer.from([0, 0, (third >> 8) & 0xff, third & 0xff])]), false));
          socket.write(chunk(r.cookie, ReplyType.OffsetData, Buffer.concat([u64(r.offset), Buffer.alloc(third, 0xaa)]), true));
        } else {
          const message = Buffer.from('medium error');
          const payload = Buffer.alloc(6);
          payload.writeUInt32BE(NbdErrno.EIO, 0);
          payload.writeUInt16BE(message.length, 4);
          socket.write(chunk(r.cookie, ReplyType.Error, Buffer.concat([payload, message]), true));
        }
      },
    });
    const dev = await openNbdDevice(unixUri(socketPath, 'x'));
    expect(dev.negotiated.structuredReplies).toBe(true);
    const data = await dev.read(0, 4096);
    expect(data.subarray(0, 1024).every((b) => b === 0xaa)).toBe(true);
    expect(data.subarray(1024, 2048).every((b) => b === 0)).toBe(true);
    expect(data.subarray(2048).every((b) => b === 0xcc)).toBe(true);
    await expect(dev.read(MiB, 4096)).rejects.toMatchObject({ code: ErrorCode.Io, errno: 'EIO', details: { serverMessage: 'medium error' } });
    await dev.close();
  });

  it('fails a request the server never answers with BLOCKRIG_E_TIMEOUT, drops that connection and reconnects', async () => {
    const { socketPath } = await startScriptedServer(dir, 'silent', {
      modern: true,
      size: 4 * MiB,
      // The first connection never answers; later ones do.
      onRequest: (r, socket, connection) => {
        if (connection > 0) socket.write(simpleReply(r.cookie, 0, r.type === Command.Read ? Buffer.alloc(r.length, 0x33) : undefined));
      },
    });
    const dev = await openNbdDevice(unixUri(socketPath, 'x', 'timeout=300ms&connections=1'));
    const changes: boolean[] = [];
    dev.onAvailabilityChange((c) => changes.push(c.available));
    await expect(dev.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.Timeout });
    await waitFor(() => changes.length === 2, 10_000, 'the device to go unavailable and come back');
    expect(changes).toEqual([false, true]);
    expect((await dev.read(0, 4096)).every((b) => b === 0x33)).toBe(true);
    await dev.close();
  });

  it('resends an in-flight read after the connection drops, and fails an in-flight flush', async () => {
    let dropped = 0;
    const { socketPath } = await startScriptedServer(dir, 'drop', {
      modern: true,
      size: 4 * MiB,
      onRequest: (r, socket, connection) => {
        if (connection === 0) {
          // The first connection dies with a read and a flush in flight.
          if (++dropped === 2) socket.destroy();
          return;
        }
        socket.write(simpleReply(r.cookie, 0, r.type === Command.Read ? Buffer.alloc(r.length, 0x5e) : undefined));
      },
    });
    const dev = await openNbdDevice(unixUri(socketPath, 'x', 'connections=1'));
    const changes: AvailabilityChange[] = [];
    dev.onAvailabilityChange((c) => changes.push(c));
    const read = dev.read(0, 4096);
    const flush = dev.flush();
    await expect(flush).rejects.toMatchObject({ code: ErrorCode.Disconnected });
    expect((await read).every((b) => b === 0x5e)).toBe(true);
    expect(changes.map((c) => c.available)).toEqual([false, true]);
    await dev.close();
  });
});

describe('nbd client against real servers', () => {
  it('reconnects after blockrig server restarts and resends what was issued meanwhile', async () => {
    const store = new MemoryStore(4 * MiB);
    const first = await startBlockrigServer(dir, 'restart', [{ name: 'disk', device: createMemoryDevice({ size: store.size, store }) }]);
    const dev = await openNbdDevice(unixUri(first.socketPath, 'disk', 'connections=2&reconnect=20s'));
    expect(dev.connectionCount).toBe(2);
    await dev.write(0, Buffer.alloc(4096, 1));
    await first.server.close();
    const writeDuringOutage = dev.write(4096, Buffer.alloc(4096, 2));
    await startBlockrigServer(dir, 'restart', [{ name: 'disk', device: createMemoryDevice({ size: store.size, store }) }]);
    await writeDuringOutage;
    expect(dev.available).toBe(true);
    expect(store.read(0, 8192).subarray(0, 4096).every((b) => b === 1)).toBe(true);
    expect(store.read(4096, 4096).every((b) => b === 2)).toBe(true);
    await dev.close();
  });

  it('reconnects after nbdkit is killed and started again on the same socket', async () => {
    const image = join(dir, 'restart.img');
    writeFileSync(image, Buffer.alloc(4 * MiB));
    const first = await startNbdkit(dir, 'restart', ['file', `file=${image}`]);
    const dev = await openNbdDevice(`${first.uri}&reconnect=30s`);
    await dev.write(0, Buffer.alloc(4096, 7), { fua: true });
    await stopProcess((first.process as TestProcess).child);
    const during = dev.write(8192, Buffer.alloc(4096, 8));
    await startNbdkit(dir, 'restart', ['file', `file=${image}`]);
    await during;
    await dev.flush();
    const onDisk = readFileSync(image);
    expect(onDisk.subarray(0, 4096).every((b) => b === 7)).toBe(true);
    expect(onDisk.subarray(8192, 12288).every((b) => b === 8)).toBe(true);
    await dev.close();
  });

  it('fails requests with BLOCKRIG_E_DEVICE_UNAVAILABLE when the server stays away', async () => {
    const store = new MemoryStore(4 * MiB);
    const started = await startBlockrigServer(dir, 'gone', [{ name: 'disk', device: createMemoryDevice({ size: store.size, store }) }]);
    const dev = await openNbdDevice(unixUri(started.socketPath, 'disk', 'reconnect=300ms'));
    await started.server.close();
    await expect(dev.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable });
    expect(dev.available).toBe(false);
    await dev.close();
  });

  it('opens one connection when the server does not allow multi-conn', async () => {
    const peer = await startNbdkit(dir, 'single', ['memory', '4M', 'multi-conn-mode=disable'], ['--filter=multi-conn']);
    const dev = await openNbdDevice(peer.uri);
    expect(dev.capabilities.multiConn).toBe(false);
    expect(dev.connectionCount).toBe(1);
    await dev.close();
    const multi = await startNbdkit(dir, 'multi', ['memory', '4M']);
    const dev4 = await openNbdDevice(multi.uri);
    expect(dev4.negotiated.transmissionFlags & TransmissionFlag.CanMultiConn).not.toBe(0);
    expect(dev4.connectionCount).toBe(4);
    await dev4.close();
  });

  it('sends NBD_CMD_CACHE for prefetch where nbdkit advertises it, and rejects a bad range', async () => {
    const peer = await startNbdkit(dir, 'cache', ['memory', '4M']);
    const dev = await openNbdDevice(peer.uri);
    expect(dev.negotiated.transmissionFlags & TransmissionFlag.SendCache).not.toBe(0);
    await dev.prefetch(0, 2 * MiB);
    await expect(dev.prefetch(3 * MiB, 2 * MiB)).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
    await dev.close();
  });

  it('obeys block size constraints: 4 KiB minimum, 64 KiB maximum (nbdkit blocksize-policy refuses anything else)', async () => {
    const peer = await startNbdkit(dir, 'policy', ['memory', '8M', 'blocksize-minimum=4096', 'blocksize-preferred=65536', 'blocksize-maximum=65536', 'blocksize-error-policy=error'], ['--filter=blocksize-policy']);
    const dev = await openNbdDevice(peer.uri);
    expect(dev.logicalBlockSize).toBe(4096);
    expect(dev.physicalBlockSize).toBe(65536);
    const data = Buffer.alloc(MiB, 0x2a);
    await dev.write(MiB, data);
    expect((await dev.read(MiB, MiB)).equals(data)).toBe(true);
    await expect(dev.read(512, 512)).rejects.toMatchObject({ code: ErrorCode.Unaligned });
    await dev.close();
  });

  it('maps an EIO from nbdkit to BLOCKRIG_E_IO and stays usable', async () => {
    const peer = await startNbdkit(dir, 'eio', ['memory', '8M', 'error-pread=EIO', 'error-pread-rate=100%'], ['--filter=error']);
    const dev = await openNbdDevice(peer.uri);
    await dev.write(0, Buffer.alloc(4096, 1));
    await expect(dev.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.Io, errno: 'EIO' });
    await dev.write(4096, Buffer.alloc(4096, 2));
    expect(dev.available).toBe(true);
    await dev.close();
  });

  it('addresses offsets beyond 2^32 and near 2^50 exactly', async () => {
    const peer = await startNbdkit(dir, 'huge', ['memory', String(2 ** 50)]);
    const dev = await openNbdDevice(peer.uri);
    expect(dev.size).toBe(2 ** 50);
    const offsets = [2 ** 32 + 512, 2 ** 50 - 4096];
    for (const [i, offset] of offsets.entries()) await dev.write(offset, Buffer.alloc(4096 > dev.size - offset ? dev.size - offset : 4096, i + 1));
    for (const [i, offset] of offsets.entries()) expect((await dev.read(offset, 512)).every((b) => b === i + 1)).toBe(true);
    expect((await dev.read(2 ** 32, 512)).every((b) => b === 0)).toBe(true);
    await dev.close();
  });

  it('carries offsets beyond 2^32 exactly through blockrig server and client both', async () => {
    const store = new MemoryStore(2 ** 40);
    const started = await startBlockrigServer(dir, 'huge', [{ name: 'huge', device: createMemoryDevice({ size: store.size, store }) }]);
    const dev = await openNbdDevice(unixUri(started.socketPath, 'huge'));
    expect(dev.size).toBe(2 ** 40);
    for (const [i, offset] of [2 ** 32 + 512, 2 ** 40 - 4096].entries()) {
      await dev.write(offset, Buffer.alloc(4096, i + 1));
      expect(store.read(offset, 4096).every((b) => b === i + 1)).toBe(true);
      expect(store.read(offset - 512, 512).every((b) => b === 0)).toBe(true);
      expect((await dev.read(offset, 4096)).every((b) => b === i + 1)).toBe(true);
    }
    await dev.close();
  });

  it('passes through base:allocation block status from nbdkit', async () => {
    const peer = await startNbdkit(dir, 'map', ['memory', '8M']);
    const dev = await openNbdDevice(peer.uri);
    await dev.write(MiB, Buffer.alloc(MiB, 9));
    const extents = await dev.mapAllocation(0, 4 * MiB);
    expect(extents[0]?.flags).toBe(AllocationFlag.Hole | AllocationFlag.Zero);
    let at = 0;
    for (const e of extents) {
      if (at >= MiB && at < 2 * MiB) expect(e.flags & AllocationFlag.Hole).toBe(0);
      at += e.length;
    }
    expect(at).toBe(4 * MiB);
    await dev.close();
  });

  it('lists exports with blockrig nbd list', () => {
    const image = join(dir, 'list.img');
    writeFileSync(image, Buffer.alloc(MiB));
    return startQemuNbd(dir, 'list', image, 'demo').then((peer) => {
      const result = runCli(['nbd', 'list', `nbd+unix:///?socket=${peer.socketPath}`, '--json']);
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual([{ name: 'demo', description: '', uri: `nbd+unix:///demo?socket=${peer.socketPath}` }]);
      const bad = runCli(['nbd', 'list', 'nbd+unix:///?socket=/nonexistent.sock']);
      expect(bad.status).toBe(6);
      expect(bad.stderr).toContain('BLOCKRIG_E_DISCONNECTED');
    });
  });
});
