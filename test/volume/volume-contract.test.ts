/**
 * A volume is a BlockDevice: the driver contract suite runs on every level healthy, degraded by as many
 * failed members as the level tolerates, and while a replacement member is half rebuilt.
 */
import { describe } from 'vitest';
import { createMemoryDevice } from '../../drivers/memory.js';
import { testDriver } from '../drivers/contract.js';
import { LEVELS, makeVolume, toleranceOf } from './helpers.js';

const MiB = 1024 * 1024;

describe('volume contract', () => {
  for (const { level, members } of LEVELS) {
    const memberSize = level === 'raid1' ? 4 * MiB : 2 * MiB;

    testDriver(`${level} healthy`, { open: () => Promise.resolve(makeVolume(level, members, memberSize).volume) });

    testDriver(`${level} degraded (${toleranceOf(level, members)} failed)`, {
      open: () => {
        const { volume } = makeVolume(level, members, memberSize);
        for (let i = 0; i < toleranceOf(level, members); i++) volume.failMember(i * 2 % members, 'test');
        return Promise.resolve(volume);
      },
    });

    testDriver(`${level} rebuilding`, {
      open: async () => {
        const { volume } = makeVolume(level, members, memberSize);
        volume.failMember(1, 'test');
        volume.replaceMember(1, createMemoryDevice({ size: memberSize }));
        await volume.rebuildRows(1, 0, Math.floor(volume.layout.rows / 2));
        return volume;
      },
    });
  }
});
