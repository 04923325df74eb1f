import { join } from 'node:path';
import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import { createFileDevice } from '../../drivers/file.js';
import { openNbdDevice } from '../../drivers/nbd.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from '../drivers/contract.js';
import { startBlockrigServer, unixUri } from './peers.js';

const dir = tempDir('blockrig-nbd-own-');
let socketPath: string | undefined;

async function ensureServer(): Promise<string> {
  if (socketPath === undefined) {
    const store = new MemoryStore(8 * 1024 * 1024);
    const file = await createFileDevice({ path: join(dir, 'disk.img'), createSize: 8 * 1024 * 1024 });
    const started = await startBlockrigServer(dir, 'contract', [
      { name: 'mem', device: createMemoryDevice({ size: store.size, store }) },
      { name: 'file', device: file },
    ]);
    socketPath = started.socketPath;
  }
  return socketPath;
}

testDriver('nbd client on blockrig server (memory export)', {
  open: async () => openNbdDevice(unixUri(await ensureServer(), 'mem')),
  reopenReadOnly: async () => openNbdDevice(unixUri(await ensureServer(), 'mem'), { readOnly: true }),
});

testDriver('nbd client on blockrig server (file export, one connection, simple replies)', {
  open: async () => openNbdDevice(unixUri(await ensureServer(), 'file', 'connections=1'), { structuredReplies: false }),
  reopenReadOnly: async () => openNbdDevice(unixUri(await ensureServer(), 'file'), { readOnly: true }),
});
