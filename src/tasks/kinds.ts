/** The task kinds built into blockrig; the volumes issue adds its own to a registry built from these. */
import { checksumKind } from './checksum.js';
import { fillKind } from './fill.js';
import { TaskKindRegistry, type TaskKind } from './registry.js';
import { verifyKind } from './verify.js';
import { openDevice } from '../../drivers/index.js';
import { systemClock } from '../clock.js';
import { createVolumeTaskKinds } from '../volume/tasks/volume-kinds.js';

/** The built-in kinds: fill, verify, checksum. */
export const BUILTIN_TASK_KINDS: readonly TaskKind[] = [fillKind, verifyKind, checksumKind];

/** A fresh registry holding the built-in kinds and the volume kinds (callers may register more). */
export function defaultTaskKinds(): TaskKindRegistry {
  return new TaskKindRegistry([...BUILTIN_TASK_KINDS, ...createVolumeTaskKinds({ open: (uri) => openDevice(uri), clock: systemClock })]);
}
