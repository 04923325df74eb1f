/**
 * The volume task kinds' cache in a controller or CLI process: one assembly per volume, reassembled when
 * an operator changes the volume, the replaced one closed once the call using it is done, and every device
 * closed by `close()`, so a long-running controller does not pile up open members and a CLI can exit.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import type { BlockDevice } from '../../drivers/types.js';
import { systemClock } from '../../src/clock.js';
import { TaskKindRegistry } from '../../src/tasks/registry.js';
import { createVolumeTaskKinds } from '../../src/volume/tasks/volume-kinds.js';
import { parseVolumeConfig } from '../../src/volume/config.js';
import { VolumeCache } from '../../src/volume/tasks/volume-cache.js';
import { createStoredVolume, failStoredMember } from '../../src/volume/volume-admin.js';
import { VolumeTable } from '../../src/volume/volume-table.js';

const MiB = 1024 * 1024;

/** Named memory media opened by URI, counting the devices open right now. */
function media(): { open: (uri: string) => Promise<BlockDevice>; openNow: () => number } {
  const stores = new Map<string, MemoryStore>();
  let open = 0;
  return {
    openNow: () => open,
    open: (uri) => {
      let store = stores.get(uri);
      if (store === undefined) {
        store = new MemoryStore(uri === 'meta' ? 4 * MiB : 2 * MiB);
        stores.set(uri, store);
      }
      const device = createMemoryDevice({ size: store.size, store, uri });
      open++;
      const close = device.close.bind(device);
      device.close = async () => {
        if (!device.closed) open--;
        await close();
      };
      return Promise.resolve(device);
    },
  };
}

describe('volume cache', () => {
  it('reuses one assembly per generation, closes a replaced one after its last user, and closes all on close()', async () => {
    const { open, openNow } = media();
    const admin = await open('meta');
    const table = new VolumeTable(admin);
    await createStoredVolume(table, parseVolumeConfig({ name: 'v', level: 'raid5', members: ['a', 'b', 'c'], chunkSize: '16KiB' }), open);
    const baseline = openNow();
    const cache = new VolumeCache(open);

    const first = await cache.use('meta', 'v', ({ volume }) => Promise.resolve(volume));
    // Three members and the table's device stay open for the next call.
    expect(openNow()).toBe(baseline + 4);
    const again = await cache.use('meta', 'v', ({ volume }) => Promise.resolve(volume));
    expect(again).toBe(first);
    expect(openNow()).toBe(baseline + 4);

    // An operator changes the volume while a call still uses the old assembly.
    let release!: () => void;
    const held = cache.use('meta', 'v', ({ volume }) => new Promise<BlockDevice>((resolve) => (release = () => resolve(volume))));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await failStoredMember(table, 'v', 1);
    const second = await cache.use('meta', 'v', ({ volume }) => Promise.resolve(volume));
    expect(second).not.toBe(first);
    expect(first.closed).toBe(false);
    release();
    expect(await held).toBe(first);
    expect(first.closed).toBe(true);
    // Only the new assembly is open: its three members and its table's device.
    expect(openNow()).toBe(baseline + 4);

    await cache.close();
    expect(second.closed).toBe(true);
    expect(openNow()).toBe(baseline);
    await admin.close();
  });

  it('releases what the volume kinds assembled when their registry closes', async () => {
    const { open, openNow } = media();
    const admin = await open('meta');
    await createStoredVolume(new VolumeTable(admin), parseVolumeConfig({ name: 'v', level: 'raid1', members: ['a', 'b'], chunkSize: '16KiB' }), open);
    const baseline = openNow();
    const kinds = new TaskKindRegistry(createVolumeTaskKinds({ open, clock: systemClock }));
    const scrub = kinds.get('volume-scrub');
    const signal = new AbortController().signal;
    const ctx = { taskId: 1, partition: 0, offset: 0, length: 64 * 1024, resumeFrom: 0, resumeResult: 0, params: { volume: 'v', meta: 'meta' }, signal };
    const mismatches = await scrub.runPartition({ ...ctx, read: () => Promise.reject(new Error('unused')), write: () => Promise.reject(new Error('unused')), checkpoint: () => Promise.resolve() });
    expect(mismatches).toBe(0);
    expect(openNow()).toBe(baseline + 3);
    await kinds.close();
    expect(openNow()).toBe(baseline);
    await admin.close();
  });
});
