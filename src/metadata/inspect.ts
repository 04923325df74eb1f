/**
 * `dumpRegion` and `checkRegion`: every record decoded, and the region's invariants checked, for
 * `blockrig meta dump` and `blockrig meta check`. Read-only: nothing here writes.
 */
import { PARTITION_STATE_NAMES } from './chunk-record.js';
import { hostStateName, type HostRecord } from './host-record.js';
import { MAX_PARTITIONS_PER_CHUNK, type RegionGeometry, type TimingParameters } from './layout.js';
import { chunkForTask, type MetadataRegion } from './region.js';
import { TASK_STATE_NAMES, TaskState, hexId, type TaskOutcome, type TaskSpec } from './task-record.js';

/** A decoded host slot as dump shows it. */
export interface HostDump {
  slot: number;
  sequence: number;
  state: string;
  incarnation: number | null;
  heartbeat: number | null;
  pid: number | null;
  hostname: string | null;
  role: string | null;
  claim: { taskSlot: number; taskId: string; index: number } | null;
  problems: string[];
}

/** A decoded task as dump shows it, with its partition states. */
export interface TaskDump {
  slot: number;
  sequence: number;
  id: string;
  state: string;
  partitions: number;
  chunkPartitions: number;
  chunks: number;
  spec: TaskSpec;
  outcome: TaskOutcome | null;
  partitionStates: string[];
  counts: Record<string, number>;
  problems: string[];
}

/** The whole region decoded. */
export interface RegionDump {
  uri: string;
  superblock: { formatVersion: number; regionUuid: string; geometry: RegionGeometry; timing: TimingParameters; maxPartitionsPerChunk: number; regionBytes: number; dataOffset: number; label: string; formattedAt: string; problems: string[] };
  hosts: HostDump[];
  tasks: TaskDump[];
}

function roleName(r: HostRecord): string {
  return r.role === 1 ? 'controller' : 'client';
}

/** Decodes every record of the region. */
export async function dumpRegion(region: MetadataRegion): Promise<RegionDump> {
  const sb = region.superblock;
  const hosts = (await region.readHosts()).map((h, slot): HostDump => {
    const v = h.value;
    return {
      slot,
      sequence: h.pingPong.sequence,
      state: v ? hostStateName(v.state) : h.pingPong.empty ? 'never used' : 'unreadable',
      incarnation: v?.incarnation ?? null,
      heartbeat: v?.heartbeat ?? null,
      pid: v?.pid ?? null,
      hostname: v?.hostname ?? null,
      role: v ? roleName(v) : null,
      claim: v?.claim ? { taskSlot: v.claim.taskSlot, taskId: hexId(v.claim.taskId), index: v.claim.index } : null,
      problems: h.problems,
    };
  });
  const tasks: TaskDump[] = [];
  for (const [slot, t] of (await region.readTasks()).entries()) {
    const task = t.value;
    if (task === undefined || task.state === TaskState.Empty) {
      if (t.problems.length > 0) tasks.push({ slot, sequence: t.pingPong.sequence, id: '-', state: 'unreadable', partitions: 0, chunkPartitions: 0, chunks: 0, spec: undefined as unknown as TaskSpec, outcome: null, partitionStates: [], counts: {}, problems: t.problems });
      continue;
    }
    const problems = [...t.problems];
    const states: string[] = [];
    if (task.chunks > sb.geometry.maxChunksPerTask || task.chunkPartitions > MAX_PARTITIONS_PER_CHUNK) {
      problems.push(`task has ${task.chunks} chunks of ${task.chunkPartitions}, beyond the region's ${sb.geometry.maxChunksPerTask} of ${MAX_PARTITIONS_PER_CHUNK}`);
    } else {
      const chunks = await region.readChunks(slot, 0, task.chunks);
      chunks.forEach((c, i) => {
        for (const p of c.problems) problems.push(`chunk ${i}: ${p}`);
        const rec = chunkForTask(c, task, i);
        for (const s of rec.states) states.push(PARTITION_STATE_NAMES[s]);
      });
    }
    const counts: Record<string, number> = {};
    for (const s of states) counts[s] = (counts[s] ?? 0) + 1;
    tasks.push({ slot, sequence: t.pingPong.sequence, id: hexId(task.taskId), state: TASK_STATE_NAMES[task.state], partitions: task.partitions, chunkPartitions: task.chunkPartitions, chunks: task.chunks, spec: task.spec, outcome: task.outcome ?? null, partitionStates: states, counts, problems });
  }
  return {
    uri: region.device.uri,
    superblock: {
      formatVersion: 1,
      regionUuid: sb.regionUuid.toString('hex'),
      geometry: sb.geometry,
      timing: sb.timing,
      maxPartitionsPerChunk: sb.maxPartitionsPerChunk,
      regionBytes: sb.regionBytes,
      dataOffset: sb.dataOffset,
      label: sb.label,
      formattedAt: new Date(sb.formattedAt).toISOString(),
      problems: region.superblockProblems,
    },
    hosts,
    tasks,
  };
}

/** What `checkRegion` found: errors make the region suspect; warnings are recoverable (a damaged copy). */
export interface CheckReport {
  uri: string;
  ok: boolean;
  errors: string[];
  warnings: string[];
  records: number;
}

/**
 * Checks every record's CRC and fields and the invariants between them: a damaged copy whose twin is
 * valid is a warning (a torn write the ping-pong absorbed); a record with no valid copy, a claim naming a
 * task slot that does not exist, or a finished task with partitions not COMPLETE or FAILED is an error.
 */
export async function checkRegion(region: MetadataRegion): Promise<CheckReport> {
  const dump = await dumpRegion(region);
  const errors: string[] = [];
  const warnings: string[] = [];
  const sort = (where: string, problems: string[], hasValid: boolean): void => {
    for (const p of problems) (hasValid ? warnings : errors).push(`${where}: ${p}`);
  };
  sort('superblock', dump.superblock.problems, true);
  for (const h of dump.hosts) {
    sort(`host slot ${h.slot}`, h.problems, h.state !== 'unreadable');
    if (h.claim && h.claim.taskSlot >= region.taskSlots) errors.push(`host slot ${h.slot}: claims task slot ${h.claim.taskSlot}, which does not exist`);
  }
  for (const t of dump.tasks) {
    for (const p of t.problems) {
      const chunkCopy = /^chunk \d+: copy \d: /.test(p);
      (t.state === 'unreadable' ? errors : chunkCopy ? warnings : errors).push(`task slot ${t.slot} (${t.id}): ${p}`);
    }
    const terminalDone = t.state === 'finished' || t.state === 'failed';
    if (terminalDone && t.partitionStates.some((s) => s === 'READY' || s === 'IN PROGRESS')) {
      errors.push(`task ${t.id} is ${t.state} but ${t.partitionStates.filter((s) => s === 'READY' || s === 'IN PROGRESS').length} partitions are not COMPLETE or FAILED`);
    }
    if (terminalDone && t.outcome === null) errors.push(`task ${t.id} is ${t.state} but records no completion actions`);
  }
  const records = 2 + dump.hosts.length + dump.tasks.reduce((n, t) => n + 1 + t.chunks, 0);
  return { uri: dump.uri, ok: errors.length === 0, errors, warnings, records };
}
