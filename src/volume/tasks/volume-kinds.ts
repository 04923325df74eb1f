/**
 * Volume task kinds on the controllers' partitioned task mechanism (`src/tasks/registry.ts`):
 * `volume-rebuild`, `volume-scrub`, `volume-initialize` and `volume-copy` (`docs/volumes.md`, "Tasks
 * across controllers"; parameters in `params.ts`).
 *
 * The data set of a volume task is the members' row area: offset 0, length `rows * chunkSize` on the
 * target, which for a rebuild or a copy is the new device itself (so the task's partitions are ranges of
 * the device being written), and for a scrub any member. A partition covers whole rows; each controller
 * assembles the volume from the volume table on the metadata device named in the parameters, works its
 * rows a step at a time under the volume's row lock, and checkpoints after each step, so a controller
 * killed mid-partition costs one step. Partition work is idempotent: a redone step recomputes the same
 * bytes.
 */
import type { TaskKind } from '../../tasks/registry.js';
import { copyKind } from './copy-kind.js';
import { rebuildKind } from './rebuild-kind.js';
import { scrubKind } from './scrub-kind.js';
import { VolumeCache, type VolumeTaskEnv } from './volume-cache.js';

export type { VolumeTaskEnv } from './volume-cache.js';

/** Builds the volume task kinds for one process (they share its assembled volumes). */
export function createVolumeTaskKinds(env: VolumeTaskEnv): TaskKind[] {
  const cache = new VolumeCache(env.open);
  // The kinds share one cache: closing any of them releases it (closing twice is harmless).
  const close = (): Promise<void> => cache.close();
  return [rebuildKind(env, cache), scrubKind('volume-scrub', env, cache), scrubKind('volume-initialize', env, cache), copyKind(env, cache)].map((k) => ({ ...k, close }));
}
