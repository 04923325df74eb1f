/**
 * Seed 000 claim 14: the persistent data at the cluster is durable across kill -9 at any instant. A writer
 * process stores changes in a tight loop and is killed -9 at a random moment, several times over one
 * store: every change it reported stored is there afterwards, in order, and the database is intact.
 */
import Database from 'better-sqlite3';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ClusterStore } from '../../src/cluster/store.js';
import { startProcess, waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-kill9-');
const writer = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-writer.ts');

describe('seed 000 claim 14: persistent data survives kill -9', () => {
  it('keeps every change reported stored, across five kills at random instants', async () => {
    const dataDir = join(dir, 'c1');
    const reported: number[] = [];
    for (let round = 0; round < 5; round++) {
      const proc = startProcess(process.execPath, ['--import', 'tsx', writer, dataDir]);
      await waitFor(() => proc.stdout().split('\n').length > 20, 20_000, 'the writer to store changes');
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 300)));
      proc.child.kill('SIGKILL');
      await proc.exited;
      reported.push(...proc.stdout().split('\n').filter((l) => /^\d+$/.test(l)).map(Number));
    }
    const db = new Database(join(dataDir, 'cluster.db'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    const store = new ClusterStore(dataDir, 'c1');
    const stored = new Set(store.changesAfter(0, 1_000_000).map((c) => c.seq));
    const missing = reported.filter((seq) => !stored.has(seq));
    expect(missing).toEqual([]);
    expect(reported.length).toBeGreaterThan(100);
    expect(store.device('d0')?.reason).toMatch(/^flip \d+$/);
    store.close();
  });
});
