import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import { testDriver } from './contract.js';

let store = new MemoryStore(8 * 1024 * 1024);

testDriver('memory', {
  open: () => {
    store = new MemoryStore(8 * 1024 * 1024);
    return Promise.resolve(createMemoryDevice({ size: store.size, store }));
  },
  reopenReadOnly: () => Promise.resolve(createMemoryDevice({ size: store.size, store, readOnly: true })),
});
