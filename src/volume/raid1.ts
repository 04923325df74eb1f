/**
 * raid1: an n-way mirror (`docs/volumes.md`, "raid1"). Every member holds the whole volume at the same
 * offsets; rows of `chunkSize` bytes are only the unit of locking, rebuild and scrub.
 *
 * Reads rotate over the readable members; when one fails the range is read from another under the row
 * lock and written back to the one that failed. Writes go to every writable member under the row lock, so
 * two overlapping writes land in the same order on every copy. Scrub compares the copies block by block:
 * the value most copies hold wins, a tie goes to the lowest-numbered member (md copies from the first), and
 * repair rewrites the minority.
 */
import { ConflictError, InvalidArgumentError, TaskFailedError } from '../errors.js';
import type { Mismatch, RebuildOptions, RebuildResult, ScrubOptions, ScrubResult } from './maintenance.js';
import { MemberState, type VolumeMember } from './member.js';
import { pipelineRows } from './row-pipeline.js';
import { Volume, type VolumeOptions } from './volume.js';

const BATCH_BYTES = 1024 * 1024;

/** An n-way mirror. */
export class Raid1Volume extends Volume {
  #turn = 0;

  constructor(options: VolumeOptions) {
    if (options.level !== 'raid1') throw new InvalidArgumentError('Raid1Volume serves raid1 only', { details: { field: 'level' } });
    super(options);
  }

  /** Members that hold good data for every byte of [offset, offset+length), other than `except`. */
  #sources(offset: number, length: number, except = -1): VolumeMember[] {
    const first = Math.floor(offset / this.layout.chunkSize);
    const end = Math.ceil((offset + length) / this.layout.chunkSize);
    return this.members.filter(
      (m) =>
        m.index !== except &&
        m.device !== undefined &&
        (m.state === MemberState.InSync || (m.state === MemberState.Rebuilding && m.rebuilt.covers(first, end))) &&
        !m.hasBadBlock(offset, length),
    );
  }

  protected async doRead(offset: number, length: number): Promise<Buffer> {
    const sources = this.#sources(offset, length);
    const pick = sources[this.#turn++ % Math.max(1, sources.length)];
    if (pick !== undefined) {
      const direct = await this.memberRead(pick.index, offset, length);
      if (direct !== undefined) return direct;
    }
    const chunk = this.layout.chunkSize;
    const out = Buffer.allocUnsafe(length);
    await this.lock.with(Math.floor(offset / chunk), Math.ceil((offset + length) / chunk), async () => {
      for (let done = 0; done < length; ) {
        const at = offset + done;
        const n = Math.min(length - done, chunk - (at % chunk));
        (await this.#readHealing(at, n)).copy(out, done);
        done += n;
      }
    });
    return out;
  }

  /** Reads a range inside one row from any member that can, writing it back to those that failed; lock held. */
  async #readHealing(offset: number, length: number): Promise<Buffer> {
    const failed: number[] = [];
    for (const m of this.#sources(offset, length)) {
      const data = await this.memberRead(m.index, offset, length);
      if (data === undefined) {
        failed.push(m.index);
        continue;
      }
      await Promise.all(failed.map((i) => this.memberWrite(i, offset, data)));
      return data;
    }
    throw this.unrecoverable(Math.floor(offset / this.layout.chunkSize), 'read');
  }

  protected async doWrite(offset: number, data: Uint8Array): Promise<void> {
    const chunk = this.layout.chunkSize;
    const first = Math.floor(offset / chunk);
    await this.lock.with(first, Math.ceil((offset + data.length) / chunk), async () => {
      const targets = this.members.filter((m) => m.writable);
      if (!targets.some((m) => m.state === MemberState.InSync)) throw this.unrecoverable(first, 'written');
      await this.writeInOrder(targets.map((m) => m.index), (i) => this.memberWrite(i, offset, data));
    });
  }

  protected async reconstructRows(index: number, start: number, end: number): Promise<Buffer> {
    const chunk = this.layout.chunkSize;
    for (const source of this.#sources(start * chunk, (end - start) * chunk, index)) {
      const data = await this.memberRead(source.index, start * chunk, (end - start) * chunk);
      if (data !== undefined) return data;
    }
    throw this.unrecoverable(start, `copied (no other copy of member ${index} is readable)`);
  }

  async rebuildRows(index: number, start: number, end: number, options: RebuildOptions = {}): Promise<RebuildResult> {
    const member = this.member(index);
    this.checkRows(start, end);
    if (member.state !== MemberState.Rebuilding) throw new ConflictError(`member ${index} of volume ${this.name} is ${member.state}, not rebuilding`, { details: { member: index } });
    const device = member.device;
    const chunk = this.layout.chunkSize;
    const batch = Math.max(1, Math.floor(BATCH_BYTES / chunk));
    const unreadable: { offset: number; length: number }[] = [];
    const verify = options.verify === true;
    await pipelineRows(start, end, {
      lock: this.lock,
      batch,
      signal: options.signal,
      what: `rebuild of member ${index} of volume ${this.name}`,
      parallel: 3,
      // The first readable copy, read ahead; #copyRange takes over around trouble and for verification.
      load: async (b, e) => {
        const source = this.#sources(b * chunk, (e - b) * chunk, index)[0];
        return source === undefined ? undefined : { source: source.index, data: await this.memberRead(source.index, b * chunk, (e - b) * chunk) };
      },
      work: async (b, e, first) => {
        let done = false;
        if (first?.data !== undefined) {
          await this.memberWrite(index, b * chunk, first.data);
          done = !verify || (await this.memberRead(first.source, b * chunk, (e - b) * chunk))?.equals(first.data) === true;
        }
        if (!done) await this.#copyRange(index, b * chunk, (e - b) * chunk, unreadable, verify);
        if (this.member(index).state === MemberState.Failed || this.member(index).device !== device) {
          throw new TaskFailedError(`rebuild of member ${index} of volume ${this.name} stopped at row ${b}: the new member failed (${member.reason ?? 'unknown'})`, { details: { member: index, row: b } });
        }
        this.markRebuilt(index, b, e);
      },
    });
    return { member: index, rowsRebuilt: end - start, bytesWritten: (end - start) * chunk, unreadable };
  }

  /**
   * Copies a range onto member `index` from any source; narrows down to 4 KiB blocks around read errors.
   * With `verify`, reads the source again after writing and copies again while it changed (see
   * `ParityMaintenance` for why that suffices against writers on other controllers).
   */
  async #copyRange(index: number, offset: number, length: number, unreadable: { offset: number; length: number }[], verify: boolean): Promise<void> {
    for (const source of this.#sources(offset, length, index)) {
      let data = await this.memberRead(source.index, offset, length);
      for (let attempt = 0; data !== undefined; attempt++) {
        await this.memberWrite(index, offset, data);
        if (!verify) return;
        const again = await this.memberRead(source.index, offset, length);
        if (again !== undefined && again.equals(data)) return;
        if (attempt >= 16) throw new TaskFailedError(`rebuild of member ${index} of volume ${this.name}: bytes at ${offset} kept changing; suspend the range instead`, { details: { member: index, offset } });
        data = again;
      }
    }
    const step = Math.max(this.logicalBlockSize, 4096);
    if (length <= step) {
      if (this.members.some((m) => m.index !== index && m.state === MemberState.InSync && m.device?.available === false) && this.#sources(offset, length, index).length === 0) {
        throw this.unrecoverable(Math.floor(offset / this.layout.chunkSize), 'rebuilt (every other copy is unavailable)');
      }
      this.member(index).addBadBlock(offset, length);
      unreadable.push({ offset, length });
      return;
    }
    const half = Math.max(step, Math.floor(length / 2 / step) * step);
    await this.#copyRange(index, offset, half, unreadable, verify);
    await this.#copyRange(index, offset + half, length - half, unreadable, verify);
  }

  async scrubRows(start: number, end: number, options: ScrubOptions = {}): Promise<ScrubResult> {
    this.checkRows(start, end);
    const chunk = this.layout.chunkSize;
    const mismatches: Mismatch[] = [];
    let checked = 0;
    let skipped = 0;
    let bytesRead = 0;
    await pipelineRows(start, end, {
      lock: this.lock,
      batch: Math.max(1, Math.floor(BATCH_BYTES / chunk)),
      signal: options.signal,
      what: `scrub of volume ${this.name}`,
      load: async (b, e) => {
        const sources = this.#sources(b * chunk, (e - b) * chunk);
        const copies = await Promise.all(sources.map((m) => this.memberRead(m.index, b * chunk, (e - b) * chunk)));
        return sources.flatMap((m, k) => (copies[k] === undefined ? [] : [{ index: m.index, data: copies[k] }]));
      },
      work: async (b, e, batchRead) => {
        const [first, ...rest] = batchRead;
        // Every copy of the batch read and identical: nothing to classify.
        if (first !== undefined && rest.length > 0 && batchRead.length === this.#sources(b * chunk, (e - b) * chunk).length && rest.every((c) => c.data.equals(first.data))) {
          checked += e - b;
          bytesRead += batchRead.length * (e - b) * chunk;
          return;
        }
        for (let row = b; row < e; row++) {
          const at = row * chunk;
          const sources = this.#sources(at, chunk);
          const copies = await Promise.all(sources.map((m) => this.memberRead(m.index, at, chunk)));
          const read = sources.flatMap((m, k) => (copies[k] === undefined ? [] : [{ index: m.index, data: copies[k] }]));
          bytesRead += read.length * chunk;
          if (read.length < 2) {
            skipped++;
            continue;
          }
          checked++;
          mismatches.push(...(await this.#compareRow(row, read, options.repair === true)));
        }
      },
    });
    return { rowsChecked: checked, rowsSkipped: skipped, bytesRead, mismatches, mismatchBytes: mismatches.reduce((n, m) => n + m.length, 0) };
  }

  /** Compares the copies of one row block by block; repairs the minority when asked. */
  async #compareRow(row: number, copies: readonly { index: number; data: Buffer }[], repair: boolean): Promise<Mismatch[]> {
    const bs = this.logicalBlockSize;
    const at = row * this.layout.chunkSize;
    const runs: { first: number; count: number; losers: number[]; winner: Buffer }[] = [];
    for (let blk = 0; blk < this.layout.chunkSize / bs; blk++) {
      const lo = blk * bs;
      const groups: { data: Buffer; members: number[] }[] = [];
      for (const c of copies) {
        const group = groups.find((g) => g.data.compare(c.data, lo, lo + bs, lo, lo + bs) === 0);
        if (group) group.members.push(c.index);
        else groups.push({ data: c.data, members: [c.index] });
      }
      if (groups.length === 1) continue;
      // Most copies win; among equals the first group (holding the lowest member) wins.
      const winner = groups.reduce((best, g) => (g.members.length > best.members.length ? g : best));
      const losers = groups.filter((g) => g !== winner).flatMap((g) => g.members).sort((a, b) => a - b);
      const last = runs[runs.length - 1];
      if (last !== undefined && last.first + last.count === blk && last.losers.join() === losers.join() && last.winner === winner.data) last.count++;
      else runs.push({ first: blk, count: 1, losers, winner: winner.data });
    }
    const found: Mismatch[] = [];
    for (const run of runs) {
      const lo = run.first * bs;
      const length = run.count * bs;
      if (repair) await Promise.all(run.losers.map((i) => this.memberWrite(i, at + lo, run.winner.subarray(lo, lo + length))));
      found.push({ row, kind: 'mirror', memberOffset: at + lo, length, members: run.losers, repaired: repair });
    }
    return found;
  }
}
