/**
 * A scrub task run by `blockrig controller run` processes reports where redundancy disagrees: silent
 * corruption written straight onto one member's medium shows up in the task result (`task show`) and in
 * `volume status` as the stripe's row, kind, member byte range and the member holding the wrong bytes; a
 * repair scrub lists what it rewrote and leaves the member's bytes as they were; many mismatches are listed
 * up to a cap and counted in full. Each level: raid1 (the minority copy), raid5 (P), raid6 (a data chunk,
 * located from P and Q).
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../support/cli.js';
import { startProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { FAST_TIMING, cli, image } from './process-helpers.js';

const MiB = 1024 * 1024;
const MEMBER = 4 * MiB;
const CHUNK = 64 * 1024;

interface Stripe {
  row: number;
  kind: string;
  offset: number;
  length: number;
  members: number[];
  repaired: boolean;
}
interface ScrubResult {
  mismatchSectors: number;
  mismatchedStripes: number;
  stripes: Stripe[];
  rewrittenStripes?: number;
}


function pokeFile(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, data, 0, data.length, offset);
  closeSync(fd);
}

function peekFile(path: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  readSync(fd, out, 0, length, offset);
  closeSync(fd);
  return out;
}

let dir = '';
let meta = '';

/** Submits a scrub of volume `name` and waits; returns its id and result. */
function scrub(name: string, target: string, repair: boolean): { id: string; result: ScrubResult } {
  const out = JSON.parse(
    cli(['task', 'submit', 'volume-scrub', '--meta', meta, '--target', target, '--offset', '0', '--length', String(MEMBER), '--partition-size', '256KiB', '--param', `volume=${name}`, '--param', `meta=${meta}`, '--param', `repair=${repair}`, '--wait', '--json']),
  ) as { id: string; outcome: { result: ScrubResult } };
  return { id: out.id, result: out.outcome.result };
}

const CASES = [
  // raid1: member 2's copy is the minority.
  { level: 'raid1', members: 3, row: 5, corrupt: 2, kind: 'mirror' },
  // raid5 over 3 members: row 5's P is on member 3 - 1 - (5 mod 3) = 0.
  { level: 'raid5', members: 3, row: 5, corrupt: 0, kind: 'p' },
  // raid6 over 4 members: row 6 has P on 1, Q on 2, data chunk 0 on member 3: located from P and Q.
  { level: 'raid6', members: 4, row: 6, corrupt: 3, kind: 'data' },
] as const;

describe('scrub tasks list mismatched stripes', () => {
  beforeAll(() => {
    dir = tempDir('blockrig-vol-scrub-stripes-');
    meta = image(dir, 'meta.img', 48 * MiB);
    cli(['meta', 'format', meta, '--controllers', '8', '--tasks', '8', '--max-chunks', '16', ...FAST_TIMING]);
    for (const c of CASES) {
      const members = Array.from({ length: c.members }, (_, i) => image(dir, `${c.level}-m${i}.img`, MEMBER));
      cli(['volume', 'create', c.level, '--meta', meta, '--level', c.level, '--chunk', String(CHUNK), '--assume-clean', ...members.flatMap((m) => ['--member', m])]);
    }
    for (let i = 0; i < 2; i++) startProcess(process.execPath, [CLI_PATH, 'controller', 'run', '--meta', meta, '--quiet']);
  });

  for (const c of CASES) {
    it(`${c.level}: silent corruption on member ${c.corrupt} is located by the task, shown by task show and volume status, and repaired`, () => {
      const victim = join(dir, `${c.level}-m${c.corrupt}.img`);
      const at = c.row * CHUNK + 4096;
      pokeFile(victim, at, Buffer.alloc(512, 0xa5));
      const expected = { row: c.row, kind: c.kind, offset: at, length: 512, members: [c.corrupt] };

      const check = scrub(c.level, join(dir, `${c.level}-m0.img`), false);
      expect(check.result).toMatchObject({ mismatchSectors: 1, mismatchedStripes: 1, stripes: [{ ...expected, repaired: false }] });
      const shown = JSON.parse(cli(['task', 'show', check.id, '--meta', meta, '--json'])) as { outcome: { result: ScrubResult } };
      expect(shown.outcome.result.stripes).toEqual([{ ...expected, repaired: false }]);
      const status = JSON.parse(cli(['volume', 'status', c.level, '--meta', meta, '--json'])) as { lastScrub: { task: string; mismatchedStripes: number; stripes: Stripe[] } };
      expect(status.lastScrub).toMatchObject({ task: check.id, mismatchedStripes: 1, stripes: [{ ...expected, repaired: false }] });
      expect(cli(['volume', 'status', c.level, '--meta', meta])).toContain(`last scrub: task ${check.id}`);

      const repair = scrub(c.level, join(dir, `${c.level}-m0.img`), true);
      expect(repair.result).toMatchObject({ mismatchedStripes: 1, rewrittenStripes: 1, stripes: [{ ...expected, repaired: true }] });
      // The wrong bytes were rewritten from redundancy: the members were all zero.
      expect(peekFile(victim, at, 512).equals(Buffer.alloc(512))).toBe(true);
      expect(scrub(c.level, join(dir, `${c.level}-m0.img`), false).result).toMatchObject({ mismatchSectors: 0, mismatchedStripes: 0, stripes: [] });
    }, 120_000);
  }

  it('raid1: 20 corrupted stripes are counted in full and listed up to the cap (16 in the task, 8 in volume status)', () => {
    const victim = join(dir, 'raid1-m1.img');
    for (let row = 30; row < 50; row++) pokeFile(victim, row * CHUNK, Buffer.alloc(512, row));
    const check = scrub('raid1', join(dir, 'raid1-m0.img'), false);
    expect(check.result.mismatchedStripes).toBe(20);
    expect(check.result.mismatchSectors).toBe(20);
    expect(check.result.stripes.map((s) => s.row)).toEqual(Array.from({ length: 16 }, (_, i) => 30 + i));
    const status = JSON.parse(cli(['volume', 'status', 'raid1', '--meta', meta, '--json'])) as { lastScrub: { mismatchedStripes: number; stripes: Stripe[] } };
    expect(status.lastScrub.mismatchedStripes).toBe(20);
    expect(status.lastScrub.stripes).toHaveLength(8);
    expect(cli(['volume', 'status', 'raid1', '--meta', meta])).toContain('(first 8 listed)');
  }, 120_000);
});
