/** `blockrig meta format|dump|check` as a user runs them, on image files. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../src/errors.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp.js';

const SMALL = ['--controllers', '4', '--tasks', '2', '--max-chunks', '8'];

describe('blockrig meta', () => {
  const dir = tempDir();

  it('formats a blank image, dumps and checks it, and refuses to format it again without --force', () => {
    const img = join(dir, 'a.img');
    writeFileSync(img, Buffer.alloc(4 * 1024 * 1024));
    const fmt = runCli(['meta', 'format', img, ...SMALL, '--json']);
    expect(fmt.status, fmt.stderr).toBe(0);
    expect(readFileSync(img).subarray(0, 8).toString('latin1')).toBe('BLKRIG01');
    const dump = runCli(['meta', 'dump', img, '--json']);
    expect(dump.status, dump.stderr).toBe(0);
    const d = JSON.parse(dump.stdout) as { superblock: { formatVersion: number; geometry: { hostSlots: number } }; hosts: unknown[] };
    expect(d.superblock.formatVersion).toBe(1);
    expect(d.hosts).toHaveLength(4);
    const check = runCli(['meta', 'check', img]);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^clean/m);
    const again = runCli(['meta', 'format', img, ...SMALL]);
    expect(again.status).toBe(ERROR_TABLE.BLOCKRIG_E_CONFLICT.exit);
    expect(again.stderr).toMatch(/already holds a blockrig metadata region.*--force/);
    expect(runCli(['meta', 'format', img, ...SMALL, '--force']).status).toBe(0);
  });

  it('refuses an image with foreign data unless --force', () => {
    const img = join(dir, 'b.img');
    const data = Buffer.alloc(4 * 1024 * 1024);
    data.write('not blockrig data', 20_000);
    writeFileSync(img, data);
    const r = runCli(['meta', 'format', img, ...SMALL]);
    expect(r.status).toBe(ERROR_TABLE.BLOCKRIG_E_FOREIGN_DATA.exit);
    expect(r.stderr).toMatch(/refusing to write.*--force/);
    expect(readFileSync(img).equals(data)).toBe(true);
  });

  it('gives a clear error and writes nothing when both superblock copies are damaged', () => {
    const img = join(dir, 'c.img');
    writeFileSync(img, Buffer.alloc(4 * 1024 * 1024));
    expect(runCli(['meta', 'format', img, ...SMALL]).status).toBe(0);
    const bytes = readFileSync(img);
    bytes[200] = (bytes[200] as number) ^ 0xff;
    bytes[4096 + 200] = (bytes[4096 + 200] as number) ^ 0xff;
    writeFileSync(img, bytes);
    for (const args of [['meta', 'check', img], ['meta', 'dump', img], ['task', 'submit', 'fill', '--meta', img, '--partitions', '4']]) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(ERROR_TABLE.BLOCKRIG_E_META_CORRUPT.exit);
      expect(r.stderr).toMatch(/both superblock copies of the metadata region are damaged.*nothing was written/);
    }
    expect(readFileSync(img).equals(bytes)).toBe(true);
  });

  it('names the problem for a device without a region', () => {
    const img = join(dir, 'd.img');
    writeFileSync(img, Buffer.alloc(1024 * 1024));
    const r = runCli(['meta', 'check', img]);
    expect(r.status).toBe(ERROR_TABLE.BLOCKRIG_E_META_NO_REGION.exit);
    expect(r.stderr).toMatch(/holds no blockrig metadata region: format it with blockrig meta format/);
  });
});
