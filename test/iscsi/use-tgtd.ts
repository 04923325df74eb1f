/** Ties a tgtd (`src/iscsi/tgtd-target.ts`) to a vitest file: started before its tests, stopped after them, even on failure. */
import { afterAll, beforeAll } from 'vitest';
import { tempDir } from '../support/temp.js';
import { Tgtd, type TgtdTargetSpec } from '../../src/iscsi/tgtd-target.js';

/** Starts a tgtd with `targets` before the file's tests; returns a getter for it. */
export function useTgtd(targets: readonly TgtdTargetSpec[]): () => Tgtd {
  const dir = tempDir('blockrig-tgtd-');
  let tgtd: Tgtd | undefined;
  beforeAll(async () => {
    tgtd = await Tgtd.launch(dir);
    for (const target of targets) tgtd.addTarget(target);
  });
  afterAll(async () => {
    await tgtd?.stop();
  });
  return () => {
    if (tgtd === undefined) throw new Error('tgtd is not running: use the getter inside tests');
    return tgtd;
  };
}
