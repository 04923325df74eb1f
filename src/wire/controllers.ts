/**
 * Wire types of the controllers (and driver clients) holding host slots in a cluster's metadata region,
 * as its agents read them: live or not, and what each is running. Runtime-neutral.
 */
import { z } from 'zod';

/** One occupied host slot of the metadata region. */
export const ControllerViewSchema = z.strictObject({
  slot: z.number().int().nonnegative(),
  hostname: z.string(),
  pid: z.number().int().nonnegative(),
  /** `controller` runs partitions; `client` is a driver process (a task's initiator). */
  role: z.enum(['controller', 'client']),
  /** The slot's state as the region names it (`joining`, `live`). */
  state: z.string(),
  /** True while the slot's heartbeat keeps changing, as the reading agent observes it (delta lease). */
  live: z.boolean(),
  incarnation: z.number().int().nonnegative(),
  /** What it has claimed: a chunk of a task (`chunk` null for the task record itself), or null when idle. */
  running: z.strictObject({ taskId: z.string(), chunk: z.number().int().nullable() }).nullable(),
});
/** One occupied host slot. */
export type ControllerView = z.infer<typeof ControllerViewSchema>;
