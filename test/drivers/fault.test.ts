import { join } from 'node:path';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createFaultDevice } from '../../drivers/fault.js';
import { createFileDevice, type FileDevice } from '../../drivers/file.js';
import { createLoopDevice } from '../../drivers/loop.js';
import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import { requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from './contract.js';

// With no rules active the fault wrapper must be transparent over every kind of inner device.
const dir = tempDir('blockrig-fault-');
const image = join(dir, 'fault.img');
let store = new MemoryStore(8 * 1024 * 1024);

testDriver('fault over memory', {
  open: () => {
    store = new MemoryStore(8 * 1024 * 1024);
    return Promise.resolve(createFaultDevice(createMemoryDevice({ size: store.size, store })));
  },
  reopenReadOnly: () => Promise.resolve(createFaultDevice(createMemoryDevice({ size: store.size, store, readOnly: true }))),
});

testDriver('fault over file', {
  open: async () => createFaultDevice(await createFileDevice({ path: image, createSize: 8 * 1024 * 1024 })),
  reopenReadOnly: async () => createFaultDevice(await createFileDevice({ path: image, readOnly: true })),
  cleanup: () => Promise.resolve(rmSync(image, { force: true })),
});

let loop: FileDevice | undefined;
testDriver('fault over loop', {
  open: async () => {
    requireRoot('attaching loop devices');
    rmSync(image, { force: true });
    writeFileSync(image, '');
    truncateSync(image, 8 * 1024 * 1024);
    loop = await createLoopDevice({ image });
    return createFaultDevice(loop);
  },
  reopenReadOnly: async () => createFaultDevice(await createFileDevice({ path: loop?.path ?? '', readOnly: true })),
});
