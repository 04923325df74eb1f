/**
 * The page-cache fast path of buffered file I/O (`drivers/native/nowait-io.ts`, `drivers/file-io.ts`):
 * a cached read is done at once on the event loop, a read it can do only in part is finished by the
 * thread pool, and the end of a file still comes back as a short count.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFully, writeFully, type FastPath } from '../../drivers/file-io.js';
import { preadNoWait } from '../../drivers/native/nowait-io.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-fast-path-');
const path = join(dir, 'cached.img');
const content = randomBytes(1024 * 1024);
writeFileSync(path, content); // just written, so every page is in the page cache
const fd = openSync(path, 'r+');
afterAll(() => closeSync(fd));

describe('page-cache fast path', () => {
  it('reads cached pages at once, without the thread pool', () => {
    const target = Buffer.alloc(8192);
    expect(preadNoWait(fd, target, 4096)).toBe(8192);
    expect(Buffer.compare(target, content.subarray(4096, 4096 + 8192))).toBe(0);
  });

  it('fills the whole buffer through readFully, and keeps the fast path on for a file that has it', async () => {
    const fast: FastPath = { reads: true, writes: true, maxBytes: 1024 * 1024 };
    const target = Buffer.alloc(256 * 1024);
    expect(await readFully(fd, target, 512 * 1024, fast)).toBe(target.length);
    expect(Buffer.compare(target, content.subarray(512 * 1024, 768 * 1024))).toBe(0);
    expect(fast.reads).toBe(true);
  });

  it('reports the end of the file as a short count, after a partial fast read', async () => {
    const fast: FastPath = { reads: true, writes: true, maxBytes: 1024 * 1024 };
    const target = Buffer.alloc(16384);
    expect(await readFully(fd, target, content.length - 4096, fast)).toBe(4096);
    expect(Buffer.compare(target.subarray(0, 4096), content.subarray(content.length - 4096))).toBe(0);
  });

  it('writes through writeFully with the fast path tried or turned off, and the data lands either way', async () => {
    const fast: FastPath = { reads: true, writes: true, maxBytes: 1024 * 1024 };
    const data = randomBytes(8192);
    await writeFully(fd, data, 65536, fast);
    await writeFully(fd, data, 3 * 65536, fast); // after a filesystem without non-blocking writes said so
    for (const at of [65536, 3 * 65536]) {
      const back = Buffer.alloc(8192);
      expect(await readFully(fd, back, at, fast)).toBe(8192);
      expect(Buffer.compare(back, data)).toBe(0);
    }
    expect(fast.reads).toBe(true);
  });

  it('leaves requests above maxBytes to the thread pool', async () => {
    const fast: FastPath = { reads: true, writes: true, maxBytes: 4096 };
    const target = Buffer.alloc(65536);
    expect(await readFully(fd, target, 0, fast)).toBe(65536);
    expect(Buffer.compare(target, content.subarray(0, 65536))).toBe(0);
  });
});
