/**
 * Keeps a served volume and its volume-table entry in step (`docs/volumes.md`, "Serving"):
 * - state changes the volume finds itself (a member failed on errors, a spare took a slot, a rebuild
 *   advanced) are written to the table, one write at a time;
 * - operator changes made in the table by another process (`volume fail`, `volume replace`) are picked up
 *   every `pollMs`, and before every write of ours, so ours never undoes theirs: a failed member is failed
 *   here, a replacement is opened and put in its slot;
 * - a rebuilding member is rebuilt online, in steps of rows under the volume's row lock, so writes that
 *   clients issue meanwhile are never lost, and progress goes to the table after each step so a restarted
 *   server resumes where it stopped.
 */
import type { BlockDevice } from '../../drivers/types.js';
import type { Clock } from '../clock.js';
import { MemberState, type MemberSnapshot } from './member.js';
import type { Volume } from './volume.js';
import type { Intent, MemberEntry, StoredVolume, VolumeEntry, VolumeTable } from './volume-table.js';

/** Options of a keeper. */
export interface VolumeKeeperOptions {
  readonly table: VolumeTable;
  readonly volume: Volume;
  /** The entry the volume was assembled from. */
  readonly stored: StoredVolume;
  /** Opens a replacement member's URI. */
  readonly open: (uri: string) => Promise<BlockDevice>;
  readonly clock: Clock;
  /** How often to read the table for operator changes (default 1000 ms). */
  readonly pollMs?: number;
  /** Rows per online rebuild step (default: 1 MiB of member data per step). */
  readonly rowsPerStep?: number;
  /** Rebuild rebuilding members online (default true). */
  readonly rebuild?: boolean;
  /** Most member bytes per second each online rebuild writes (default: no limit). */
  readonly rebuildRateLimit?: number;
  readonly log?: (message: string) => void;
}

/** Member snapshots to assemble a volume from a stored entry. */
export function snapshotsOf(entry: VolumeEntry): MemberSnapshot[] {
  return entry.members.map((m) => ({ ...m }));
}

/** The persisted form of a member snapshot. */
export function memberEntryOf(s: MemberSnapshot): MemberEntry {
  return {
    state: s.state,
    rebuilt: [...(s.rebuilt ?? [])],
    readErrors: s.readErrors ?? 0,
    writeErrors: s.writeErrors ?? 0,
    badBlocks: [...(s.badBlocks ?? [])],
    ...(s.reason === undefined ? {} : { reason: s.reason }),
  };
}

/** Runs until `stop()`; see the module comment. */
export class VolumeKeeper {
  readonly #o: VolumeKeeperOptions;
  readonly #stop = new AbortController();
  readonly #offEvents: () => void;
  /** The URI, as written in the table, of the device in each slot. */
  readonly #slotUris: string[];
  readonly #spareUris: string[];
  /** The intent generation this process runs with. */
  #applied: number;
  #queue: Promise<unknown> = Promise.resolve();
  #loop: Promise<void> | undefined;
  #replacing = -1;
  readonly #rebuilds = new Map<number, Promise<void>>();
  /** Measured rebuild rates (member bytes per second) by member index. */
  readonly #rates = new Map<number, number>();
  /** Online rebuilds paused by the operator (from the intent). */
  #paused: boolean;
  /** Copy targets (`volume copy`) by member index, as written in the table. */
  readonly #copyTargets = new Map<number, string>();

  constructor(options: VolumeKeeperOptions) {
    this.#o = options;
    this.#slotUris = [...options.stored.entry.config.members];
    this.#spareUris = [...options.stored.entry.config.spares];
    this.#applied = options.stored.intent.generation;
    this.#paused = options.stored.intent.rebuildPaused === true;
    // Copies the assembly started (assembleStoredVolume) are this keeper's to record.
    for (const [i, m] of options.stored.entry.members.entries()) if (m.copyTo !== undefined && options.volume.members[i]?.replacement !== undefined) this.#copyTargets.set(i, m.copyTo);
    this.#offEvents = options.volume.onEvent((event) => {
      const copy = event.type === 'member-state' ? this.#copyTargets.get(event.member) : undefined;
      if (event.type === 'member-state' && copy !== undefined && this.#o.volume.member(event.member).replacement === undefined) {
        // The copy took the slot: finished (in sync), or the old member failed mid-copy (rebuilding).
        this.#slotUris[event.member] = copy;
        this.#copyTargets.delete(event.member);
      } else if (event.type === 'member-state' && event.to === MemberState.Rebuilding && this.#replacing !== event.member) {
        // A spare that took a slot on its own: its table URI moves from the spares to the slot.
        this.#slotUris[event.member] = this.#spareUris.shift() ?? event.uri ?? '';
      }
      void this.persist().catch(() => undefined);
    });
  }

  /** Starts polling and rebuilding; writes the state the volume was assembled with first. */
  start(): void {
    this.#loop ??= this.persist()
      .catch(() => undefined)
      .then(() => this.#run());
  }

  /** Writes the volume's current state record. */
  persist(): Promise<void> {
    return this.#serialised(async () => {
      const current = await this.#o.table.get(this.#o.volume.name);
      await this.#o.table.writeState(current, {
        generation: this.#applied,
        memberUris: [...this.#slotUris],
        spares: [...this.#spareUris],
        members: this.#o.volume.members.map((m) => {
          const copyTo = m.replacement === undefined ? undefined : this.#copyTargets.get(m.index);
          return { ...memberEntryOf(m.snapshot()), ...(copyTo === undefined ? {} : { copyTo }) };
        }),
        rows: this.#o.volume.layout.rows,
        rebuildRates: Object.fromEntries([...this.#rates].map(([i, r]) => [String(i), Math.round(r)])),
        updatedAt: Date.now(),
      });
    });
  }

  /** Reads the intent and applies operator asks newer than what runs here (failed members, replacements). */
  syncFromTable(): Promise<void> {
    return this.#serialised(async () => {
      const { intent } = await this.#o.table.get(this.#o.volume.name);
      if (intent.generation <= this.#applied) return;
      this.#paused = intent.rebuildPaused === true;
      await this.#apply(intent);
      this.#applied = intent.generation;
    }).then(() => this.persist());
  }

  /** Stops polling and any online rebuild after its current step, and writes the final state. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop?.catch(() => undefined);
    await Promise.all([...this.#rebuilds.values()].map((p) => p.catch(() => undefined)));
    this.#offEvents();
    await this.persist().catch(() => undefined);
  }

  #serialised(work: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(work);
    this.#queue = next.catch((err: unknown) => this.#o.log?.(`volume table: ${(err as Error).message}`));
    return next;
  }

  async #apply(intent: Intent): Promise<void> {
    const volume = this.#o.volume;
    for (const [i, ask] of intent.members.entries()) {
      if (ask.generation <= this.#applied) continue;
      const member = volume.member(i);
      const uri = intent.config.members[i];
      if (ask.state === MemberState.Failed && member.state !== MemberState.Failed && volume.canFail(i)) {
        volume.failMember(i, ask.reason ?? 'failed in the volume table');
        this.#o.log?.(`member ${i} failed by the volume table`);
      } else if (ask.state === MemberState.Rebuilding && uri !== undefined && uri !== this.#slotUris[i]) {
        this.#replacing = i;
        try {
          if (member.state !== MemberState.Failed) volume.failMember(i, `being replaced by ${uri}`);
          const device = await this.#o.open(uri);
          const old = volume.replaceMember(i, device);
          this.#slotUris[i] = uri;
          await old?.close().catch(() => undefined);
        } finally {
          this.#replacing = -1;
        }
        this.#o.log?.(`member ${i} replaced by ${uri}`);
      } else if (ask.copyTo !== undefined && member.state === MemberState.InSync && member.replacement === undefined) {
        // `volume copy`: from now on every write reaches the copy too; a copy task copies the rows.
        const device = await this.#o.open(ask.copyTo);
        try {
          volume.startReplacement(i, device);
        } catch (err) {
          await device.close().catch(() => undefined);
          throw err;
        }
        this.#copyTargets.set(i, ask.copyTo);
        this.#o.log?.(`member ${i} is being copied to ${ask.copyTo}`);
      } else if (ask.copied === true) {
        // A copy task finished every row: the copy takes the slot (the event handler records its URI).
        if (member.replacement !== undefined && member.state === MemberState.InSync) volume.markCopied(i, 0, volume.layout.rows);
        else this.#o.log?.(`member ${i}: a finished copy cannot take the slot here (the member is ${member.state}${member.replacement === undefined ? ', not being copied' : ''})`);
      } else if (ask.state === MemberState.InSync && member.state === MemberState.Rebuilding) {
        // A rebuild task on other controllers finished every row of this member; what it could not
        // reconstruct becomes bad blocks before the member serves reads.
        for (const b of ask.badBlocks ?? []) member.addBadBlock(b.offset, b.length);
        volume.markRebuilt(i, 0, volume.layout.rows);
        this.#o.log?.(`member ${i} marked in sync by a finished rebuild task${ask.badBlocks === undefined ? '' : ` with ${ask.badBlocks.length} bad-block ranges`}`);
      }
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      await this.syncFromTable().catch(() => undefined);
      if (this.#o.rebuild !== false) this.#startRebuilds();
      await this.#o.clock.sleep(this.#o.pollMs ?? 1000, signal).catch(() => undefined);
    }
  }

  #startRebuilds(): void {
    for (const m of this.#o.volume.members) {
      if (m.state !== MemberState.Rebuilding || this.#rebuilds.has(m.index)) continue;
      const run = this.#rebuildMember(m.index).finally(() => this.#rebuilds.delete(m.index));
      this.#rebuilds.set(m.index, run);
      run.catch((err: unknown) => this.#o.log?.(`online rebuild of member ${m.index} stopped: ${(err as Error).message}`));
    }
  }

  /**
   * Rebuilds the rows of member `index` not yet rebuilt, a step at a time, persisting after each. The rate
   * is measured on the keeper's clock over this run; with a limit, the loop sleeps off any lead it has.
   */
  async #rebuildMember(index: number): Promise<void> {
    const volume = this.#o.volume;
    const clock = this.#o.clock;
    const device = volume.member(index).device;
    const step = this.#o.rowsPerStep ?? Math.max(1, Math.floor((1024 * 1024) / volume.layout.chunkSize));
    const started = clock.now();
    let bytes = 0;
    this.#o.log?.(`rebuilding member ${index} (${device?.uri ?? '?'}) online`);
    try {
      for (let row = 0; row < volume.layout.rows; row += step) {
        const member = volume.member(index);
        if (this.#stop.signal.aborted || member.device !== device || member.state !== MemberState.Rebuilding) return;
        const end = Math.min(volume.layout.rows, row + step);
        if (member.rebuilt.covers(row, end)) continue;
        if (this.#paused) {
          // Paused between steps: wait for a resume (or stop), then look at this row again.
          await clock.sleep(this.#o.pollMs ?? 1000, this.#stop.signal).catch(() => undefined);
          row -= step;
          continue;
        }
        await volume.rebuildRows(index, row, end, { signal: this.#stop.signal });
        bytes += (end - row) * volume.layout.chunkSize;
        const elapsed = clock.now() - started;
        const limit = this.#o.rebuildRateLimit;
        if (limit !== undefined && limit > 0) await clock.sleep((bytes / limit) * 1000 - elapsed, this.#stop.signal).catch(() => undefined);
        const seconds = (clock.now() - started) / 1000;
        if (seconds > 0) this.#rates.set(index, bytes / seconds);
        await this.persist();
      }
      this.#o.log?.(`member ${index} rebuilt`);
    } finally {
      this.#rates.delete(index);
    }
  }
}
