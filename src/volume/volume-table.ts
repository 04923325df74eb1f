/**
 * The volume table: each volume's configuration and its members' states, kept on the metadata device so
 * that any controller can assemble, serve or repair the volume (`docs/volumes.md`, "The volume table").
 *
 * On a device holding a metadata region it is the region's volume area (the superblock's volumeSlots slots
 * after the chunk records, `docs/on-disk-format.md` section 9), so `meta format` reserves it and no task's
 * data set can overlap it; on a device holding only volumes it is the last `VOLUME_TABLE_BYTES` of the
 * device (`locateVolumeTable`). A slot is four 4096-byte blocks. Each slot holds two records, each written ping-pong (two copies; the copy with the lower
 * sequence is overwritten, readers take the valid copy with the higher sequence, so a torn write loses at
 * most the update being written), and each with one kind of writer, so that neither undoes the other:
 * - the intent (blocks 0-1), written by operator commands (create, fail, replace): the configuration and
 *   what the operator asked of each member, stamped with the generation of the change;
 * - the state (blocks 2-3), written by the one process serving the volume (or by an offline rebuild or
 *   scrub): the member states it runs with and the intent generation it has applied.
 * Readers merge them (`effectiveEntry`): for each member, an intent newer than the applied generation wins.
 *
 * A copy: 0 char[8] magic "BLKRVOL1"; 8 u16 format version (1); 10 u16 slot; 12 u16 record (0 intent,
 * 1 state); 14 u16 copy; 16 u64 sequence; 24 u32 payload length; 28 u32 CRC-32 (zlib) of the 4096 bytes
 * with this field as 0; 32 the payload, UTF-8 JSON (`IntentSchema` or `StateSchema`).
 */
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { BlockDevice } from '../../drivers/types.js';
import { ConflictError, ErrorCode, MetaFullError, MetaVersionError, NotFoundError, UnsupportedError, isBlockrigError } from '../errors.js';
import { META_BLOCK, RegionLayout, VOLUME_SLOT_BLOCKS } from '../metadata/layout.js';
import { readSuperblock } from '../metadata/superblock.js';
import { VolumeConfigSchema, type VolumeConfig } from './config.js';
import { MemberState } from './member.js';

/** Slots of the table on a device holding no region (a region's count is in its superblock). */
export const VOLUME_SLOTS = 16;
/** Bytes of one copy of a record. */
export const VOLUME_RECORD_BYTES = 4096;
/** Bytes of one slot: intent and state records, two copies each. */
const SLOT_BYTES = VOLUME_SLOT_BLOCKS * VOLUME_RECORD_BYTES;
/** Bytes of the table at the end of a device holding no region. */
export const VOLUME_TABLE_BYTES = VOLUME_SLOTS * SLOT_BYTES;
const MAGIC = Buffer.from('BLKRVOL1', 'latin1');
const VERSION = 1;
const HEADER = 32;
const RecordKind = { Intent: 0, State: 1 } as const;
type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

const memberStateSchema = z.enum([MemberState.InSync, MemberState.Failed, MemberState.Rebuilding]);
const rowRange = z.strictObject({ start: z.number().int().nonnegative(), end: z.number().int().nonnegative() });
const badBlockSchema = z.strictObject({ offset: z.number().int().nonnegative(), length: z.number().int().positive() });

/** A member's runtime state, as the serving process records it. */
export const MemberEntrySchema = z.strictObject({
  state: memberStateSchema,
  rebuilt: z.array(rowRange).default([]),
  readErrors: z.number().int().nonnegative().default(0),
  writeErrors: z.number().int().nonnegative().default(0),
  badBlocks: z.array(badBlockSchema).default([]),
  reason: z.string().optional(),
  /** An in-sync member being copied to this device (a proactive replacement); writes reach both. */
  copyTo: z.string().optional(),
});
/** A member's runtime state. */
export type MemberEntry = z.output<typeof MemberEntrySchema>;

/** One mismatched stripe as a scrub task reports it (`docs/volumes.md`, "Tasks across controllers"). */
export const StripeFindingSchema = z.strictObject({
  row: z.number().int().nonnegative(),
  kind: z.enum(['mirror', 'p', 'q', 'data', 'pq']),
  /** Member byte offset of the first mismatching block (the same on every member of the row). */
  offset: z.number().int().nonnegative(),
  length: z.number().int().positive(),
  /** The members holding the wrong bytes. */
  members: z.array(z.number().int().nonnegative()),
  repaired: z.boolean(),
});
/** One mismatched stripe. */
export type StripeFinding = z.output<typeof StripeFindingSchema>;

/** The last scrub task's summary, kept for `volume status` (its completion action writes it). */
export const ScrubSummarySchema = z.strictObject({
  task: z.string(),
  at: z.number(),
  repair: z.boolean(),
  mismatchSectors: z.number().int().nonnegative(),
  /** Mismatched stripes found in all; `stripes` lists the first of them. */
  mismatchedStripes: z.number().int().nonnegative(),
  stripes: z.array(StripeFindingSchema),
});
/** A scrub summary. */
export type ScrubSummary = z.output<typeof ScrubSummarySchema>;

/** What operators asked: the configuration and each member's demanded state, with the generation of the ask. */
export const IntentSchema = z.strictObject({
  config: VolumeConfigSchema,
  generation: z.number().int().nonnegative(),
  members: z.array(
    z.strictObject({
      state: memberStateSchema,
      generation: z.number().int().nonnegative(),
      reason: z.string().optional(),
      /** With an in-sync ask from a finished rebuild task: the ranges its controllers could not reconstruct. */
      badBlocks: z.array(badBlockSchema).optional(),
      /** `volume copy`: copy this in-sync member to the device of this URI, which then takes its slot. */
      copyTo: z.string().optional(),
      /** A finished copy task: the copy (now the slot's URI) holds every row; it takes the slot in sync. */
      copied: z.boolean().optional(),
    }),
  ),
  /** The operator paused online rebuilds (`volume pause`); they resume where they stopped. */
  rebuildPaused: z.boolean().optional(),
  /** The last scrub task's findings. */
  lastScrub: ScrubSummarySchema.optional(),
  updatedAt: z.number(),
});
/** An intent record. */
export type Intent = z.output<typeof IntentSchema>;

/** What the serving process runs with. */
export const StateSchema = z.strictObject({
  /** The intent generation applied. */
  generation: z.number().int().nonnegative(),
  memberUris: z.array(z.string()),
  spares: z.array(z.string()),
  members: z.array(MemberEntrySchema),
  /** Rows of the assembled volume (for progress). */
  rows: z.number().int().nonnegative().optional(),
  /** Online rebuild rate per member index, in member bytes per second, measured by the serving process. */
  rebuildRates: z.record(z.string(), z.number().nonnegative()).optional(),
  updatedAt: z.number(),
});
/** A state record. */
export type VolumeRuntimeState = z.output<typeof StateSchema>;

/** The merged view of a volume: configuration with the current member URIs, and member states. */
export interface VolumeEntry {
  readonly config: VolumeConfig;
  readonly members: readonly MemberEntry[];
  /** Rows of the volume, when a serving process or tool has recorded it. */
  readonly rows?: number;
  /** Measured online rebuild rates by member index (bytes per second). */
  readonly rebuildRates?: Readonly<Record<string, number>>;
  /** Online rebuilds are paused by the operator. */
  readonly rebuildPaused: boolean;
  /** The last scrub task's findings, when one has finished. */
  readonly lastScrub?: ScrubSummary;
  readonly updatedAt: number;
}

/** A stored volume: its slot, both records, and the merged view. */
export interface StoredVolume {
  readonly slot: number;
  readonly intent: Intent;
  readonly intentSequence: number;
  readonly state: VolumeRuntimeState | undefined;
  readonly stateSequence: number;
  readonly entry: VolumeEntry;
}

/** Merges intent and state: per member, an operator ask newer than the applied generation wins. */
export function effectiveEntry(intent: Intent, state: VolumeRuntimeState | undefined): VolumeEntry {
  const applied = state?.generation ?? -1;
  const members = intent.members.map((ask, i): MemberEntry => {
    const run = state?.members[i];
    if (run === undefined || ask.generation > applied) {
      return { state: ask.state, rebuilt: [], readErrors: 0, writeErrors: 0, badBlocks: ask.badBlocks ?? [], ...(ask.reason === undefined ? {} : { reason: ask.reason }), ...(ask.copyTo === undefined ? {} : { copyTo: ask.copyTo }) };
    }
    return run;
  });
  const uris = intent.config.members.map((uri, i) => ((intent.members[i]?.generation ?? 0) > applied ? uri : (state?.memberUris[i] ?? uri)));
  const spares = state === undefined || intent.generation > applied ? intent.config.spares : state.spares;
  return {
    config: { ...intent.config, members: uris, spares },
    members,
    ...(state?.rows === undefined ? {} : { rows: state.rows }),
    ...(state?.rebuildRates === undefined ? {} : { rebuildRates: state.rebuildRates }),
    rebuildPaused: intent.rebuildPaused === true,
    ...(intent.lastScrub === undefined ? {} : { lastScrub: intent.lastScrub }),
    updatedAt: Math.max(intent.updatedAt, state?.updatedAt ?? 0),
  };
}

/** Where a device's volume table is. */
export interface TableLocation {
  /** First byte of slot 0. */
  readonly offset: number;
  readonly slots: number;
  /** True when the table is part of a metadata region's layout; false on a device holding only volumes. */
  readonly inRegion: boolean;
}

/**
 * Finds the volume table of a device: the region's volume area (section 9 of `docs/on-disk-format.md`)
 * when the device holds a metadata region; the last `VOLUME_TABLE_BYTES` of a device holding no region
 * (a device that keeps only volume configurations). A region formatted without a volume area is refused
 * with what to do, rather than a table being placed in its data area where tasks write.
 */
export async function locateVolumeTable(device: BlockDevice): Promise<TableLocation> {
  try {
    const { superblock } = readSuperblock(device.uri, await device.read(0, 2 * META_BLOCK));
    const slots = superblock.geometry.volumeSlots ?? 0;
    if (slots === 0) {
      throw new MetaVersionError(
        `the metadata region on ${device.uri} has no volume table (it was formatted by an older blockrig, or with --volume-slots 0): reformat it with blockrig meta format ${device.uri} --force (its tasks are lost) and create the volumes again with --assume-clean (their members' data is kept)`,
        { details: { uri: device.uri } },
      );
    }
    return { offset: new RegionLayout(superblock.geometry).volumeAreaOffset, slots, inRegion: true };
  } catch (err) {
    if (!isBlockrigError(err, ErrorCode.MetaNoRegion)) throw err;
  }
  if (device.size < VOLUME_TABLE_BYTES * 2) {
    throw new UnsupportedError(`${device.uri} cannot hold a volume table: it holds no metadata region (format one with blockrig meta format) and is smaller than ${VOLUME_TABLE_BYTES * 2} bytes`);
  }
  return { offset: Math.floor((device.size - VOLUME_TABLE_BYTES) / VOLUME_RECORD_BYTES) * VOLUME_RECORD_BYTES, slots: VOLUME_SLOTS, inRegion: false };
}

/** Reads and writes the volume table of one metadata device. */
export class VolumeTable {
  readonly device: BlockDevice;
  #location: Promise<TableLocation> | undefined;

  constructor(device: BlockDevice) {
    if (VOLUME_RECORD_BYTES % device.logicalBlockSize !== 0) {
      throw new UnsupportedError(`${device.uri} cannot hold a volume table: its ${device.logicalBlockSize}-byte blocks do not divide 4096`);
    }
    this.device = device;
  }

  /** Where the table is on the device (found once). */
  location(): Promise<TableLocation> {
    this.#location ??= locateVolumeTable(this.device);
    this.#location.catch(() => (this.#location = undefined));
    return this.#location;
  }

  /** Every stored volume, by slot. */
  async list(): Promise<StoredVolume[]> {
    const { offset, slots } = await this.location();
    const raw = await this.device.read(offset, slots * SLOT_BYTES);
    const out: StoredVolume[] = [];
    for (let slot = 0; slot < slots; slot++) {
      const intent = newest(raw, slot, RecordKind.Intent, IntentSchema);
      if (intent?.value === undefined || intent.value === null) continue;
      const state = newest(raw, slot, RecordKind.State, StateSchema);
      const stateValue = state?.value ?? undefined;
      out.push({ slot, intent: intent.value, intentSequence: intent.sequence, state: stateValue, stateSequence: state?.sequence ?? 0, entry: effectiveEntry(intent.value, stateValue) });
    }
    return out;
  }

  /** The volume called `name`; NotFoundError when there is none. */
  async get(name: string): Promise<StoredVolume> {
    const found = (await this.list()).find((v) => v.intent.config.name === name);
    if (found === undefined) throw new NotFoundError(`no volume named "${name}" on ${this.device.uri}: create it with blockrig volume create`, { details: { volume: name } });
    return found;
  }

  /** Stores a new volume's intent; ConflictError when the name is taken, MetaFullError when no slot is free. */
  async create(intent: Intent): Promise<StoredVolume> {
    const all = await this.list();
    if (all.some((v) => v.intent.config.name === intent.config.name)) throw new ConflictError(`a volume named "${intent.config.name}" already exists on ${this.device.uri}`);
    const { offset, slots } = await this.location();
    const used = new Set(all.map((v) => v.slot));
    const slot = Array.from({ length: slots }, (_, i) => i).find((i) => !used.has(i));
    if (slot === undefined) throw new MetaFullError(`the volume table on ${this.device.uri} is full (${slots} volumes): delete one first, or format the region with more --volume-slots`);
    const raw = await this.device.read(offset + slot * SLOT_BYTES, SLOT_BYTES);
    const seq = (kind: RecordKind): number => Math.max(0, ...[0, 1].map((c) => decodeCopy(raw.subarray((kind * 2 + c) * VOLUME_RECORD_BYTES), slot, kind, c)?.sequence ?? 0));
    // A fresh state record (null) hides whatever state an earlier volume in this slot left.
    await this.#write(slot, RecordKind.State, seq(RecordKind.State) + 1, null);
    await this.#write(slot, RecordKind.Intent, seq(RecordKind.Intent) + 1, intent);
    return this.get(intent.config.name);
  }

  /** Writes a new intent as the successor of `current`'s (operator commands only). */
  async writeIntent(current: StoredVolume, intent: Intent): Promise<void> {
    await this.#write(current.slot, RecordKind.Intent, current.intentSequence + 1, { ...intent, updatedAt: Date.now() });
  }

  /** Writes a new state as the successor of `current`'s (the serving process, or an offline tool). */
  async writeState(current: StoredVolume, state: VolumeRuntimeState): Promise<number> {
    const sequence = current.stateSequence + 1;
    await this.#write(current.slot, RecordKind.State, sequence, { ...state, updatedAt: Date.now() });
    return sequence;
  }

  /** Forgets a volume (its member devices are untouched). */
  async remove(name: string): Promise<void> {
    const current = await this.get(name);
    await this.#write(current.slot, RecordKind.Intent, current.intentSequence + 1, null);
  }

  async #write(slot: number, kind: RecordKind, sequence: number, value: unknown): Promise<void> {
    const payload = Buffer.from(JSON.stringify(value ?? null), 'utf8');
    if (payload.length > VOLUME_RECORD_BYTES - HEADER) {
      throw new MetaFullError(`a volume record of ${payload.length} bytes of JSON does not fit ${VOLUME_RECORD_BYTES - HEADER}: use shorter URIs or fewer members`);
    }
    const copy = sequence % 2;
    const block = Buffer.alloc(VOLUME_RECORD_BYTES);
    MAGIC.copy(block, 0);
    block.writeUInt16LE(VERSION, 8);
    block.writeUInt16LE(slot, 10);
    block.writeUInt16LE(kind, 12);
    block.writeUInt16LE(copy, 14);
    block.writeBigUInt64LE(BigInt(sequence), 16);
    block.writeUInt32LE(payload.length, 24);
    payload.copy(block, HEADER);
    block.writeUInt32LE(crc32(block), 28);
    const { offset } = await this.location();
    await this.device.write(offset + slot * SLOT_BYTES + (kind * 2 + copy) * VOLUME_RECORD_BYTES, block, { fua: true });
  }
}

/** The valid copy with the higher sequence of one record; value null for an erased record. */
function newest<T>(raw: Buffer, slot: number, kind: RecordKind, schema: z.ZodType<T>): { sequence: number; value: T | null } | undefined {
  let best: { sequence: number; value: T | null } | undefined;
  for (const copy of [0, 1]) {
    const at = (slot * 4 + kind * 2 + copy) * VOLUME_RECORD_BYTES;
    const decoded = decodeCopy(raw.subarray(at, at + VOLUME_RECORD_BYTES), slot, kind, copy);
    if (decoded === undefined || (best !== undefined && best.sequence >= decoded.sequence)) continue;
    if (decoded.json === null) best = { sequence: decoded.sequence, value: null };
    else {
      const parsed = schema.safeParse(decoded.json);
      if (parsed.success) best = { sequence: decoded.sequence, value: parsed.data };
    }
  }
  return best;
}

/** Checks one copy; undefined when empty or damaged (a damaged copy is never trusted). */
function decodeCopy(block: Buffer, slot: number, kind: RecordKind, copy: number): { sequence: number; json: unknown } | undefined {
  if (block.length < VOLUME_RECORD_BYTES || !block.subarray(0, 8).equals(MAGIC)) return undefined;
  const b = block.subarray(0, VOLUME_RECORD_BYTES);
  if (b.readUInt16LE(8) !== VERSION || b.readUInt16LE(10) !== slot || b.readUInt16LE(12) !== kind || b.readUInt16LE(14) !== copy) return undefined;
  const check = Buffer.from(b);
  check.writeUInt32LE(0, 28);
  if (crc32(check) !== b.readUInt32LE(28)) return undefined;
  const length = b.readUInt32LE(24);
  if (length > VOLUME_RECORD_BYTES - HEADER) return undefined;
  try {
    return { sequence: Number(b.readBigUInt64LE(16)), json: JSON.parse(b.subarray(HEADER, HEADER + length).toString('utf8')) as unknown };
  } catch {
    return undefined;
  }
}
