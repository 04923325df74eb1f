import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { openNbdDevice } from '../../drivers/nbd.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from '../drivers/contract.js';
import { startNbdServer, startQemuNbd, type RunningPeer } from './peers.js';

const dir = tempDir('blockrig-qemu-nbd-');
let qemu: RunningPeer | undefined;
let reference: RunningPeer | undefined;

testDriver('nbd client on qemu-nbd', {
  open: async () => {
    if (qemu === undefined) {
      const image = join(dir, 'qemu.img');
      writeFileSync(image, Buffer.alloc(8 * 1024 * 1024));
      qemu = await startQemuNbd(dir, 'a', image);
    }
    return openNbdDevice(qemu.uri);
  },
  reopenReadOnly: () => openNbdDevice((qemu as RunningPeer).uri, { readOnly: true }),
});

// nbd-server 3.24 has no structured replies, so this runs the simple-reply path of the client.
testDriver('nbd client on nbd-server (simple replies)', {
  open: async () => {
    if (reference === undefined) {
      const image = join(dir, 'reference.img');
      writeFileSync(image, Buffer.alloc(8 * 1024 * 1024));
      reference = await startNbdServer(dir, 'a', image);
    }
    return openNbdDevice(reference.uri);
  },
  reopenReadOnly: () => openNbdDevice((reference as RunningPeer).uri, { readOnly: true }),
});
