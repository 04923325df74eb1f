/**
 * Wire types of a cluster's configuration and state: what an agent reads from the cluster's persistent
 * data and transmits to its server, and what servers, the CLI and the browser show. Runtime-neutral (no
 * Node imports), so every side imports the same schemas.
 */
import { z } from 'zod';

/** A cluster, server or agent id: short, printable, safe in paths and URLs. */
export const IdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, "_", "." and "-" (starting with a letter or digit)');

/** One configured device of a cluster. */
export const DeviceConfigSchema = z.strictObject({
  /** Name unique within the cluster ("d0"). */
  name: IdSchema,
  /** Device URI or path, opened through the driver layer. */
  uri: z.string().min(1),
});
/** One configured device of a cluster. */
export type DeviceConfig = z.infer<typeof DeviceConfigSchema>;

/** A cluster's configuration as stored at the cluster: which devices and so how many. */
export const ClusterConfigInfoSchema = z.strictObject({
  clusterId: IdSchema,
  /** How many storage devices the cluster has (always `devices.length`, sent for readers that only count). */
  deviceCount: z.number().int().nonnegative(),
  devices: z.array(DeviceConfigSchema),
  /** The metadata region's URI, when the cluster runs partitioned tasks. */
  meta: z.string().optional(),
});
/** A cluster's stored configuration. */
export type ClusterConfigInfo = z.infer<typeof ClusterConfigInfoSchema>;

/** Whether one device is available, why, and since when. */
export const DeviceStateSchema = z.strictObject({
  name: IdSchema,
  available: z.boolean(),
  /** Operator-readable reason ("probe read failed: ENOENT", "probe ok"). */
  reason: z.string(),
  /** Wall-clock ISO time of the last change of `available` (for display; never compared across hosts). */
  since: z.string(),
  /** Probe or I/O errors counted since the agent first saw the device. */
  errors: z.number().int().nonnegative(),
});
/** Whether one device is available, why, and since when. */
export type DeviceState = z.infer<typeof DeviceStateSchema>;
