/**
 * Runs one SCSI command on a session and turns its status into data or a `ScsiSenseError`.
 *
 * Retried, because the command was not executed and trying again is what every initiator does:
 * - UNIT ATTENTION (every new I_T nexus gets "power on, reset" on its first command; capacity or mode
 *   changes raise one too), a few times;
 * - BUSY, TASK SET FULL and NOT READY "becoming ready", with a growing pause on the injected clock.
 * Everything else is reported with the decoded sense in `details`.
 */
import type { Clock } from '../../clock.js';
import { ScsiSenseError } from '../../errors.js';
import type { ScsiRequest } from '../scsi-request.js';
import type { IscsiSession } from '../session.js';
import { describeSense, parseSense, SenseKey, type Sense } from './sense.js';

/** SCSI status codes (SAM-5 5.3). */
export const ScsiStatus = { Good: 0x00, CheckCondition: 0x02, Busy: 0x08, ReservationConflict: 0x18, TaskSetFull: 0x28, TaskAborted: 0x40 } as const;

const STATUS_NAMES: Record<number, string> = { 0x02: 'CHECK CONDITION', 0x08: 'BUSY', 0x18: 'RESERVATION CONFLICT', 0x28: 'TASK SET FULL', 0x30: 'ACA ACTIVE', 0x40: 'TASK ABORTED' };

const UNIT_ATTENTION_RETRIES = 4;
const BUSY_RETRIES = 8;

/** Counters a caller may keep across commands (how many unit attentions were absorbed). */
export interface ExecuteStats {
  unitAttentions: number;
}

/** Runs `request`; resolves with the data on GOOD status. `name` names the command in errors ("READ(16)"). */
export async function executeScsi(session: IscsiSession, request: ScsiRequest, name: string, clock: Clock, stats?: ExecuteStats): Promise<Buffer> {
  let unitAttentions = 0;
  let busy = 0;
  for (;;) {
    const result = await session.command(request);
    if (result.status === ScsiStatus.Good) return result.data;
    const sense = result.status === ScsiStatus.CheckCondition ? parseSense(result.sense) : undefined;
    if (sense?.key === SenseKey.UnitAttention && unitAttentions < UNIT_ATTENTION_RETRIES) {
      unitAttentions++;
      if (stats) stats.unitAttentions++;
      continue;
    }
    const becomingReady = sense?.key === SenseKey.NotReady && sense.asc === 0x04 && sense.ascq === 0x01;
    if ((result.status === ScsiStatus.Busy || result.status === ScsiStatus.TaskSetFull || becomingReady) && busy < BUSY_RETRIES) {
      busy++;
      await clock.sleep(20 * 2 ** busy);
      continue;
    }
    throw scsiError(name, result.status, sense, result.sense);
  }
}

/** The error for a command that ended with a status other than GOOD. */
export function scsiError(name: string, status: number, sense: Sense | undefined, raw: Buffer): ScsiSenseError {
  const statusName = STATUS_NAMES[status] ?? `status 0x${status.toString(16)}`;
  const what = sense ? describeSense(sense) : raw.length > 0 ? `undecodable sense ${raw.subarray(0, 32).toString('hex')}` : statusName;
  return new ScsiSenseError(`SCSI ${name} failed with ${statusName}: ${what}`, {
    details: {
      command: name,
      status,
      statusName,
      ...(sense && {
        senseKey: sense.key,
        senseKeyName: sense.keyName,
        asc: sense.asc,
        ascq: sense.ascq,
        senseFormat: sense.format,
        ...(sense.information !== undefined && { information: sense.information.toString() }),
      }),
    },
  });
}
