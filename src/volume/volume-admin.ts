/**
 * Operator actions on volumes stored in a volume table, shared by the CLI and tests: create (and
 * initialize), fail, replace, assemble, offline rebuild and scrub, and the status derived from the table.
 */
import type { BlockDevice } from '../../drivers/types.js';
import { ConflictError, InvalidArgumentError } from '../errors.js';
import type { VolumeConfig } from './config.js';
import { createVolume, openVolume } from './index.js';
import { mergeScrubResults, type ScrubResult } from './maintenance.js';
import { MemberState, type BadBlock } from './member.js';
import type { VolumeState } from './status.js';
import type { Volume } from './volume.js';
import { startStoredCopies } from './stored-copies.js';
import { memberEntryOf, snapshotsOf } from './volume-keeper.js';
import type { Intent, ScrubSummary, StoredVolume, VolumeEntry, VolumeTable } from './volume-table.js';

/** Opens a device by URI. */
export type OpenDevice = (uri: string) => Promise<BlockDevice>;

/** Called with rows done and rows in all while a long operation runs. */
export type RowProgress = (done: number, total: number) => void;

/** Rows per progress step of offline operations: 16 MiB of member data. */
const STEP_BYTES = 16 * 1024 * 1024;

/** Tolerance of a configuration's level. */
export function toleranceOf(config: VolumeConfig): number {
  return config.level === 'raid1' ? config.members.length - 1 : config.level === 'raid5' ? 1 : 2;
}

/** The volume state a stored entry describes (without opening anything). */
export function storedState(entry: VolumeEntry): VolumeState {
  const notInSync = entry.members.filter((m) => m.state !== MemberState.InSync).length;
  if (notInSync > toleranceOf(entry.config)) return 'failed';
  if (entry.members.some((m) => m.state === MemberState.Rebuilding)) return 'rebuilding';
  return notInSync > 0 ? 'degraded' : 'clean';
}

/**
 * Creates a volume: opens every member (checking the geometry), initializes redundancy unless
 * `assumeClean` (parity computed from the data, mirrors copied from the first member, as md's initial
 * resync does), and stores the entry with every member in sync.
 */
export async function createStoredVolume(table: VolumeTable, config: VolumeConfig, open: OpenDevice, options: { assumeClean?: boolean; onProgress?: RowProgress } = {}): Promise<StoredVolume> {
  const existing = await table.list();
  if (existing.some((v) => v.entry.config.name === config.name)) throw new ConflictError(`a volume named "${config.name}" already exists on ${table.device.uri}`);
  const used = new Set(existing.flatMap((v) => [...v.entry.config.members, ...v.entry.config.spares]));
  const clash = [...config.members, ...config.spares].find((u) => used.has(u));
  if (clash !== undefined) throw new ConflictError(`${clash} already belongs to another volume on ${table.device.uri}`);
  const devices: BlockDevice[] = [];
  try {
    for (const uri of config.members) devices.push(await open(uri));
    const spares: BlockDevice[] = [];
    for (const uri of config.spares) spares.push(await open(uri));
    devices.push(...spares);
    const volume = createVolume({ name: config.name, level: config.level, chunkSize: config.chunkSize, members: devices.slice(0, config.members.length), spares, ownsMembers: false });
    if (options.assumeClean !== true) await scrubAll(volume, true, options.onProgress);
    await volume.flush();
    return await table.create({ config, generation: 0, members: config.members.map(() => ({ state: MemberState.InSync, generation: 0 })), updatedAt: Date.now() });
  } finally {
    await Promise.allSettled(devices.map((d) => d.close()));
  }
}

/** Marks member `index` failed in the table; refuses when the volume would lose data. */
export async function failStoredMember(table: VolumeTable, name: string, index: number, reason = 'failed by operator'): Promise<StoredVolume> {
  const current = await table.get(name);
  const member = memberAt(current.entry, index);
  if (member.state === MemberState.Failed) return current;
  const notInSync = current.entry.members.filter((m) => m.state !== MemberState.InSync).length;
  if (member.state === MemberState.InSync && notInSync + 1 > toleranceOf(current.entry.config)) {
    throw new ConflictError(`member ${index} of volume ${name} cannot fail: the ${current.entry.config.level} volume would lose data`, { details: { member: index } });
  }
  await table.writeIntent(current, askFor(current, index, { state: MemberState.Failed, reason }));
  return table.get(name);
}

/** Puts `uri` in the slot of failed member `index` as a rebuilding member (the device is checked first). */
export async function replaceStoredMember(table: VolumeTable, name: string, index: number, uri: string, open: OpenDevice): Promise<StoredVolume> {
  const current = await table.get(name);
  const member = memberAt(current.entry, index);
  if (member.state !== MemberState.Failed) throw new ConflictError(`member ${index} of volume ${name} is ${member.state}: fail it first (blockrig volume fail)`, { details: { member: index } });
  if (current.entry.config.members.includes(uri) || current.entry.config.spares.includes(uri)) throw new ConflictError(`${uri} is already part of volume ${name}`, { details: { field: 'with' } });
  await checkReplacementSize(current, index, uri, open, 'with');
  await table.writeIntent(current, askFor(current, index, { state: MemberState.Rebuilding, reason: `replaced by ${uri}` }, uri));
  return table.get(name);
}

/**
 * Asks for rebuilding member `index` to be marked in sync (a finished rebuild task's completion action),
 * with the ranges the task could not reconstruct as its bad blocks: the serving process applies both at
 * once, so it never reads those ranges from the new member.
 */
export async function markStoredMemberInSync(table: VolumeTable, name: string, index: number, badBlocks: readonly BadBlock[] = []): Promise<StoredVolume> {
  const current = await table.get(name);
  const member = memberAt(current.entry, index);
  if (member.state === MemberState.InSync) return current;
  if (member.state !== MemberState.Rebuilding) throw new ConflictError(`member ${index} of volume ${name} is ${member.state}: only a rebuilding member can be marked in sync`, { details: { member: index } });
  const reason = badBlocks.length === 0 ? 'rebuild task finished' : `rebuild task finished; ${badBlocks.length} ranges unreadable`;
  await table.writeIntent(current, askFor(current, index, { state: MemberState.InSync, reason, ...(badBlocks.length === 0 ? {} : { badBlocks: [...badBlocks] }) }));
  return table.get(name);
}

/**
 * Asks for in-sync member `index` to be copied to `uri` (md's want_replacement): the serving process and
 * every controller writing the volume write both, a `volume-copy` task copies the rows, and its completion
 * (`finishStoredCopy`) puts `uri` in the slot. The device is checked first.
 */
export async function startStoredCopy(table: VolumeTable, name: string, index: number, uri: string, open: OpenDevice): Promise<StoredVolume> {
  const current = await table.get(name);
  const member = memberAt(current.entry, index);
  if (member.state !== MemberState.InSync) throw new ConflictError(`member ${index} of volume ${name} is ${member.state}: only an in-sync member can be copied (replace a failed one with volume replace)`, { details: { member: index } });
  if (member.copyTo !== undefined) throw new ConflictError(`member ${index} of volume ${name} is already being copied to ${member.copyTo}`, { details: { member: index } });
  const taken = [...current.entry.config.members, ...current.entry.config.spares, ...current.entry.members.flatMap((m) => (m.copyTo === undefined ? [] : [m.copyTo]))];
  if (taken.includes(uri)) throw new ConflictError(`${uri} is already part of volume ${name}`, { details: { field: 'to' } });
  await checkReplacementSize(current, index, uri, open, 'to');
  await table.writeIntent(current, askFor(current, index, { state: MemberState.InSync, reason: `copying to ${uri}`, copyTo: uri }));
  return table.get(name);
}

/**
 * A finished copy task's completion action: `uri`, which holds every row of member `index`, takes the slot
 * in sync. Refused when the member is no longer being copied there (it failed mid-copy, and the copy became
 * a rebuilding member: rebuild it instead).
 */
export async function finishStoredCopy(table: VolumeTable, name: string, index: number, uri: string): Promise<StoredVolume> {
  const current = await table.get(name);
  const member = memberAt(current.entry, index);
  if (member.state !== MemberState.InSync || member.copyTo !== uri) {
    throw new ConflictError(`member ${index} of volume ${name} is ${member.state}${member.copyTo === undefined ? ', not being copied' : `, being copied to ${member.copyTo}`}: the copy to ${uri} cannot take the slot${member.state === MemberState.Rebuilding ? ' (the old member failed mid-copy: rebuild the copy with a volume-rebuild task)' : ''}`, { details: { member: index } });
  }
  await table.writeIntent(current, askFor(current, index, { state: MemberState.InSync, reason: `copied from ${current.entry.config.members[index] ?? '?'}`, copied: true }, uri));
  return table.get(name);
}

/** Records a finished scrub task's summary for `volume status` (no generation change: nothing to apply). */
export async function recordStoredScrub(table: VolumeTable, name: string, summary: ScrubSummary): Promise<StoredVolume> {
  const current = await table.get(name);
  await table.writeIntent(current, { ...current.intent, lastScrub: summary, updatedAt: Date.now() });
  return table.get(name);
}

/** The next intent: the effective configuration, with member `index` asked to be in `ask` (and on `uri`). */
function askFor(current: StoredVolume, index: number, ask: { state: MemberState; reason: string; badBlocks?: BadBlock[]; copyTo?: string; copied?: boolean }, uri?: string): Intent {
  const generation = current.intent.generation + 1;
  const config = { ...current.entry.config, members: current.entry.config.members.map((u, i) => (i === index && uri !== undefined ? uri : u)) };
  const members = current.intent.members.map((m, i) => (i === index ? { ...ask, generation } : m));
  return { ...current.intent, config, generation, members, updatedAt: Date.now() };
}

/** Pauses or resumes the online rebuilds of a served volume (the serving process polls the intent). */
export async function setStoredRebuildPaused(table: VolumeTable, name: string, paused: boolean): Promise<StoredVolume> {
  const current = await table.get(name);
  if (current.entry.rebuildPaused === paused) return current;
  await table.writeIntent(current, { ...current.intent, generation: current.intent.generation + 1, rebuildPaused: paused, updatedAt: Date.now() });
  return table.get(name);
}

/** Assembles a stored volume with its stored member states. */
export async function assembleStoredVolume(table: VolumeTable, name: string, open: OpenDevice): Promise<{ volume: Volume; stored: StoredVolume }> {
  const stored = await table.get(name);
  const memberStates = snapshotsOf(stored.entry);
  const volume = await openVolume(stored.entry.config, { open, memberStates });
  await startStoredCopies(volume, stored.entry, open).catch(async (err: unknown) => {
    await volume.close();
    throw err;
  });
  return { volume, stored };
}

/** Rebuilds every rebuilding member offline, recording progress in the table after each step. */
export async function rebuildStoredVolume(table: VolumeTable, name: string, open: OpenDevice, onProgress?: RowProgress): Promise<{ member: number; unreadable: { offset: number; length: number }[] }[]> {
  const { volume, stored } = await assembleStoredVolume(table, name, open);
  const results: { member: number; unreadable: { offset: number; length: number }[] }[] = [];
  try {
    const step = Math.max(1, Math.floor(STEP_BYTES / volume.layout.chunkSize));
    for (const m of volume.members.filter((x) => x.state === MemberState.Rebuilding)) {
      const unreadable: { offset: number; length: number }[] = [];
      for (let row = 0; row < volume.layout.rows; row += step) {
        const end = Math.min(volume.layout.rows, row + step);
        if (!m.rebuilt.covers(row, end) && m.state === MemberState.Rebuilding) {
          unreadable.push(...(await volume.rebuildRows(m.index, row, end, { verify: true })).unreadable);
          await saveMembers(table, name, volume, stored);
        }
        onProgress?.(end, volume.layout.rows);
      }
      results.push({ member: m.index, unreadable });
    }
    await volume.flush();
    return results;
  } finally {
    await saveMembers(table, name, volume, stored).catch(() => undefined);
    await volume.close();
  }
}

/** Scrubs a stored volume offline (check, or repair). */
export async function scrubStoredVolume(table: VolumeTable, name: string, open: OpenDevice, repair: boolean, onProgress?: RowProgress): Promise<ScrubResult> {
  const { volume, stored } = await assembleStoredVolume(table, name, open);
  try {
    const result = await scrubAll(volume, repair, onProgress);
    await volume.flush();
    return result;
  } finally {
    await saveMembers(table, name, volume, stored).catch(() => undefined);
    await volume.close();
  }
}

async function scrubAll(volume: Volume, repair: boolean, onProgress?: RowProgress): Promise<ScrubResult> {
  const step = Math.max(1, Math.floor(STEP_BYTES / volume.layout.chunkSize));
  const parts: ScrubResult[] = [];
  for (let row = 0; row < volume.layout.rows; row += step) {
    const end = Math.min(volume.layout.rows, row + step);
    parts.push(await volume.scrubRows(row, end, { repair }));
    onProgress?.(end, volume.layout.rows);
  }
  return mergeScrubResults(parts);
}

/** Writes the state record of a volume assembled from `stored` by an offline tool. */
async function saveMembers(table: VolumeTable, name: string, volume: Volume, stored: StoredVolume): Promise<void> {
  const current = await table.get(name);
  if (current.intent.generation !== stored.intent.generation) {
    throw new ConflictError(`volume ${name} was changed (fail/replace) while this tool ran: run it again`);
  }
  await table.writeState(current, {
    generation: stored.intent.generation,
    memberUris: [...stored.entry.config.members],
    spares: [...stored.entry.config.spares],
    members: volume.members.map((m) => memberEntryOf(m.snapshot())),
    rows: volume.layout.rows,
    updatedAt: Date.now(),
  });
}

/** Rebuild progress of one member, like /proc/mdstat's recovery line. */
export interface RebuildProgress {
  readonly member: number;
  readonly rebuiltRows: number;
  /** Rows of the volume, when recorded (else the percentage is unknown). */
  readonly rows: number | null;
  readonly percent: number | null;
  /** Bytes per second measured by the serving process, or null while unknown. */
  readonly rate: number | null;
  /** Seconds to go at that rate, or null ("no estimate"). */
  readonly etaSeconds: number | null;
}

/** Progress of every rebuilding member of a stored volume. */
export function rebuildProgress(entry: VolumeEntry): RebuildProgress[] {
  return entry.members.flatMap((m, i) => {
    if (m.state !== MemberState.Rebuilding) return [];
    const rebuiltRows = m.rebuilt.reduce((n, r) => n + r.end - r.start, 0);
    const rows = entry.rows ?? null;
    const rate = entry.rebuildRates?.[String(i)] ?? null;
    const remaining = rows === null ? null : (rows - rebuiltRows) * entry.config.chunkSize;
    return [{
      member: i,
      rebuiltRows,
      rows,
      percent: rows === null || rows === 0 ? null : Math.round((rebuiltRows * 1000) / rows) / 10,
      rate: rate !== null && rate > 0 ? rate : null,
      etaSeconds: remaining !== null && rate !== null && rate > 0 ? Math.ceil(remaining / rate) : null,
    }];
  });
}

function memberAt(entry: VolumeEntry, index: number): VolumeEntry['members'][number] {
  const member = entry.members[index];
  if (member === undefined || !Number.isInteger(index)) {
    throw new InvalidArgumentError(`volume ${entry.config.name} has no member ${index} (members are 0 to ${entry.members.length - 1})`, { details: { field: 'member' } });
  }
  return member;
}

/** Rows of a stored volume: as recorded, or from the smallest member that opens. */
export async function storedRows(stored: StoredVolume, open: OpenDevice): Promise<number> {
  return stored.entry.rows ?? Math.floor(Math.min(...(await memberSizes(stored.entry, open, -1))) / stored.entry.config.chunkSize);
}

/** Opens `uri` and checks it can hold member `index`'s rows; InvalidArgumentError names `field`. */
async function checkReplacementSize(current: StoredVolume, index: number, uri: string, open: OpenDevice, field: string): Promise<void> {
  const device = await open(uri);
  try {
    const rows = Math.floor(Math.min(...(await memberSizes(current.entry, open, index))) / current.entry.config.chunkSize);
    if (device.size < rows * current.entry.config.chunkSize) {
      throw new InvalidArgumentError(`${uri} has ${device.size} bytes; member ${index} of volume ${current.entry.config.name} needs ${rows * current.entry.config.chunkSize}`, { details: { field } });
    }
  } finally {
    await device.close();
  }
}

/** Sizes of the other members (to size a replacement); unopenable ones are skipped. */
async function memberSizes(entry: VolumeEntry, open: OpenDevice, except: number): Promise<number[]> {
  const sizes: number[] = [];
  for (const [i, uri] of entry.config.members.entries()) {
    if (i === except || entry.members[i]?.state === MemberState.Failed) continue;
    const d = await open(uri).catch(() => undefined);
    if (d === undefined) continue;
    sizes.push(d.size);
    await d.close();
  }
  return sizes.length > 0 ? sizes : [0];
}
