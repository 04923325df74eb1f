/**
 * The page-cache fast path of buffered file I/O (`drivers/native/nowait-io.ts`, `drivers/file-io.ts`):
 * a cached read is done at once on the event loop, a read it can do only in part is finished by the
 * thread pool, and the end of a file still comes back as a short count.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fastPath, readFully, writeFully } from '../../drivers/file-io.js';
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
    const fast = fastPath(true, 1024 * 1024);
    const target = Buffer.alloc(256 * 1024);
    expect(await readFully(fd, target, 512 * 1024, fast)).toBe(target.length);
    expect(Buffer.compare(target, content.subarray(512 * 1024, 768 * 1024))).toBe(0);
    expect(fast.reads).toMatchObject({ on: true, misses: 0, skip: 0 });
  });

  it('reports the end of the file as a short count, after a partial fast read', async () => {
    const fast = fastPath(true, 1024 * 1024);
    const target = Buffer.alloc(16384);
    expect(await readFully(fd, target, content.length - 4096, fast)).toBe(4096);
    expect(Buffer.compare(target.subarray(0, 4096), content.subarray(content.length - 4096))).toBe(0);
  });

  it('writes through writeFully with the fast path tried or turned off, and the data lands either way', async () => {
    const fast = fastPath(true, 1024 * 1024);
    const data = randomBytes(8192);
    await writeFully(fd, data, 65536, fast);
    await writeFully(fd, data, 3 * 65536, fast); // after a filesystem without non-blocking writes said so
    for (const at of [65536, 3 * 65536]) {
      const back = Buffer.alloc(8192);
      expect(await readFully(fd, back, at, fast)).toBe(8192);
      expect(Buffer.compare(back, data)).toBe(0);
    }
    expect(fast.reads).toMatchObject({ on: true, misses: 0, skip: 0 });
  });

  it('backs off after misses on pages not in the cache, and comes back after a hit', async () => {
    const cold = join(dir, 'cold.img');
    const data = randomBytes(4 * 1024 * 1024);
    writeFileSync(cold, data);
    const coldFd = openSync(cold, 'r');
    try {
      fsyncSync(coldFd);
      // Clean pages of a file nobody maps can be dropped: dd's nocache is posix_fadvise(DONTNEED).
      execFileSync('dd', [`if=${cold}`, 'iflag=nocache', 'count=0', 'status=none']);
      const fast = fastPath(true, 1024 * 1024);
      const target = Buffer.alloc(4096);
      const far = [3 * 1024 * 1024, 1024 * 1024, 2 * 1024 * 1024 + 65536]; // apart, so read-ahead of one misses the next
      for (const [i, at] of far.entries()) {
        expect(await readFully(coldFd, target, at, fast)).toBe(4096);
        expect(Buffer.compare(target, data.subarray(at, at + 4096))).toBe(0);
        if (i === 0) expect(fast.reads).toMatchObject({ on: true, misses: 1, skip: 1 });
      }
      expect(fast.reads).toMatchObject({ on: true, misses: 2, skip: 3 }); // the second read skipped, the third missed
      for (let i = 0; i < 3; i++) await readFully(coldFd, target, far[0] as number, fast); // skipped
      expect(fast.reads.skip).toBe(0);
      await readFully(coldFd, target, far[0] as number, fast); // cached now: a hit
      expect(fast.reads).toMatchObject({ on: true, misses: 0, skip: 0 });
    } finally {
      closeSync(coldFd);
    }
  });

  it('leaves requests above maxBytes to the thread pool', async () => {
    const fast = fastPath(true, 4096);
    const target = Buffer.alloc(65536);
    expect(await readFully(fd, target, 0, fast)).toBe(65536);
    expect(Buffer.compare(target, content.subarray(0, 65536))).toBe(0);
  });
});
