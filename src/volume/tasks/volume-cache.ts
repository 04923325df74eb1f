/**
 * What every volume task kind needs in a controller process: the volume assembled once per (metadata
 * device, volume, intent generation), the rows a partition covers, the rows of a task's partition by
 * number (for completion actions), and the wait for the serving process to take a new member.
 */
import type { BlockDevice } from '../../../drivers/types.js';
import type { Clock } from '../../clock.js';
import { InvalidArgumentError, TimeoutError } from '../../errors.js';
import type { TaskRecord } from '../../metadata/task-record.js';
import { MemberState } from '../member.js';
import type { Volume } from '../volume.js';
import { assembleStoredVolume } from '../volume-admin.js';
import { VolumeTable } from '../volume-table.js';

/** What the kinds need from their process. */
export interface VolumeTaskEnv {
  readonly open: (uri: string) => Promise<BlockDevice>;
  readonly clock: Clock;
  /** Longest wait for the serving process to apply a replacement (default 60 s). */
  readonly serverWaitMs?: number;
}

/** An assembled volume and the table it came from, with the calls using it. */
interface CacheEntry {
  /** The table's intent generation it was assembled from. */
  readonly generation: number;
  readonly ready: Promise<{ volume: Volume; table: VolumeTable }>;
  users: number;
  /** A newer generation replaced it: closed when its last user is done. */
  retired: boolean;
}

/**
 * One assembled volume per (metadata device, volume) in this process, reassembled when the table's intent
 * generation moves on (an operator changed the volume). A replaced assembly is closed (its member devices
 * and its table's device) once the calls using it are done, and `close()` releases them all when the
 * process stops using the kinds, so neither a long-running controller nor a short CLI keeps devices open.
 */
export class VolumeCache {
  readonly #open: VolumeTaskEnv['open'];
  readonly #entries = new Map<string, CacheEntry>();

  constructor(open: VolumeTaskEnv['open']) {
    this.#open = open;
  }

  /** Runs `work` with the volume as the table describes it now, and the table. */
  async use<T>(meta: string, name: string, work: (v: { volume: Volume; table: VolumeTable }) => Promise<T>): Promise<T> {
    const entry = await this.#current(meta, name);
    entry.users++;
    try {
      return await work(await entry.ready);
    } finally {
      entry.users--;
      if (entry.retired && entry.users === 0) await closeEntry(entry);
    }
  }

  /** Closes every assembled volume (callers are done with the kinds). */
  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.allSettled(entries.map((e) => closeEntry(e)));
  }

  async #current(meta: string, name: string): Promise<CacheEntry> {
    const metaDevice = await this.#open(meta);
    const table = new VolumeTable(metaDevice);
    const stored = await table.get(name).catch(async (err: unknown) => {
      await metaDevice.close();
      throw err;
    });
    const key = `${meta}\n${name}`;
    const generation = stored.intent.generation;
    const existing = this.#entries.get(key);
    if (existing !== undefined && existing.generation === generation) {
      await metaDevice.close();
      return existing;
    }
    const entry: CacheEntry = { generation, ready: assembleStoredVolume(table, name, this.#open).then(({ volume }) => ({ volume, table })), users: 0, retired: false };
    this.#entries.set(key, entry);
    entry.ready.catch(async () => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      await metaDevice.close().catch(() => undefined);
    });
    // The new assembly is in place before the old one is closed, so a concurrent call never sees the old.
    if (existing !== undefined) {
      existing.retired = true;
      if (existing.users === 0) await closeEntry(existing);
    }
    return entry;
  }

  /** Runs `work` with the volume table of `meta` alone (completion actions that only write the table). */
  async withTable<T>(meta: string, work: (table: VolumeTable) => Promise<T>): Promise<T> {
    const device = await this.#open(meta);
    try {
      return await work(new VolumeTable(device));
    } finally {
      await device.close();
    }
  }
}

/** Closes an assembly's volume (and its members) and its table's device; a failed assembly has nothing open. */
async function closeEntry(entry: CacheEntry): Promise<void> {
  const assembled = await entry.ready.catch(() => undefined);
  if (assembled === undefined) return;
  await Promise.allSettled([assembled.volume.close(), assembled.table.device.close()]);
}

/** Rows [first, end) a member byte range covers; the range must hold whole chunks. */
export function rowsOf(volume: Volume, offset: number, length: number): [number, number] {
  const chunk = volume.layout.chunkSize;
  if (offset % chunk !== 0 || (offset + length) % chunk !== 0) {
    throw new InvalidArgumentError(`partition [${offset}, ${offset + length}) does not cover whole ${chunk}-byte rows: use a partition size that is a multiple of the chunk size`);
  }
  return [offset / chunk, Math.min(volume.layout.rows, (offset + length) / chunk)];
}

/** Member bytes per step between checkpoints, unless `stepRows` says otherwise: the row pipeline's read-ahead. */
const STEP_BYTES = 8 * 1024 * 1024;

/** Rows per step between checkpoints: `stepRows`, or 8 MiB of member data. */
export function stepRowsOf(volume: Volume, stepRows: number | undefined): number {
  return stepRows ?? Math.max(1, Math.floor(STEP_BYTES / volume.layout.chunkSize));
}

/** Rows of partition `partition` of a task. */
export function partitionRows(volume: Volume, task: TaskRecord, partition: number): [number, number] {
  const { spec } = task;
  const start = partition * spec.partitionSize;
  return rowsOf(volume, spec.offset + start, Math.min(spec.partitionSize, spec.length - start));
}

/**
 * Waits until the serving process has applied the operator change that put a new device in member
 * `member`'s slot (its state record's generation reaches the ask's) and runs that member as `state`.
 */
export async function waitForServer(table: VolumeTable, name: string, member: number, state: MemberState, env: VolumeTaskEnv, signal: AbortSignal): Promise<void> {
  const started = env.clock.now();
  for (;;) {
    const stored = await table.get(name);
    const asked = stored.intent.members[member]?.generation ?? 0;
    if (stored.state !== undefined && stored.state.generation >= asked && (state !== MemberState.Rebuilding || stored.state.members[member]?.state === MemberState.Rebuilding)) return;
    if (env.clock.now() - started > (env.serverWaitMs ?? 60_000)) {
      throw new TimeoutError(`the process serving volume ${name} has not applied member ${member}'s change: start blockrig volume serve, or submit with served=false when nothing serves it`);
    }
    await env.clock.sleep(100, signal);
  }
}
