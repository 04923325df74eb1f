/**
 * The volume table: ping-pong records survive a torn copy, operator intent and served state merge per
 * member, and a keeper applies operator asks to a served volume, rebuilds online and records spares.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryDevice, MemoryStore } from '../../drivers/memory.js';
import type { BlockDevice } from '../../drivers/types.js';
import { ManualClock, systemClock } from '../../src/clock.js';
import { parseVolumeConfig } from '../../src/volume/config.js';
import { assembleStoredVolume, createStoredVolume, failStoredMember, rebuildStoredVolume, replaceStoredMember, scrubStoredVolume, setStoredRebuildPaused } from '../../src/volume/volume-admin.js';
import { VolumeKeeper } from '../../src/volume/volume-keeper.js';
import { VOLUME_RECORD_BYTES, VolumeTable } from '../../src/volume/volume-table.js';
import { patternBytes } from './helpers.js';

const MiB = 1024 * 1024;

/** A set of named memory media opened by URI, as a driver registry would. */
function media(): { open: (uri: string) => Promise<BlockDevice>; stores: Map<string, MemoryStore> } {
  const stores = new Map<string, MemoryStore>();
  return {
    stores,
    open: (uri) => {
      let store = stores.get(uri);
      if (store === undefined) {
        store = new MemoryStore(uri === 'meta' ? 4 * MiB : 2 * MiB);
        stores.set(uri, store);
      }
      return Promise.resolve(createMemoryDevice({ size: store.size, store, uri }));
    },
  };
}

describe('volume table', () => {
  it('stores a volume, survives a torn newest copy, and merges operator asks over served state', async () => {
    const { open } = media();
    const table = new VolumeTable(await open('meta'));
    const config = parseVolumeConfig({ name: 'v', level: 'raid5', members: ['a', 'b', 'c'], chunkSize: '16KiB' });
    await createStoredVolume(table, config, open);
    await expect(createStoredVolume(table, config, open)).rejects.toMatchObject({ code: 'BLOCKRIG_E_CONFLICT' });
    const failed = await failStoredMember(table, 'v', 1);
    expect(failed.entry.members.map((m) => m.state)).toEqual(['in-sync', 'failed', 'in-sync']);

    // Tear the newest intent copy: the reader falls back to the older one (member 1 in sync again).
    const newestCopy = failed.intentSequence % 2;
    await table.device.write((await table.location()).offset + (failed.slot * 4 + newestCopy) * VOLUME_RECORD_BYTES + 512, Buffer.alloc(512, 0xff));
    const after = await table.get('v');
    expect(after.entry.members.map((m) => m.state)).toEqual(['in-sync', 'in-sync', 'in-sync']);
    expect(after.intentSequence).toBe(failed.intentSequence - 1);

    await failStoredMember(table, 'v', 2);
    await expect(failStoredMember(table, 'v', 0)).rejects.toMatchObject({ code: 'BLOCKRIG_E_CONFLICT' });
    await expect(replaceStoredMember(table, 'v', 0, 'd', open)).rejects.toMatchObject({ code: 'BLOCKRIG_E_CONFLICT' });
    const replaced = await replaceStoredMember(table, 'v', 2, 'd', open);
    expect(replaced.entry.config.members).toEqual(['a', 'b', 'd']);
    expect(replaced.entry.members[2]).toMatchObject({ state: 'rebuilding', rebuilt: [] });
    await expect(table.get('w')).rejects.toMatchObject({ code: 'BLOCKRIG_E_NOT_FOUND' });
  });

  it('rebuilds offline with progress in the table, and scrubs clean', async () => {
    const { open } = media();
    const table = new VolumeTable(await open('meta'));
    await createStoredVolume(table, parseVolumeConfig({ name: 'v', level: 'raid6', members: ['a', 'b', 'c', 'd'], chunkSize: '16KiB' }), open);
    const { volume } = await assembleStoredVolume(table, 'v', open);
    const model = patternBytes(volume.size, 1);
    await volume.write(0, model);
    await volume.close();
    await failStoredMember(table, 'v', 0);
    await failStoredMember(table, 'v', 3);
    await replaceStoredMember(table, 'v', 0, 'e', open);
    await replaceStoredMember(table, 'v', 3, 'f', open);
    const results = await rebuildStoredVolume(table, 'v', open);
    expect(results.map((r) => r.member)).toEqual([0, 3]);
    expect((await table.get('v')).entry.members.map((m) => m.state)).toEqual(['in-sync', 'in-sync', 'in-sync', 'in-sync']);
    expect((await scrubStoredVolume(table, 'v', open, false)).mismatches).toEqual([]);
    await failStoredMember(table, 'v', 1);
    await failStoredMember(table, 'v', 2);
    const degraded = await assembleStoredVolume(table, 'v', open);
    expect((await degraded.volume.read(0, model.length)).equals(model)).toBe(true);
    await degraded.volume.close();
  });

  it('a keeper applies fail and replace from the table, rebuilds online while writes go on, and records spares', async () => {
    const { open } = media();
    const table = new VolumeTable(await open('meta'));
    await createStoredVolume(table, parseVolumeConfig({ name: 'v', level: 'raid1', members: ['a', 'b'], spares: ['s'], chunkSize: '16KiB' }), open);
    const { volume, stored } = await assembleStoredVolume(table, 'v', open);
    const clock = new ManualClock();
    const keeper = new VolumeKeeper({ table, volume, stored, open, clock, pollMs: 100 });
    keeper.start();
    const model = patternBytes(volume.size, 2);
    await volume.write(0, model);

    // Operator fails member 0: the spare takes the slot and is rebuilt online.
    await failStoredMember(table, 'v', 0);
    await clock.advance(100);
    await keeper.syncFromTable();
    for (let i = 0; i < 50 && volume.volumeState !== 'clean'; i++) await systemClock.sleep(5);
    expect(volume.volumeState).toBe('clean');
    await keeper.persist();
    let entry = (await table.get('v')).entry;
    expect(entry.config.members).toEqual(['s', 'b']);
    expect(entry.config.spares).toEqual([]);
    expect(entry.members.map((m) => m.state)).toEqual(['in-sync', 'in-sync']);

    // Operator fails and replaces member 1; writes continue while it rebuilds.
    await failStoredMember(table, 'v', 1);
    await replaceStoredMember(table, 'v', 1, 'n', open);
    await keeper.syncFromTable();
    expect(volume.status().members[1]).toMatchObject({ state: 'rebuilding', uri: 'n' });
    await clock.advance(100);
    const more = patternBytes(64 * 1024, 3);
    await volume.write(128 * 1024, more);
    more.copy(model, 128 * 1024);
    for (let i = 0; i < 50 && volume.volumeState !== 'clean'; i++) await systemClock.sleep(5);
    await keeper.stop();
    entry = (await table.get('v')).entry;
    expect(entry.config.members).toEqual(['s', 'n']);
    expect(entry.members.map((m) => m.state)).toEqual(['in-sync', 'in-sync']);
    volume.failMember(0);
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.close();
  });

  it('a paused volume keeps its replacement rebuilding until resumed', async () => {
    const { open } = media();
    const table = new VolumeTable(await open('meta'));
    await createStoredVolume(table, parseVolumeConfig({ name: 'p', level: 'raid1', members: ['a', 'b'], chunkSize: '16KiB' }), open);
    const { volume, stored } = await assembleStoredVolume(table, 'p', open);
    const clock = new ManualClock();
    const keeper = new VolumeKeeper({ table, volume, stored, open, clock, pollMs: 100, rowsPerStep: 8 });
    keeper.start();
    const model = patternBytes(volume.size, 4);
    await volume.write(0, model);
    expect((await setStoredRebuildPaused(table, 'p', true)).entry.rebuildPaused).toBe(true);
    await failStoredMember(table, 'p', 1);
    await replaceStoredMember(table, 'p', 1, 'n', open);
    await keeper.syncFromTable();
    for (let i = 0; i < 5; i++) await clock.advance(100);
    expect(volume.status().members[1]).toMatchObject({ state: 'rebuilding', rebuiltRows: 0 });

    await setStoredRebuildPaused(table, 'p', false);
    await keeper.syncFromTable();
    for (let i = 0; i < 100 && volume.volumeState !== 'clean'; i++) {
      await clock.advance(100);
      await systemClock.sleep(2);
    }
    expect(volume.volumeState).toBe('clean');
    await keeper.stop();
    volume.failMember(0);
    expect((await volume.read(0, volume.size)).equals(model)).toBe(true);
    await volume.close();
  });
});
