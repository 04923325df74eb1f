/**
 * Rebuild and scrub of raid5/raid6 volumes per row range (`docs/volumes.md`, "Rebuild" and "Scrub"), and
 * `gather`, the degraded read of a row span the data path shares.
 *
 * Rebuild reconstructs a rebuilding member's chunk of each row from the others. Where the others cannot
 * be read (sector errors on a survivor beyond what the level covers) it retries block by block, records
 * what stays unreadable as bad blocks of the new member and goes on; when a survivor is gone altogether
 * it stops with `VolumeFailedError`, having lost nothing it could read.
 *
 * Scrub recomputes P (and Q) of every row from the data. raid5 can only say "P disagrees" and repair
 * rewrites P, as md does. raid6 locates a single corrupted chunk per block from the two syndromes
 * (dQ = g^z·dP names data chunk z, as md's raid6check does) and repairs exactly that chunk.
 */
import { ConflictError, TaskFailedError } from '../errors.js';
import { computeSyndromes, computeSyndromesInto } from './gf256.js';
import { type Mismatch, type MismatchKind, type RebuildOptions, type RebuildResult, type ScrubOptions, type ScrubResult } from './maintenance.js';
import { MemberState } from './member.js';
import { BatchBuffers } from './batch-buffers.js';
import { pipelineRows } from './row-pipeline.js';
import { isZero, locateBlock, xorAll } from './stripe-checks.js';
import { chunkOf, decodeStripe, encodeStripe, type StripeSpan } from './stripe-codec.js';
import { Volume, type VolumeOptions } from './volume.js';

/** Rows handled together under one lock: about 1 MiB of member I/O per member. */
const BATCH_BYTES = 1024 * 1024;
/** Times a verified rebuild retries a row that other controllers keep writing. */
const MAX_REBUILD_ATTEMPTS = 16;

/** Rebuild, scrub and degraded gathering for raid5 and raid6. */
export abstract class ParityMaintenance extends Volume {
  protected constructor(options: VolumeOptions) {
    super(options);
  }

  /** Reads span [lo, lo+len) of `row` from every readable member not in `skip` and recovers the rest. */
  protected async gather(row: number, lo: number, len: number, skip: ReadonlySet<number>): Promise<StripeSpan | undefined> {
    const at = this.layout.memberOffset(row, lo);
    const chunks = await Promise.all(
      this.members.map((m) =>
        skip.has(m.index) || !m.readableAt(row) || m.hasBadBlock(at, len) ? Promise.resolve(undefined) : this.memberRead(m.index, at, len),
      ),
    );
    return decodeStripe(this.layout, this.layout.rowMap(row), chunks, len);
  }

  protected async reconstructRows(index: number, start: number, end: number): Promise<Buffer> {
    const chunk = this.layout.chunkSize;
    const out = Buffer.allocUnsafe((end - start) * chunk);
    for (let row = start; row < end; row++) {
      const span = await this.gather(row, 0, chunk, new Set([index]));
      if (span === undefined) throw this.unrecoverable(row, `copied (member ${index} and too many others are unreadable)`);
      (chunkOf(this.layout.rowMap(row), span, index) as Buffer).copy(out, (row - start) * chunk);
    }
    return out;
  }

  async rebuildRows(index: number, start: number, end: number, options: RebuildOptions = {}): Promise<RebuildResult> {
    const member = this.member(index);
    this.checkRows(start, end);
    if (member.state !== MemberState.Rebuilding) throw new ConflictError(`member ${index} of volume ${this.name} is ${member.state}, not rebuilding`, { details: { member: index } });
    const device = member.device;
    const unreadable: { offset: number; length: number }[] = [];
    const verify = options.verify === true;
    await pipelineRows(start, end, {
      lock: this.lock,
      batch: Math.max(1, Math.floor(BATCH_BYTES / this.layout.chunkSize)),
      signal: options.signal,
      what: `rebuild of member ${index} of volume ${this.name}`,
      // Batches rebuild distinct rows: one's write to the new member overlaps the next one's parity work.
      parallel: 3,
      load: (b, e) => this.#readBatch(b, e, new Set([index]), true),
      work: async (b, e, sources) => {
        try {
          if (!(await this.#rebuildBatch(index, b, e, verify, sources))) {
            await Promise.all(Array.from({ length: e - b }, (_, k) => this.#rebuildRow(index, b + k, unreadable, verify)));
          }
        } finally {
          this.#buffers.give(sources ?? []);
        }
        if (this.member(index).state === MemberState.Failed || this.member(index).device !== device) {
          throw new TaskFailedError(`rebuild of member ${index} of volume ${this.name} stopped at row ${b}: the new member failed (${member.reason ?? 'unknown'})`, { details: { member: index, row: b } });
        }
        this.markRebuilt(index, b, e);
      },
    });
    unreadable.sort((x, y) => x.offset - y.offset);
    return { member: index, rowsRebuilt: end - start, bytesWritten: (end - start) * this.layout.chunkSize, unreadable };
  }

  async #rebuildRow(index: number, row: number, unreadable: { offset: number; length: number }[], verify: boolean): Promise<void> {
    const chunk = this.layout.chunkSize;
    if (await this.#rebuildSpan(index, row, 0, chunk, verify)) return;
    const gone = this.members.find((m) => m.index !== index && m.state === MemberState.InSync && m.device?.available === false);
    if (gone !== undefined) throw this.unrecoverable(row, `rebuilt (member ${gone.index} is unavailable)`);
    const step = Math.min(chunk, Math.max(this.logicalBlockSize, 4096));
    for (let off = 0; off < chunk; off += step) {
      if (await this.#rebuildSpan(index, row, off, step, verify)) continue;
      const at = this.layout.memberOffset(row, off);
      this.member(index).addBadBlock(at, step);
      unreadable.push({ offset: at, length: step });
    }
  }

  /**
   * Reconstructs one span of member `index`; false when the others cannot be read. With `verify`, reads
   * the others again after writing and starts over while they changed: a writer on another controller
   * writes in-sync members first and rebuilding members after, so either this re-read sees its write or
   * its write to the new member lands after ours (`docs/volumes.md`, "Rebuild while other controllers write").
   */
  async #rebuildSpan(index: number, row: number, off: number, len: number, verify: boolean): Promise<boolean> {
    const map = this.layout.rowMap(row);
    const at = this.layout.memberOffset(row, off);
    let span = await this.gather(row, off, len, new Set([index]));
    for (let attempt = 0; span !== undefined; attempt++) {
      const content = chunkOf(map, span, index) as Buffer;
      await this.memberWrite(index, at, content);
      if (!verify) return true;
      const again = await this.gather(row, off, len, new Set([index]));
      if (again !== undefined && (chunkOf(map, again, index) as Buffer).equals(content)) return true;
      if (attempt >= MAX_REBUILD_ATTEMPTS) {
        throw new TaskFailedError(`rebuild of member ${index} of volume ${this.name}: row ${row} kept changing under ${MAX_REBUILD_ATTEMPTS} attempts; suspend the range instead`, { details: { member: index, row } });
      }
      span = again;
    }
    return false;
  }

  /**
   * Reads rows [start, end) of every member not in `skip` with one request each: the fast path of rebuild
   * and scrub. Undefined when some member cannot serve the whole range (rebuilding, bad blocks, a read
   * error); the caller then goes row by row, which handles each case. Failed members read as undefined.
   */
  async #readBatch(start: number, end: number, skip: ReadonlySet<number>, pooled = false): Promise<(Buffer | undefined)[] | undefined> {
    const at = this.layout.memberOffset(start);
    const len = (end - start) * this.layout.chunkSize;
    const used = this.members.filter((m) => !skip.has(m.index) && m.state !== MemberState.Failed);
    if (!used.every((m) => m.state === MemberState.InSync && !m.hasBadBlock(at, len))) return undefined;
    const reads = await Promise.all(this.members.map((m) => (used.includes(m) ? this.memberRead(m.index, at, len, pooled ? this.#buffers.take(len) : undefined) : Promise.resolve(undefined))));
    if (used.every((m) => reads[m.index] !== undefined)) return reads;
    if (pooled) this.#buffers.give(reads);
    return undefined;
  }

  /** P and Q of the row being checked (raid6), reused from row to row. */
  #syndromeScratch = { p: Buffer.alloc(0), q: Buffer.alloc(0) };

  /** Read buffers of the pipelined batches, reused from batch to batch (given back when a batch is done). */
  readonly #buffers = new BatchBuffers(BATCH_BYTES);

  /** Rebuilds rows [start, end) of member `index` from one batch read; false when the row path must do it. */
  async #rebuildBatch(index: number, start: number, end: number, verify: boolean, sources: (Buffer | undefined)[] | undefined): Promise<boolean> {
    const chunk = this.layout.chunkSize;
    const skip = new Set([index]);
    if (sources === undefined) return false;
    const fast = this.#reconstructFromAll(index, start, end, sources);
    const out = fast ?? Buffer.allocUnsafe((end - start) * chunk);
    for (let row = start; row < end && fast === undefined; row++) {
      const k = row - start;
      const map = this.layout.rowMap(row);
      const span = decodeStripe(this.layout, map, sources.map((x) => x?.subarray(k * chunk, (k + 1) * chunk)), chunk);
      if (span === undefined) return false;
      (chunkOf(map, span, index) as Buffer).copy(out, k * chunk);
    }
    await this.memberWrite(index, this.layout.memberOffset(start), out);
    if (!verify) return true;
    // Unchanged sources mean an unchanged reconstruction (see #rebuildSpan for why this suffices).
    const again = await this.#readBatch(start, end, skip);
    return again !== undefined && again.every((x, i) => (x === undefined ? sources[i] === undefined : sources[i]?.equals(x) === true));
  }

  /**
   * Member `index`'s rows [start, end) when every other member was read (`sources`), without decoding
   * stripes: in raid5 the missing chunk of a row, data or P, is the XOR of the row's other chunks, so the
   * whole batch is one XOR of the survivors' batches; in raid6 it is the XOR of the others but Q, except
   * in rows where the missing chunk is Q, which is recomputed from the data. Undefined when a survivor is
   * missing (the stripe decoder handles that).
   */
  #reconstructFromAll(index: number, start: number, end: number, sources: readonly (Buffer | undefined)[]): Buffer | undefined {
    const others = sources.flatMap((x, i) => (i === index ? [] : [x]));
    if (others.some((x) => x === undefined)) return undefined;
    const chunk = this.layout.chunkSize;
    const out = Buffer.allocUnsafe((end - start) * chunk);
    if (this.layout.parityChunks === 1) {
      xorAll(out, others as Buffer[]);
      return out;
    }
    for (let row = start; row < end; row++) {
      const map = this.layout.rowMap(row);
      const k = row - start;
      const rowOf = (m: number): Buffer => (sources[m] as Buffer).subarray(k * chunk, (k + 1) * chunk);
      const dst = out.subarray(k * chunk, (k + 1) * chunk);
      if (index === map.q) computeSyndromes(map.data.map(rowOf), chunk).q.copy(dst);
      else xorAll(dst, this.members.flatMap((m) => (m.index === index || m.index === map.q ? [] : [rowOf(m.index)])));
    }
    return out;
  }

  /** raid5: true when the XOR of every member over rows [start, end) is zero (P matches the data everywhere). */
  #parityHolds(chunks: readonly (Buffer | undefined)[]): boolean {
    if (this.layout.parityChunks !== 1 || chunks.some((c) => c === undefined)) return false;
    const length = (chunks[0] as Buffer).length;
    // One scratch buffer per volume: this runs synchronously, so concurrent scrubs never share it at once.
    if (this.#scratch.length < length) this.#scratch = Buffer.allocUnsafe(length);
    const acc = this.#scratch.subarray(0, length);
    xorAll(acc, chunks as Buffer[]);
    return isZero(acc);
  }

  #scratch = Buffer.alloc(0);

  async scrubRows(start: number, end: number, options: ScrubOptions = {}): Promise<ScrubResult> {
    this.checkRows(start, end);
    const mismatches: Mismatch[] = [];
    let checked = 0;
    let skipped = 0;
    await pipelineRows(start, end, {
      lock: this.lock,
      batch: Math.max(1, Math.floor(BATCH_BYTES / this.layout.chunkSize)),
      signal: options.signal,
      what: `scrub of volume ${this.name}`,
      load: (b, e) => this.#readBatch(b, e, new Set(), true),
      work: async (b, e, batchRead) => {
        if (batchRead !== undefined && this.#parityHolds(batchRead)) {
          this.#buffers.give(batchRead);
          checked += e - b;
          return;
        }
        for (let row = b; row < e; row++) {
          const k = row - b;
          const found =
            batchRead === undefined
              ? await this.#scrubRow(row, options.repair === true)
              : await this.#checkRow(row, batchRead.map((x) => x?.subarray(k * this.layout.chunkSize, (k + 1) * this.layout.chunkSize)), options.repair === true);
          if (found === undefined) skipped++;
          else {
            checked++;
            mismatches.push(...found);
          }
        }
      },
    });
    return {
      rowsChecked: checked,
      rowsSkipped: skipped,
      bytesRead: checked * this.layout.memberCount * this.layout.chunkSize,
      mismatches,
      mismatchBytes: mismatches.reduce((n, m) => n + m.length, 0),
    };
  }

  /** Checks one row; undefined when it cannot be checked (a member unreadable). */
  async #scrubRow(row: number, repair: boolean): Promise<Mismatch[] | undefined> {
    const at = this.layout.memberOffset(row);
    if (!this.members.every((m) => m.readableAt(row))) return undefined;
    const chunks = await Promise.all(this.members.map((m) => this.memberRead(m.index, at, this.layout.chunkSize)));
    return this.#checkRow(row, chunks, repair);
  }

  /** Compares one row's chunks with the parity they should have; repairs when asked. */
  async #checkRow(row: number, chunks: readonly (Buffer | undefined)[], repair: boolean): Promise<Mismatch[] | undefined> {
    const layout = this.layout;
    const map = layout.rowMap(row);
    const chunk = layout.chunkSize;
    const at = layout.memberOffset(row);
    if (chunks.some((c) => c === undefined)) return undefined;
    const data = map.data.map((m) => chunks[m] as Buffer);
    const p = chunks[map.p as number] as Buffer;
    const q = map.q === undefined ? undefined : chunks[map.q];
    // The common case, a consistent row, is decided in scratch buffers (nothing allocated per row); only a
    // mismatching row gets its own copy, since repairs below await writes while other scrubs may run.
    if (this.#syndromeScratch.p.length < chunk) this.#syndromeScratch = { p: Buffer.allocUnsafe(chunk), q: Buffer.allocUnsafe(chunk) };
    const scratch = layout.parityChunks === 2 ? computeSyndromesInto(data, chunk, this.#syndromeScratch.p, this.#syndromeScratch.q) : undefined;
    if (scratch !== undefined && scratch.p.equals(p) && q !== undefined && scratch.q.equals(q)) return [];
    const expected = scratch === undefined ? encodeStripe(layout, data, chunk) : { data, p: Buffer.from(scratch.p), q: Buffer.from(scratch.q) };
    if (expected.p.equals(p) && (q === undefined || expected.q?.equals(q) === true)) return [];
    const bs = this.logicalBlockSize;
    const differs = (a: Buffer, b: Buffer, blk: number): boolean => a.compare(b, blk * bs, (blk + 1) * bs, blk * bs, (blk + 1) * bs) !== 0;
    const classify = (blk: number): string => {
      const pBad = differs(p, expected.p, blk);
      const qBad = q !== undefined && expected.q !== undefined && differs(q, expected.q, blk);
      if (!pBad && !qBad) return '';
      if (!qBad) return 'p';
      if (!pBad) return 'q';
      return locateBlock(p, expected.p, q, expected.q as Buffer, blk * bs, bs, layout.dataChunks);
    };
    const kinds = Array.from({ length: chunk / bs }, (_, blk) => classify(blk));
    const found: Mismatch[] = [];
    const runs: { first: number; count: number; kind: string }[] = [];
    for (let blk = 0; blk < kinds.length; blk++) {
      const kind = kinds[blk] as string;
      const last = runs[runs.length - 1];
      if (kind === '') continue;
      if (last !== undefined && last.kind === kind && last.first + last.count === blk) last.count++;
      else runs.push({ first: blk, count: 1, kind });
    }
    for (const run of runs) {
      const lo = run.first * bs;
      const hi = lo + run.count * bs;
      const [kind, z] = run.kind.split(':') as [MismatchKind, string | undefined];
      const members = kind === 'p' ? [map.p as number] : kind === 'q' ? [map.q as number] : kind === 'data' ? [map.data[Number(z)] as number] : [map.p as number, map.q as number];
      if (repair) {
        if (kind === 'p' || kind === 'pq') await this.memberWrite(map.p as number, at + lo, expected.p.subarray(lo, hi));
        if ((kind === 'q' || kind === 'pq') && expected.q !== undefined) await this.memberWrite(map.q as number, at + lo, expected.q.subarray(lo, hi));
        if (kind === 'data') {
          // The corrupted chunk's true bytes are its bytes XOR dP (P itself is right).
          const fixed = Buffer.from((data[Number(z)] as Buffer).subarray(lo, hi));
          for (let i = 0; i < fixed.length; i++) fixed[i] = (fixed[i] ?? 0) ^ (p[lo + i] ?? 0) ^ (expected.p[lo + i] ?? 0);
          await this.memberWrite(members[0] as number, at + lo, fixed);
        }
      }
      found.push({ row, kind, memberOffset: at + lo, length: hi - lo, members, repaired: repair });
    }
    return found;
  }
}
