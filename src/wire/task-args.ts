/**
 * Task kinds the servers accept and each kind's arguments, checked where a task enters the system (the
 * server's `POST /api/v1/tasks`, the dashboard's form, `blockrig task submit --server`), so a bad
 * argument is refused with a message naming it (`args.volume`) instead of failing later in a driver
 * process. The agent passes the arguments to the driver process as `--name value` (`true` as a bare
 * flag, `false` left out). Runtime-neutral.
 *
 * The pattern kinds (fill, verify, checksum) keep extra arguments open: rigs may configure their own
 * driver command that takes its own options. The volume kinds are closed: the driver runs them on the
 * cluster's volume table and metadata region and knows every argument.
 */
import { z } from 'zod';

/** Kinds a driver process runs through the controller library: issue 4's pattern kinds and the volume kinds. */
export const TaskKindSchema = z.enum(['fill', 'verify', 'checksum', 'volume-scrub', 'volume-rebuild', 'volume-initialize', 'volume-copy']);
/** A task kind. */
export type TaskKind = z.infer<typeof TaskKindSchema>;

/** The kinds that work on a volume of the cluster's volume table (argument `volume` names it). */
export const VOLUME_TASK_KINDS: readonly TaskKind[] = ['volume-scrub', 'volume-rebuild', 'volume-initialize', 'volume-copy'];

/** One argument value. */
export const TaskArgValueSchema = z.union([z.string(), z.number(), z.boolean()]);

/** Any kind's arguments, as stored: passed to the driver process as `--name value`. */
export const TaskArgsSchema = z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'argument names are lower-case words joined by "-"'), TaskArgValueSchema);
/** A task's arguments. */
export type TaskArgs = z.infer<typeof TaskArgsSchema>;

const partitions = z.number({ error: 'partitions: a whole number' }).int('partitions: a whole number').min(1, 'at least 1 partition').max(4096, 'at most 4096 partitions');
const volumeName = z.string({ error: 'name the volume (as in the volume table)' }).trim().min(1, 'name the volume (as in the volume table)').max(64);
const seed = z.union([z.string().regex(/^(0x)?[0-9a-f]{1,8}$/i, 'seed: 1-8 hex digits'), z.number().int().nonnegative()]);

const patternArgs = z.looseObject({ partitions: partitions.optional(), seed: seed.optional(), target: z.string().min(1).optional() });
const volumeArgs = { volume: volumeName, partitions: partitions.optional() };

/** Arguments of `volume-scrub`: check (default) or `repair` mismatches; the result counts mismatched sectors and lists where. */
export const VolumeScrubArgsSchema = z.strictObject({ ...volumeArgs, repair: z.boolean({ error: 'repair: true or false' }).optional() });
/**
 * Arguments of `volume-rebuild`: the member being rebuilt (default: the one the volume table says is
 * rebuilding); `offline` when no `blockrig volume serve` process serves the volume (the task then does not
 * wait for a server to apply the replacement).
 */
export const VolumeRebuildArgsSchema = z.strictObject({
  ...volumeArgs,
  member: z.number({ error: 'member: a member index' }).int('member: a member index').min(0).max(63).optional(),
  offline: z.boolean().optional(),
});
/** Arguments of `volume-initialize`: parity from the data, mirrors from the first member, over the whole volume. */
export const VolumeInitializeArgsSchema = z.strictObject(volumeArgs);
/**
 * Arguments of `volume-copy` (a proactive replacement): in-sync member `member` is copied to the device
 * `to` (a URI) while the volume serves; at the end `to` takes the member's slot.
 */
export const VolumeCopyArgsSchema = z.strictObject({
  ...volumeArgs,
  member: z.number({ error: 'member: the index of the member to copy' }).int('member: a member index').min(0).max(63),
  to: z.string({ error: 'to: the URI of the device to copy to' }).trim().min(1, 'to: the URI of the device to copy to'),
  offline: z.boolean().optional(),
});

/** Each kind's argument schema. */
export const TASK_ARGS_SCHEMAS: Readonly<Record<TaskKind, z.ZodType<TaskArgs>>> = {
  fill: patternArgs as z.ZodType<TaskArgs>,
  verify: patternArgs as z.ZodType<TaskArgs>,
  checksum: patternArgs as z.ZodType<TaskArgs>,
  'volume-scrub': VolumeScrubArgsSchema,
  'volume-rebuild': VolumeRebuildArgsSchema,
  'volume-initialize': VolumeInitializeArgsSchema,
  'volume-copy': VolumeCopyArgsSchema,
};

/** Kinds that overwrite data (a copy: whatever its target device held): the dashboard asks before issuing them. */
export const DESTRUCTIVE_TASK_KINDS: readonly TaskKind[] = ['fill', 'volume-initialize', 'volume-copy'];

/** True when a task of `kind` with `args` may write over data (a fill, an initialize, a repairing scrub). */
export function writesData(kind: TaskKind, args: TaskArgs): boolean {
  return DESTRUCTIVE_TASK_KINDS.includes(kind) || (kind === 'volume-scrub' && args.repair === true);
}
