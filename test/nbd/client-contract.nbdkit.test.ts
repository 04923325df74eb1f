import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { openNbdDevice } from '../../drivers/nbd.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from '../drivers/contract.js';
import { startNbdkit, type RunningPeer } from './peers.js';

const dir = tempDir('blockrig-nbdkit-');
let memory: RunningPeer | undefined;
let file: RunningPeer | undefined;

testDriver('nbd client on nbdkit memory', {
  open: async () => {
    memory ??= await startNbdkit(dir, 'memory', ['memory', '8M']);
    return openNbdDevice(memory.uri);
  },
  reopenReadOnly: () => openNbdDevice((memory as RunningPeer).uri, { readOnly: true }),
});

testDriver('nbd client on nbdkit file', {
  open: async () => {
    if (file === undefined) {
      const image = join(dir, 'file.img');
      writeFileSync(image, Buffer.alloc(8 * 1024 * 1024));
      file = await startNbdkit(dir, 'file', ['file', `file=${image}`]);
    }
    return openNbdDevice(file.uri);
  },
  reopenReadOnly: () => openNbdDevice((file as RunningPeer).uri, { readOnly: true }),
});
