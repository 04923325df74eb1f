/**
 * How the driver process turns a volume task issued through a server (`volume-scrub`, `volume-rebuild`,
 * `volume-initialize` with the wire's arguments: a volume name, partitions, repair, member) into a task
 * of the metadata region: it reads the volume from the cluster's volume table and picks the data set the
 * volume kinds expect (`docs/volumes.md`, "Tasks across controllers"): offset 0 and `rows x chunk` bytes
 * of a member (the rebuilding member for a rebuild, the new device for a copy, an in-sync member
 * otherwise), cut into partitions of whole rows. A copy is first recorded in the volume table (as
 * `blockrig volume copy` does), so the serving process writes both devices while it runs. It also turns a scrub's mismatched partitions into member byte ranges, so the completion
 * status says where the mismatches are.
 */
import type { BlockDevice } from '../../drivers/types.js';
import { systemClock, type Clock } from '../clock.js';
import { ConflictError, InvalidArgumentError } from '../errors.js';
import { MemberState } from '../volume/member.js';
import { startStoredCopy, storedRows } from '../volume/volume-admin.js';
import { VolumeTable, type StoredVolume } from '../volume/volume-table.js';
import type { TaskKind } from '../wire/index.js';

/** Partitions of a volume task when the issuer gave no count. */
export const DEFAULT_VOLUME_PARTITIONS = 16;

/** A volume task as the driver process is asked to run it. */
export interface VolumeTaskRequest {
  kind: TaskKind;
  /** URI of the metadata device holding the cluster's volume table. */
  table: string;
  volume: string;
  partitions?: number;
  repair?: boolean;
  member?: number;
  /** A copy's new device (URI). */
  to?: string;
  /** No process serves the volume: a rebuild or copy does not wait for one to apply the change. */
  offline?: boolean;
}

/** The region task for a volume task: data set, partition size and the kind's parameters. */
export interface PlannedVolumeTask {
  target: string;
  offset: number;
  length: number;
  partitionSize: number;
  params: Record<string, unknown>;
}

/** A byte range of every member that a scrub found mismatched (one per mismatched partition). */
export interface MismatchLocation {
  partition: number;
  /** First byte on each member. */
  offset: number;
  length: number;
}

/** Plans the region task of a volume task; refuses a volume that is missing or has nothing to rebuild. */
export async function planVolumeTask(request: VolumeTaskRequest, open: (uri: string) => Promise<BlockDevice>, clock: Clock = systemClock): Promise<PlannedVolumeTask> {
  const table = new VolumeTable(await open(request.table));
  let stored = await table.get(request.volume);
  if (request.kind === 'volume-copy') {
    const member = request.member ?? -1;
    const to = request.to ?? '';
    // A driver started again for the same task finds its copy already recorded.
    if (stored.entry.members[member]?.copyTo !== to) stored = await startStoredCopy(table, request.volume, member, to, open);
    const rows = await storedRows(stored, open);
    const params = { volume: request.volume, meta: request.table, member, served: request.offline !== true };
    return { target: to, offset: 0, length: rows * stored.entry.config.chunkSize, partitionSize: partitionBytes(rows, stored.entry.config.chunkSize, request.partitions), params };
  }
  if (request.kind === 'volume-rebuild' && request.offline !== true) stored = await spareTakenIn(table, request.volume, stored, clock);
  const { config, members } = stored.entry;
  const inSync = members.flatMap((m, i) => (m.state === MemberState.InSync ? [i] : []));
  let targetIndex = inSync[0];
  if (request.kind === 'volume-rebuild') {
    const rebuilding = members.flatMap((m, i) => (m.state === MemberState.Rebuilding ? [i] : []));
    targetIndex = request.member ?? rebuilding[0];
    if (targetIndex === undefined) {
      throw new ConflictError(`no member of volume ${request.volume} is being rebuilt: fail a member (a configured spare takes its slot) or replace a failed one first`, { details: { field: 'args.volume' } });
    }
    if (!rebuilding.includes(targetIndex)) {
      throw new ConflictError(`member ${targetIndex} of volume ${request.volume} is ${members[targetIndex]?.state ?? 'not a member'}, not being rebuilt`, { details: { field: 'args.member' } });
    }
  }
  const target = targetIndex === undefined ? undefined : config.members[targetIndex];
  if (target === undefined) throw new ConflictError(`volume ${request.volume} has no in-sync member to take the data set from`, { details: { field: 'args.volume' } });
  const rows = await storedRows(stored, open);
  const partitionSize = partitionBytes(rows, config.chunkSize, request.partitions);
  const params: Record<string, unknown> = { volume: request.volume, meta: request.table };
  if (request.kind === 'volume-scrub') params.repair = request.repair === true;
  if (request.kind === 'volume-rebuild') Object.assign(params, { member: targetIndex, served: request.offline !== true });
  return { target, offset: 0, length: rows * config.chunkSize, partitionSize, params };
}

/** How long a rebuild issued right after a failure waits for the serving process to move a spare in. */
const SPARE_WAIT_MS = 30_000;

/**
 * A rebuild issued right after a member failed (the dashboard's Fail, then Rebuild) may reach the table
 * before the serving process has moved a spare into the failed slot: while a member is failed, none is
 * rebuilding and a spare is there to take it, wait (up to 30 s) for that.
 */
async function spareTakenIn(table: VolumeTable, name: string, stored: StoredVolume, clock: Clock): Promise<StoredVolume> {
  const waiting = (s: StoredVolume): boolean =>
    s.entry.config.spares.length > 0 && s.entry.members.some((m) => m.state === MemberState.Failed) && !s.entry.members.some((m) => m.state === MemberState.Rebuilding);
  const started = clock.now();
  let current = stored;
  while (waiting(current) && clock.now() - started < SPARE_WAIT_MS) {
    await clock.sleep(250);
    current = await table.get(name);
  }
  return current;
}

/** Bytes per partition: whole rows, so there may be fewer partitions than asked for when rows do not divide evenly. */
function partitionBytes(rows: number, chunkSize: number, partitions: number | undefined): number {
  if (rows < 1) throw new InvalidArgumentError('the volume has no rows', { details: { field: 'args.volume' } });
  return Math.ceil(rows / Math.min(partitions ?? DEFAULT_VOLUME_PARTITIONS, rows)) * chunkSize;
}

/** Member byte ranges of the partitions a scrub reported mismatched (`mismatchedPartitions` of its result), from its data set. */
export function mismatchLocations(plan: Pick<PlannedVolumeTask, 'offset' | 'length' | 'partitionSize'>, result: unknown): MismatchLocation[] {
  const partitions = (result as { mismatchedPartitions?: unknown } | null)?.mismatchedPartitions;
  if (!Array.isArray(partitions)) return [];
  return partitions
    .filter((p): p is number => Number.isInteger(p))
    .map((partition) => {
      const offset = plan.offset + partition * plan.partitionSize;
      return { partition, offset, length: Math.min(plan.partitionSize, plan.offset + plan.length - offset) };
    });
}
