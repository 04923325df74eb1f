/**
 * Wire types of volumes as an agent reads them from its cluster's volume table and transmits them, and of
 * the operator's volume actions (fail or replace a member). Runtime-neutral (no Node imports): the agent,
 * the server, the CLI and the browser share these schemas.
 */
import { z } from 'zod';
import { IdSchema } from './cluster.js';

/** A member's state, as the volume library names it. */
export const MemberStateNameSchema = z.enum(['in-sync', 'failed', 'rebuilding']);

/** One member slot of a volume. */
export const VolumeMemberViewSchema = z.strictObject({
  index: z.number().int().nonnegative(),
  uri: z.string(),
  /** The cluster device configured with this URI ("d2"), or null when it is not one of the cluster's devices. */
  device: z.string().nullable(),
  state: MemberStateNameSchema,
  reason: z.string().nullable(),
  readErrors: z.number().int().nonnegative(),
  writeErrors: z.number().int().nonnegative(),
  /** Rebuild progress of a rebuilding member (percent, rate in bytes/s, seconds to go), else null. */
  rebuild: z
    .strictObject({ percent: z.number().nullable(), rate: z.number().nullable(), etaSeconds: z.number().nullable() })
    .nullable(),
});
/** One member slot of a volume. */
export type VolumeMemberView = z.infer<typeof VolumeMemberViewSchema>;

/** A volume as stored in its cluster's volume table (`blockrig volume status`, merged intent and state). */
export const VolumeViewSchema = z.strictObject({
  name: z.string().min(1),
  level: z.enum(['raid1', 'raid5', 'raid6']),
  state: z.enum(['clean', 'degraded', 'rebuilding', 'failed']),
  chunkSize: z.number().int().positive(),
  members: z.array(VolumeMemberViewSchema),
  spares: z.array(z.strictObject({ uri: z.string(), device: z.string().nullable() })),
  rebuildPaused: z.boolean(),
  // No update time: the serving process rewrites its state record every poll, and a view that changed
  // with it would be stored and transmitted as a change every probe interval.
});
/** A volume view. */
export type VolumeView = z.infer<typeof VolumeViewSchema>;

/** Body of `POST /api/v1/clusters/:id/volumes/:name/fail`. */
export const VolumeFailSchema = z.strictObject({ member: z.number().int().min(0).max(63) });
/** Body of `POST /api/v1/clusters/:id/volumes/:name/replace`: `with` is a device name of the cluster or a URI. */
export const VolumeReplaceSchema = z.strictObject({ member: z.number().int().min(0).max(63), with: z.string().trim().min(1, 'name a device or URI') });

/** An operator action on a volume, as a server forwards it to an agent of the volume's cluster. */
export const VolumeActionSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('fail'), cluster: IdSchema, volume: z.string().min(1), member: z.number().int().min(0).max(63) }),
  z.strictObject({ action: z.literal('replace'), cluster: IdSchema, volume: z.string().min(1), member: z.number().int().min(0).max(63), with: z.string().min(1) }),
]);
/** An operator action on a volume. */
export type VolumeAction = z.infer<typeof VolumeActionSchema>;
