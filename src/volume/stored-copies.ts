/**
 * Proactive replacements recorded in the volume table (`volume copy`): every process that assembles a
 * volume for writing starts the replacement of each member the table says is being copied, so that its
 * writes reach the copy too, whichever controller copies which rows (`docs/volumes.md`, "Copy").
 */
import type { BlockDevice } from '../../drivers/types.js';
import { MemberState } from './member.js';
import type { Volume } from './volume.js';
import type { VolumeEntry } from './volume-table.js';

/**
 * Opens each copy target the entry names and starts it as the replacement of its in-sync member; returns
 * the targets started, by member index. A target that cannot be opened fails the assembly (a write that
 * skipped it would leave the copy stale).
 */
export async function startStoredCopies(volume: Volume, entry: VolumeEntry, open: (uri: string) => Promise<BlockDevice>): Promise<Map<number, string>> {
  const started = new Map<number, string>();
  for (const [i, m] of entry.members.entries()) {
    const uri = m.copyTo;
    const member = volume.members[i];
    if (uri === undefined || member === undefined || member.state !== MemberState.InSync || member.replacement !== undefined) continue;
    const device = await open(uri);
    try {
      volume.startReplacement(i, device);
    } catch (err) {
      await device.close().catch(() => undefined);
      throw err;
    }
    started.set(i, uri);
  }
  return started;
}
