/**
 * The scenario contract: what a HIL scenario YAML file may say, validated with zod where it enters
 * (`loadScenario`). `docs/hil.md` is the guide to every field; this file is the single source of truth
 * and the docs' schema section mirrors it.
 *
 * A scenario is a rig (member devices and serial hardware), a volume over those devices, controllers, an
 * optional workload, one maintenance task, faults on a timeline (milliseconds after the task starts) or at
 * a progress point (a percentage of the task's partitions complete), and expectations checked at the end.
 * Cross-field rules (a fault naming a device that the rig lacks, a power cut on a device without a relay
 * channel) are checked in `superRefine` so that their errors carry the path of the offending field.
 */
import { z } from 'zod';
import { faultRuleSchema } from '../../drivers/fault-rules.js';
import { parseSize } from '../../src/units.js';

/** A byte count: a number or a string with a unit ("16MiB"). */
const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** A duration: milliseconds as a number, or "250ms", "2s", "1.5s". */
export const durationSchema = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$/.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration: write milliseconds or a number with ms, s or m (250ms, 2s)` });
    return z.NEVER;
  }
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
});

const deviceName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a device name is 1-32 lower-case letters, digits or "-", starting with a letter');

/** nbdkit filters in front of a file-backed export (nbdkit-error-filter, -delay-filter, -rate-filter). */
const nbdkitFilters = z.strictObject({
  /** Fraction (0..1) of requests that fail with EIO while the fault is armed (always, unless `armed: false`). */
  error: z.strictObject({ rate: z.number().min(0).max(1), armed: z.boolean().default(true) }).optional(),
  /** Delay added to every read and write. */
  delay: durationSchema.optional(),
  /** Bandwidth limit, bits per second as nbdkit takes it ("10M"). */
  rate: z.string().regex(/^\d+[KMG]?$/, 'a rate is a number of bits per second with an optional K, M or G').optional(),
});

/** One member device of the rig. Every device is wrapped in the fault driver so faults can reach it. */
export const rigDeviceSchema = z.strictObject({
  name: deviceName,
  /**
   * file: an image file; loop: the image attached to a kernel loop device; memory: RAM; nbdkit: the image
   * served by nbdkit over a unix socket (with `filters`); qemu-nbd: the image served by qemu-nbd; iscsi:
   * the image as LUN 1 of its own target on the rig's tgtd.
   */
  kind: z.enum(['file', 'loop', 'memory', 'nbdkit', 'qemu-nbd', 'iscsi']),
  size,
  filters: nbdkitFilters.optional(),
  /** Relay channel (1-based) that powers this device; cutting it takes the device offline. */
  power: z.number().int().min(1).max(64).optional(),
});

/** Serial hardware of the rig. */
export const serialSchema = z.strictObject({
  relay: z
    .strictObject({
      /** Path of a real relay board; omitted: a simulated board behind a socat pseudo-terminal pair. */
      path: z.string().min(1).optional(),
      channels: z.number().int().min(1).max(64).default(8),
    })
    .optional(),
  /** The controller firmware console: a real one at `path`, or the simulated firmware behind socat. */
  console: z
    .strictObject({
      path: z.string().min(1).optional(),
      /** What the console prints when it is ready for a command (a regular expression). */
      prompt: z.string().min(1).default('fw> '),
      /** How long to wait for the prompt or an answer. */
      timeout: durationSchema.default(5000),
    })
    .optional(),
});

const rigSchema = z.strictObject({
  devices: z.array(rigDeviceSchema).min(2),
  serial: serialSchema.optional(),
});

const volumeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/).default('vol'),
  level: z.enum(['raid1', 'raid5', 'raid6']),
  chunk: size.default(64 * 1024),
  members: z.array(deviceName).min(2),
  spares: z.array(deviceName).default([]),
});

const controllersSchema = z.strictObject({
  count: z.number().int().min(1).max(16).default(1),
  /** Heartbeat lease: a controller whose heartbeat stalls this long loses its partition to a peer. */
  leaseMs: durationSchema.default(400),
});

const workloadSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    /** Seeded pattern writes through the volume while the task runs; every byte is read back at the end. */
    kind: z.literal('pattern'),
    /** Size of each write. */
    blockSize: size.default(4096),
    /** Writes issued while the task runs (the whole volume is filled with the pattern first). */
    writes: z.number().int().nonnegative().default(200),
  }),
  z.strictObject({
    /** fio's nbd engine against the volume exported by blockrig's NBD server, with verify=crc32c. */
    kind: z.literal('fio'),
    size: size,
    blockSize: size.default(4096),
    rw: z.enum(['write', 'randwrite', 'rw', 'randrw']).default('randwrite'),
  }),
]);

/**
 * Rows each controller works between two checkpoints of its partition (the volume kinds' stepRows), and
 * the task's bandwidth per controller process in member bytes per second: a fault-driver latency rule
 * (`bytesPerSecond`) on the rebuilt member's writes or on the first member's reads for a scrub.
 */
const volumeTaskPace = {
  stepRows: z.number().int().min(1).max(4096).default(4),
  rate: size.optional(),
  /** Issue the task through this server of the rig (needs `servers`) instead of `task submit --meta`. */
  via: z.enum(['A', 'B', 'C', 'D']).optional(),
};

const taskSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('rebuild'),
    ...volumeTaskPace,
    /** Member slot to fail and rebuild. */
    member: z.number().int().nonnegative(),
    /** Rig device that replaces it. */
    with: deviceName,
    partitions: z.number().int().min(1).max(4096).default(16),
  }),
  z.strictObject({
    kind: z.literal('scrub'),
    ...volumeTaskPace,
    repair: z.boolean().default(true),
    partitions: z.number().int().min(1).max(4096).default(16),
  }),
  z.strictObject({
    /**
     * A task on a metadata region, run by real controller processes: the harness formats the region on
     * `device` with `blockrig meta format`, starts `controllers.count` `blockrig controller run` processes on
     * it, submits a `fill` task with `blockrig task submit --meta --wait` (its data set is the device after
     * the region), then a `verify` task with the same seed; `blockrig meta check` runs at the end.
     */
    kind: z.literal('region'),
    /** Rig device (kind file) holding the metadata region and the task's data. */
    device: deviceName,
    partitions: z.number().int().min(1).max(4096).default(32),
    /** Partitions per chunk record (per claim). */
    chunkPartitions: z.number().int().min(1).max(800).default(4),
  }),
]);

/** When a fault fires: `at: 500ms` after the task starts, or `at: 40%` of the task's partitions complete. */
const whenSchema = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx): FaultTrigger => {
  if (typeof v === 'number') return { kind: 'time', ms: v };
  const percent = /^\s*(\d{1,3})\s*%\s*$/.exec(v);
  if (percent) return { kind: 'progress', percent: Number(percent[1]) };
  const time = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$/.exec(v);
  if (time) return { kind: 'time', ms: Number(time[1]) * (time[2] === 'ms' ? 1 : time[2] === 's' ? 1000 : 60_000) };
  ctx.addIssue({ code: 'custom', message: `"${v}" is neither a time after the task starts (500ms, 2s) nor a progress point (40%)` });
  return z.NEVER;
});

/** A decoded trigger. */
export type FaultTrigger = { readonly kind: 'time'; readonly ms: number } | { readonly kind: 'progress'; readonly percent: number };

const at = { at: whenSchema };
const forDuration = { duration: durationSchema.optional() };

const serverId = z.enum(['A', 'B', 'C', 'D']);

/** Servers and agents watching the rig's devices (docs/agents-and-servers.md). */
const serversSchema = z.strictObject({
  /** Servers A, B, ...; `cluster up` starts one agent per server at the rig's cluster. */
  count: z.number().int().min(1).max(4).default(2),
  /**
   * Server A and the rig's cluster (its agents) run in one network namespace, server B in another, joined
   * by a veth link that `cut-link` takes down: a network partition between the clusters. Needs count 2.
   */
  hosts: z.boolean().default(false),
});

/** Every fault action. Each undoes itself after `duration` where it has one. */
export const faultSchema = z.discriminatedUnion('action', [
  /** SIGKILL of a controller: it stops mid-partition without releasing anything. */
  z.strictObject({ action: z.literal('kill-controller'), controller: z.number().int().nonnegative(), ...at }),
  /** SIGSTOP/SIGCONT: the controller stops heartbeating and working for `duration`. */
  z.strictObject({ action: z.literal('pause-controller'), controller: z.number().int().nonnegative(), ...at, duration: durationSchema }),
  /** Every I/O to the device fails with EIO. */
  z.strictObject({ action: z.literal('fail-device'), device: deviceName, ...at, ...forDuration }),
  /** The device disappears (offline) and, after `duration`, comes back. */
  z.strictObject({ action: z.literal('pull-device'), device: deviceName, ...at, ...forDuration }),
  /** Every I/O waits `latency` first. */
  z.strictObject({ action: z.literal('slow-device'), device: deviceName, latency: durationSchema, ...at, ...forDuration }),
  /** Seeded random bytes written straight onto the medium, under the volume: silent corruption. */
  z.strictObject({ action: z.literal('corrupt'), device: deviceName, offset: size, length: size, ...at }),
  /** Any fault-driver rule (docs/drivers.md, "Fault rules"). */
  z.strictObject({ action: z.literal('rule'), device: deviceName, rule: faultRuleSchema, ...at, ...forDuration }),
  /** Cuts the device's relay channel over the serial line; the device goes offline until power returns. */
  z.strictObject({ action: z.literal('power-cycle'), device: deviceName, ...at, duration: durationSchema }),
  /** SIGKILL of the process serving the device (nbdkit, qemu-nbd): the export is gone for good. */
  z.strictObject({ action: z.literal('kill-export'), device: deviceName, ...at }),
  /** SIGKILL of a server: its agent/server pair is gone, the other pair carries on. */
  z.strictObject({ action: z.literal('kill-server'), server: serverId, ...at }),
  /** SIGKILL of the agent registered with that server (`cluster up` starts it again after its retry delay). */
  z.strictObject({ action: z.literal('kill-agent'), server: serverId, ...at }),
  /**
   * A torn write of a metadata record (task kind region): the record's next version (sequence + 1, to the
   * copy it overwrites, the older one) lands only for its first `keepBytes`; the rest of the block is
   * seeded random bytes, as a power cut mid-write leaves it. The newest copy stays as it was.
   */
  z.strictObject({
    action: z.literal('tear-metadata'),
    device: deviceName,
    record: z.enum(['superblock', 'task', 'chunk']),
    /** Chunk record index of the task (record: chunk). */
    chunk: z.number().int().nonnegative().default(0),
    keepBytes: size.default(512),
    ...at,
  }),
  /** Takes the link between the hosts down (servers.hosts), for `duration` or to the end of the task. */
  z.strictObject({ action: z.literal('cut-link'), ...at, ...forDuration }),
]);

const countRange = z.union([z.number().int().nonnegative(), z.strictObject({ min: z.number().int().nonnegative().optional(), max: z.number().int().nonnegative().optional() })]);

const expectSchema = z.strictObject({
  task: z.enum(['completed', 'failed']).optional(),
  /** Mismatching 512-byte sectors the scrub found (md's mismatch_cnt). */
  mismatches: countRange.optional(),
  /** Every byte the workload wrote reads back (pattern: through the volume; fio: fio's verify passed). */
  dataVerified: z.boolean().optional(),
  /** A check-only scrub after the task finds no mismatch. */
  consistent: z.boolean().optional(),
  /** Upper bound of the task's run time. */
  within: durationSchema.optional(),
  volume: z.enum(['clean', 'degraded', 'rebuilding', 'failed']).optional(),
  /** Member state by device name. */
  /** Member state by device name; "removed": its slot went to a replacement. */
  members: z.record(deviceName, z.enum(['in-sync', 'rebuilding', 'failed', 'removed'])).optional(),
  /** Partitions reclaimed from a dead or stalled controller. */
  reclaimed: countRange.optional(),
  /** Console commands sent after the task, each with a regular expression its answer must match. */
  console: z.array(z.strictObject({ send: z.string(), match: z.string().min(1) })).optional(),
  /** `blockrig meta check` on the region (task kind region): clean (no errors; warnings allowed) or not. */
  metaCheck: z.enum(['clean', 'not-clean']).optional(),
  /** Warnings of `meta check`: damaged copies detected and not trusted because their twin is valid. */
  metaWarnings: countRange.optional(),
  /** The task's final state as every live server reports it (needs `task.via`); waited for up to 15 s. */
  taskReported: z.enum(['succeeded', 'failed']).optional(),
  /** The servers whose agents executed the task, in order (a takeover adds one), as a live server reports it. */
  taskExecutedBy: z.array(serverId).min(1).optional(),
  /** Device availability as every live server reports it (needs `servers`); waited for up to 15 s. */
  reported: z.record(deviceName, z.enum(['available', 'unavailable'])).optional(),
});

/** The fields of a scenario file. */
const scenarioObject = z.strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a scenario name is lower-case letters, digits and "-"'),
    description: z.string().default(''),
    /** Seed of every random choice; `--seed` overrides it. */
    seed: z.number().int().nonnegative().default(1),
    /** The whole run (rig, workload, task, checks) is aborted past this. */
    timeout: durationSchema.default(120_000),
    rig: rigSchema,
    volume: volumeSchema,
    controllers: controllersSchema.default({ count: 1, leaseMs: 400 }),
    servers: serversSchema.optional(),
    workload: workloadSchema.optional(),
    task: taskSchema,
    faults: z.array(faultSchema).default([]),
    expect: expectSchema,
});

/** A whole scenario file, with its cross-field rules. */
export const scenarioSchema = scenarioObject.superRefine((s, ctx) => checkReferences(s, ctx));

/** A validated scenario. */
export type Scenario = z.output<typeof scenarioSchema>;
/** One validated fault. */
export type Fault = z.output<typeof faultSchema>;
/** One validated rig device. */
export type RigDevice = z.output<typeof rigDeviceSchema>;
/** The validated expectations. */
export type Expectations = z.output<typeof expectSchema>;
/** A count or a range of counts. */
export type CountRange = z.output<typeof countRange>;

/** Cross-field rules; each issue carries the path of the field at fault. */
function checkReferences(s: z.output<typeof scenarioObject>, ctx: z.RefinementCtx): void {
  const names = new Map<string, RigDevice>();
  s.rig.devices.forEach((d, i) => {
    if (names.has(d.name)) ctx.addIssue({ code: 'custom', path: ['rig', 'devices', i, 'name'], message: `device "${d.name}" is defined twice` });
    names.set(d.name, d);
    if (d.filters !== undefined && d.kind !== 'nbdkit') ctx.addIssue({ code: 'custom', path: ['rig', 'devices', i, 'filters'], message: `filters are nbdkit filters: device "${d.name}" is ${d.kind}, make it kind: nbdkit` });
    if (d.power !== undefined && s.rig.serial?.relay === undefined) ctx.addIssue({ code: 'custom', path: ['rig', 'devices', i, 'power'], message: 'a power channel needs rig.serial.relay' });
  });
  const used = new Set<string>();
  const ref = (name: string, path: (string | number)[]): void => {
    if (!names.has(name)) ctx.addIssue({ code: 'custom', path, message: `no device "${name}" in rig.devices (have ${[...names.keys()].join(', ')})` });
  };
  const claim = (name: string, path: (string | number)[]): void => {
    ref(name, path);
    if (used.has(name)) ctx.addIssue({ code: 'custom', path, message: `device "${name}" is already used by the volume` });
    used.add(name);
  };
  s.volume.members.forEach((n, i) => claim(n, ['volume', 'members', i]));
  s.volume.spares.forEach((n, i) => claim(n, ['volume', 'spares', i]));
  const minMembers = s.volume.level === 'raid6' ? 4 : s.volume.level === 'raid5' ? 3 : 2;
  if (s.volume.members.length < minMembers) ctx.addIssue({ code: 'custom', path: ['volume', 'members'], message: `${s.volume.level} needs at least ${minMembers} members, got ${s.volume.members.length}` });
  if (s.task.kind === 'rebuild') {
    if (s.task.member >= s.volume.members.length) ctx.addIssue({ code: 'custom', path: ['task', 'member'], message: `the volume has members 0-${s.volume.members.length - 1}` });
    claim(s.task.with, ['task', 'with']);
  }
  if (s.task.kind === 'region') {
    claim(s.task.device, ['task', 'device']);
    const d = names.get(s.task.device);
    if (d !== undefined && d.kind !== 'file') ctx.addIssue({ code: 'custom', path: ['task', 'device'], message: `the metadata region's device is opened by the controller processes by path: device "${d.name}" is ${d.kind}, make it kind: file` });
  }
  const regionTask = s.task.kind === 'region';
  if (!regionTask) {
    // The controller processes open every device of the volume by its URI: none may live in the harness's memory.
    const volumeDevices: [string, (string | number)[]][] = [...s.volume.members.map((n, i): [string, (string | number)[]] => [n, ['volume', 'members', i]]), ...s.volume.spares.map((n, i): [string, (string | number)[]] => [n, ['volume', 'spares', i]])];
    if (s.task.kind === 'rebuild') volumeDevices.push([s.task.with, ['task', 'with']]);
    for (const [name, path] of volumeDevices) {
      if (names.get(name)?.kind === 'memory') ctx.addIssue({ code: 'custom', path, message: `device "${name}" is memory: the controller processes that run the ${s.task.kind} cannot open it; make it kind: file` });
    }
  }
  if (!regionTask && s.expect.metaCheck !== undefined) ctx.addIssue({ code: 'custom', path: ['expect', 'metaCheck'], message: 'metaCheck needs task kind: region' });
  if (!regionTask && s.expect.metaWarnings !== undefined) ctx.addIssue({ code: 'custom', path: ['expect', 'metaWarnings'], message: 'metaWarnings needs task kind: region' });
  s.faults.forEach((f, i) => {
    if (f.action === 'cut-link') {
      if (s.servers?.hosts !== true) ctx.addIssue({ code: 'custom', path: ['faults', i, 'action'], message: 'cut-link needs servers: { hosts: true }' });
      return;
    }
    if (f.action === 'kill-server' || f.action === 'kill-agent') {
      const count = s.servers?.count ?? 0;
      if (count === 0) ctx.addIssue({ code: 'custom', path: ['faults', i, 'action'], message: `${f.action} needs a servers section` });
      else if (f.server.charCodeAt(0) - 65 >= count) ctx.addIssue({ code: 'custom', path: ['faults', i, 'server'], message: `there are servers A-${String.fromCharCode(64 + count)}` });
      return;
    }
    if (f.action === 'kill-controller' || f.action === 'pause-controller') {
      if (f.controller >= s.controllers.count) ctx.addIssue({ code: 'custom', path: ['faults', i, 'controller'], message: `there are controllers 0-${s.controllers.count - 1}` });
      return;
    }
    ref(f.device, ['faults', i, 'device']);
    if (f.action === 'tear-metadata' && (s.task.kind !== 'region' || s.task.device !== f.device)) ctx.addIssue({ code: 'custom', path: ['faults', i, 'device'], message: `tear-metadata acts on the metadata region: needs task kind: region on device "${f.device}"` });
    const d = names.get(f.device);
    if (f.action === 'power-cycle' && d !== undefined && d.power === undefined) ctx.addIssue({ code: 'custom', path: ['faults', i, 'device'], message: `device "${f.device}" has no power channel: give it power: N` });
    if (f.action === 'kill-export' && d !== undefined && d.kind !== 'nbdkit' && d.kind !== 'qemu-nbd') ctx.addIssue({ code: 'custom', path: ['faults', i, 'device'], message: `device "${f.device}" is ${d.kind}; only nbdkit and qemu-nbd devices have an export process` });
    if (f.at.kind === 'progress' && f.at.percent > 100) ctx.addIssue({ code: 'custom', path: ['faults', i, 'at'], message: 'a progress point is 0% to 100%' });
  });
  for (const name of Object.keys(s.expect.members ?? {})) ref(name, ['expect', 'members', name]);
  (s.expect.console ?? []).forEach((c, i) => {
    if (s.rig.serial?.console === undefined) ctx.addIssue({ code: 'custom', path: ['expect', 'console'], message: 'console checks need rig.serial.console' });
    try {
      new RegExp(c.match);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['expect', 'console', i, 'match'], message: `not a regular expression: ${(err as Error).message}` });
    }
  });
  if (s.servers?.hosts === true && s.servers.count !== 2) ctx.addIssue({ code: 'custom', path: ['servers', 'count'], message: 'hosts put server A and server B on two hosts: count must be 2' });
  for (const name of Object.keys(s.expect.reported ?? {})) {
    ref(name, ['expect', 'reported', name]);
    if (s.servers === undefined) ctx.addIssue({ code: 'custom', path: ['expect', 'reported'], message: 'reported device states need a servers section' });
    if (names.get(name)?.kind === 'memory') ctx.addIssue({ code: 'custom', path: ['expect', 'reported', name], message: `device "${name}" is memory: agents, in their own processes, cannot see it` });
  }
  const via = s.task.kind === 'region' ? undefined : s.task.via;
  if (via !== undefined && (s.servers === undefined || via.charCodeAt(0) - 65 >= s.servers.count)) ctx.addIssue({ code: 'custom', path: ['task', 'via'], message: s.servers === undefined ? 'via needs a servers section' : `there are servers A-${String.fromCharCode(64 + s.servers.count)}` });
  for (const field of ['taskReported', 'taskExecutedBy'] as const) {
    if (s.expect[field] !== undefined && via === undefined) ctx.addIssue({ code: 'custom', path: ['expect', field], message: `${field} needs a task issued through a server: give task.via` });
  }
  if (s.expect.mismatches !== undefined && s.task.kind !== 'scrub') ctx.addIssue({ code: 'custom', path: ['expect', 'mismatches'], message: 'mismatches are counted by a scrub task' });
}
