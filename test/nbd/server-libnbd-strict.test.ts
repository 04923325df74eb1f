/**
 * libnbd, called directly through koffi (no nbdsh), against `blockrig nbd serve`. With libnbd's strict mode
 * turned off it sends what its own checks would otherwise stop (unaligned, past the end, too large, writes
 * to a read-only export, unadvertised flags), and the server must answer each with the spec's errno; with
 * strict mode on, well-formed I/O must pass.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingDependencyError } from '../../src/errors.js';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const LIBNBD = '/usr/lib/x86_64-linux-gnu/libnbd.so.0';
const dir = tempDir('blockrig-nbd-libnbd-');
const MiB = 1024 * 1024;
/** Linux errno values libnbd reports. */
const E = { EPERM: 1, EINVAL: 22, ENOSPC: 28, EOVERFLOW: 75 };

interface Libnbd {
  create(): unknown;
  setStrictMode(h: unknown, flags: number): number;
  connectUri(h: unknown, uri: string): number;
  pread(h: unknown, buf: Buffer, count: number, offset: number, flags: number): number;
  pwrite(h: unknown, buf: Buffer, count: number, offset: number, flags: number): number;
  zero(h: unknown, count: number, offset: number, flags: number): number;
  getErrno(): number;
  getError(): string;
  close(h: unknown): void;
}

let nbd: Libnbd;
let uriBase = '';
let roBase = '';
const handles: unknown[] = [];

function load(): Libnbd {
  const path = [LIBNBD, '/usr/lib/aarch64-linux-gnu/libnbd.so.0'].find((p) => existsSync(p));
  if (path === undefined) throw new MissingDependencyError(`the library ${LIBNBD}`, 'libnbd0');
  const lib = koffi.load(path);
  return {
    create: lib.func('void *nbd_create()'),
    setStrictMode: lib.func('int nbd_set_strict_mode(void *h, uint32_t flags)'),
    connectUri: lib.func('int nbd_connect_uri(void *h, const char *uri)'),
    pread: lib.func('int nbd_pread(void *h, void *buf, size_t count, uint64_t offset, uint32_t flags)'),
    pwrite: lib.func('int nbd_pwrite(void *h, const void *buf, size_t count, uint64_t offset, uint32_t flags)'),
    zero: lib.func('int nbd_zero(void *h, uint64_t count, uint64_t offset, uint32_t flags)'),
    getErrno: lib.func('int nbd_get_errno()'),
    getError: lib.func('const char *nbd_get_error()'),
    close: lib.func('void nbd_close(void *h)'),
  };
}

function connectTo(name: string, strict: boolean): unknown {
  const h = nbd.create();
  handles.push(h);
  if (!strict) expect(nbd.setStrictMode(h, 0)).toBe(0);
  if (nbd.connectUri(h, `${uriBase}/${name}`) !== 0) throw new Error(`nbd_connect_uri: ${nbd.getError()}`);
  return h;
}

/** Runs a libnbd call expected to fail and returns the errno the server sent. */
function errnoOf(result: number): number {
  expect(result).toBe(-1);
  return nbd.getErrno();
}

beforeAll(async () => {
  nbd = load();
  const image = join(dir, 'strict.img');
  writeFileSync(image, Buffer.alloc(8 * MiB, 0x61));
  const server = startProcess(process.execPath, [CLI_PATH, 'nbd', 'serve', image, '--listen', '127.0.0.1:0', '--name', 'disk', '--json']);
  await waitFor(() => server.stdout().trim().endsWith('}') || server.child.exitCode !== null, 20_000, 'blockrig nbd serve to listen');
  uriBase = `nbd://127.0.0.1:${(JSON.parse(server.stdout()) as { listening: { port: number } }).listening.port}`;
  const ro = startProcess(process.execPath, [CLI_PATH, 'nbd', 'serve', image, '--listen', '127.0.0.1:0', '--name', 'ro', '--read-only', '--json']);
  await waitFor(() => ro.stdout().trim().endsWith('}') || ro.child.exitCode !== null, 20_000, 'blockrig nbd serve --read-only to listen');
  roBase = `nbd://127.0.0.1:${(JSON.parse(ro.stdout()) as { listening: { port: number } }).listening.port}`;
});


afterAll(() => {
  for (const h of handles) nbd.close(h);
});

describe('libnbd with strict mode off against blockrig nbd serve', () => {
  it('gets EINVAL for an unaligned read after agreeing to a 512-byte minimum', () => {
    const h = connectTo('disk', false);
    expect(errnoOf(nbd.pread(h, Buffer.alloc(100), 100, 1, 0))).toBe(E.EINVAL);
  });

  it('gets EINVAL reading past the end and ENOSPC writing past it', () => {
    const h = connectTo('disk', false);
    expect(errnoOf(nbd.pread(h, Buffer.alloc(1024), 1024, 8 * MiB - 512, 0))).toBe(E.EINVAL);
    expect(errnoOf(nbd.pwrite(h, Buffer.alloc(1024), 1024, 8 * MiB - 512, 0))).toBe(E.ENOSPC);
  });

  it('gets EOVERFLOW for a read above the 32 MiB maximum payload', () => {
    const h = connectTo('disk', false);
    expect(errnoOf(nbd.pread(h, Buffer.alloc(33 * MiB), 33 * MiB, 0, 0))).toBe(E.EOVERFLOW);
  });

  it('gets EINVAL for a flag the server did not advertise (FAST_ZERO)', () => {
    const h = connectTo('disk', false);
    const LIBNBD_CMD_FLAG_FAST_ZERO = 0x10;
    expect(errnoOf(nbd.zero(h, 4096, 0, LIBNBD_CMD_FLAG_FAST_ZERO))).toBe(E.EINVAL);
  });

  it('gets EPERM writing to a read-only export, and the data stays', () => {
    const h = nbd.create();
    handles.push(h);
    expect(nbd.setStrictMode(h, 0)).toBe(0);
    expect(nbd.connectUri(h, `${roBase}/ro`)).toBe(0);
    expect(errnoOf(nbd.pwrite(h, Buffer.alloc(4096), 4096, 0, 0))).toBe(E.EPERM);
    const back = Buffer.alloc(4096);
    expect(nbd.pread(h, back, 4096, 0, 0)).toBe(0);
    expect(back.every((b) => b === 0x61)).toBe(true);
  });
});

describe('libnbd with strict mode on against blockrig nbd serve', () => {
  it('writes and reads back aligned data, including with FUA', () => {
    const h = connectTo('disk', true);
    const data = Buffer.alloc(64 * 1024, 0x3c);
    const LIBNBD_CMD_FLAG_FUA = 0x01;
    expect(nbd.pwrite(h, data, data.length, MiB, LIBNBD_CMD_FLAG_FUA)).toBe(0);
    const back = Buffer.alloc(data.length);
    expect(nbd.pread(h, back, back.length, MiB, 0)).toBe(0);
    expect(back.equals(data)).toBe(true);
  });
});
