/**
 * Every level over real member devices: nbdkit memory exports behind nbdkit's error filter and loop
 * devices. Known data goes in; members are failed by nbdkit returning EIO (its error filter, switched on
 * by creating its error file); everything reads back through the degraded volume; the failed members are
 * replaced by fresh loop devices and rebuilt; a scrub finds 0 mismatches; other members fail and the data
 * is still identical.
 */
import { describe, expect, it } from 'vitest';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice } from '../../drivers/index.js';
import { openVolume, parseVolumeConfig, type VolumeLevel } from '../../src/volume/index.js';
import { startNbdkit } from '../nbd/peers.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { patternBytes } from './helpers.js';

const MiB = 1024 * 1024;
const MEMBER = 16 * MiB;

const CASES: { level: VolumeLevel; nbdkit: number; loops: number }[] = [
  { level: 'raid1', nbdkit: 1, loops: 2 },
  { level: 'raid5', nbdkit: 1, loops: 2 },
  { level: 'raid6', nbdkit: 2, loops: 2 },
];

function image(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, MEMBER);
  return path;
}

describe('volumes over nbdkit exports and loop devices', () => {
  for (const c of CASES) {
    it(`${c.level}: nbdkit EIO fails members, degraded read-back, replace by loop devices, rebuild, scrub 0 mismatches`, async () => {
      requireCommand('nbdkit', 'nbdkit');
      requireRoot('attaching loop devices');
      const dir = tempDir(`blockrig-vol-nbdkit-${c.level}-`);
      const errorFiles = Array.from({ length: c.nbdkit }, (_, i) => join(dir, `inject-${i}`));
      const exports = await Promise.all(
        errorFiles.map((file, i) => startNbdkit(dir, `${c.level}-${i}`, ['memory', `size=${MEMBER}`, 'error-rate=1', `error-file=${file}`], ['--filter=error'])),
      );
      const uris = [...exports.map((e) => e.uri), ...Array.from({ length: c.loops }, (_, i) => `loop://${image(dir, `loop-${i}.img`)}`)];
      const volume = await openVolume(parseVolumeConfig({ name: `nbd-${c.level}`, level: c.level, members: uris, chunkSize: '64KiB', errorThreshold: 4 }));
      try {
        const model = patternBytes(volume.size, 31);
        await volume.write(0, model);
        await volume.flush();

        for (const file of errorFiles) writeFileSync(file, '');
        expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
        // Writes while nbdkit fails them: each nbdkit member is failed on its first write error.
        const update = patternBytes(2 * MiB, 32);
        await volume.write(MiB, update);
        update.copy(model, MiB);
        const status = volume.status();
        expect(status.members.slice(0, c.nbdkit).map((m) => m.state)).toEqual(Array(c.nbdkit).fill('failed'));
        expect(status.members.slice(c.nbdkit).every((m) => m.state === 'in-sync')).toBe(true);
        expect(status.state).toBe('degraded');
        expect((await volume.read(0, volume.size)).equals(model)).toBe(true);

        for (let i = 0; i < c.nbdkit; i++) {
          const old = volume.replaceMember(i, await openDevice(`loop://${image(dir, `new-${i}.img`)}`));
          await old?.close();
          const result = await volume.rebuildRows(i, 0, volume.layout.rows);
          expect(result.unreadable).toEqual([]);
        }
        expect(volume.volumeState).toBe('clean');
        const scrub = await volume.scrubRows(0, volume.layout.rows);
        expect(scrub).toMatchObject({ mismatches: [], rowsSkipped: 0, rowsChecked: volume.layout.rows });

        // Lose the original loop members as far as the level allows: the rebuilt members carry the data.
        const tolerance = c.level === 'raid1' ? 2 : c.level === 'raid5' ? 1 : 2;
        for (let k = 0; k < tolerance; k++) volume.failMember(c.nbdkit + (k % c.loops), 'test');
        expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
      } finally {
        await volume.close();
      }
    });
  }
});
