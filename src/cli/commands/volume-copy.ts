/**
 * `blockrig volume copy NAME --member N --to URI`: a proactive replacement (md's want_replacement). It
 * records the copy in the volume table (the serving process then writes both devices) and submits a
 * `volume-copy` task to the metadata region, whose controllers copy the rows; the task's completion puts
 * the copy in the member's slot (`docs/volumes.md`, "Copy").
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { openDevice } from '../../../drivers/index.js';
import { systemClock } from '../../clock.js';
import { HostSession } from '../../controller/host-session.js';
import { TaskFailedError } from '../../errors.js';
import { HostRole } from '../../metadata/host-record.js';
import { MetadataRegion } from '../../metadata/region.js';
import { defaultTaskKinds } from '../../tasks/kinds.js';
import { submitTask, waitForTask } from '../../tasks/lifecycle.js';
import { parseSize } from '../../units.js';
import { startStoredCopy, storedRows } from '../../volume/volume-admin.js';
import { VolumeTable } from '../../volume/volume-table.js';
import { action, parseArgs } from '../command.js';
import { printJson } from '../output.js';

interface CopyOptions {
  meta: string;
  region?: string;
  member: string;
  to: string;
  partitionSize: string;
  rateLimit?: string;
  served: boolean;
  wait?: boolean;
  json?: boolean;
}

/** Adds `copy` to the `volume` command. */
export function addVolumeCopyCommand(volume: Command): void {
  volume
    .command('copy')
    .description('copy an in-sync member to a new device while the volume serves (proactive replacement); a volume-copy task on the controllers copies it, then the new device takes the slot')
    .argument('<name>', 'volume name')
    .requiredOption('--meta <uri>', 'metadata device holding the volume table')
    .requiredOption('--member <n>', 'member number (0-based) to copy')
    .requiredOption('--to <uri>', 'the new device')
    .option('--region <uri>', 'metadata region to run the copy task in (default: --meta)')
    .option('--partition-size <size>', 'bytes per partition (a multiple of the chunk size)', '4MiB')
    .option('--rate-limit <size>', 'most bytes per second each controller copies (e.g. 50MiB)')
    .option('--no-served', 'nothing serves the volume: do not wait for a serving process to take the copy')
    .option('--wait', 'wait for the copy task to end; exit 0 only when the copy took the slot')
    .option('--json', 'print the task (with --wait: its completion status) as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume copy v5 --meta meta.img --member 2 --to /dev/loop9 --wait\n  blockrig volume copy v5 --meta meta.img --member 0 --to new.img --rate-limit 100MiB --json')
    .action(
      action(async (name: string, o: CopyOptions) => {
        const member = parseArgs(z.coerce.number().int().min(0).max(63), o.member, 'member');
        const partitionSize = parseSize(o.partitionSize, 'partition-size');
        const metaDevice = await openDevice(o.meta);
        let rows: number;
        let chunk: number;
        try {
          const table = new VolumeTable(metaDevice);
          const stored = await startStoredCopy(table, name, member, o.to, (u) => openDevice(u));
          rows = await storedRows(stored, (u) => openDevice(u));
          chunk = stored.entry.config.chunkSize;
        } finally {
          await metaDevice.close();
        }
        const regionDevice = await openDevice(o.region ?? o.meta);
        const kinds = defaultTaskKinds();
        const session = await HostSession.join({ region: await MetadataRegion.open(regionDevice), clock: systemClock, role: HostRole.Client });
        try {
          const params = { volume: name, meta: o.meta, member, served: o.served, ...(o.rateLimit === undefined ? {} : { rateLimit: o.rateLimit }) };
          const sub = await submitTask(session, kinds, { kind: 'volume-copy', target: o.to, offset: 0, length: rows * chunk, partitionSize: Math.max(chunk, Math.floor(partitionSize / chunk) * chunk), params, initiator: o.wait === true });
          if (o.wait !== true) {
            if (o.json === true) printJson({ id: sub.id, volume: name, member, to: o.to, partitions: sub.task.partitions });
            else process.stdout.write(`copying member ${member} of volume ${name} to ${o.to}: task ${sub.id} (${sub.task.partitions} partitions); follow it with blockrig task show ${sub.id} --meta ${o.region ?? o.meta}\n`);
            return;
          }
          const done = await waitForTask(session, kinds, sub.taskId);
          if (o.json === true) printJson(done);
          else process.stdout.write(`task ${sub.id}: ${done.outcome?.actions.join('; ') ?? done.state}\n`);
          // Every partition may complete and the copy still not take the slot (the member failed mid-copy).
          if (done.outcome?.result.status === 'failed') throw new TaskFailedError(`copy task ${sub.id}: ${String(done.outcome.result.reason)}`, { details: { status: done } });
        } finally {
          await session.leave();
          await kinds.close();
          await regionDevice.close();
        }
      }),
    );
}
