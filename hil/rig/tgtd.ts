/**
 * The rig's iSCSI target: one tgtd (Debian `tgt`, started through the product's `src/iscsi/tgtd-target.ts`
 * on a free portal port and its own control port, so it never meets another tgtd on the machine), with one
 * target per `kind: iscsi` device whose LUN 1 is backed by the device's image file. Teardown deletes the
 * targets and SIGKILLs the tgtd (it ignores SIGTERM in the foreground), and logs what tgtd wrote.
 */
import { Tgtd } from '../../src/iscsi/tgtd-target.js';
import type { Teardown } from './teardown.js';

/** A running tgtd of the rig. */
export interface RigTgtd {
  /** Adds a target for `name` with LUN 1 on `image`; returns the device URI. */
  addLun(name: string, image: string): string;
}

/** Starts tgtd (its LUN files, if any, in `workDir`) and registers its teardown. */
export async function startTgtd(ctx: { workDir: string; teardown: Teardown; log: (line: string) => void }): Promise<RigTgtd> {
  const tgtd = await Tgtd.launch(ctx.workDir);
  ctx.teardown.push('stop tgtd', async () => {
    await tgtd.stop();
    if (tgtd.log.trim() !== '') ctx.log(`tgtd: ${tgtd.log.trim()}`);
  });
  ctx.log(`tgtd: portal 127.0.0.1:${tgtd.port}, control port ${tgtd.controlPort}`);
  return {
    addLun: (name, image) => {
      const iqn = `iqn.2026-11.org.blockrig.hil:${name}`;
      tgtd.addTarget({ iqn, luns: [{ lun: 1, sizeBytes: 0, image }] });
      return tgtd.uri(iqn, 1);
    },
  };
}
