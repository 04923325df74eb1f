/** `blockrig controller run`: a controller process that joins a metadata region and runs task partitions. */
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import { openDevice } from '../../../drivers/index.js';
import { systemClock } from '../../clock.js';
import { Controller } from '../../controller/controller.js';
import type { AuditRecord } from '../../controller/events.js';
import { MetadataRegion } from '../../metadata/region.js';
import { defaultTaskKinds } from '../../tasks/kinds.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { stopWithParent } from '../../cluster/exit-with-parent.js';

const RunOptions = z.object({
  meta: z.string({ error: 'give the metadata device with --meta URI' }).min(1),
  id: z.coerce.number().int().min(0, '--id must be a host slot number from 0').optional(),
  audit: z.string().min(1).optional(),
  quiet: z.boolean().optional(),
});

/** Host-wide monotonic milliseconds (CLOCK_MONOTONIC), comparable between processes of one host. */
export function hostMonotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const controllerCommands: CommandModule = (program) => {
  const controller = program.command('controller').description('controller processes that coordinate through a shared metadata region');

  controller
    .command('run')
    .description('join the region (take a host slot), heartbeat, claim READY partitions of live tasks, run them, mark them COMPLETE; stops cleanly on SIGTERM/SIGINT')
    .requiredOption('--meta <uri>', 'the device holding the metadata region')
    .option('--id <n>', 'take this host slot (default: the first free one)')
    .option('--audit <file>', 'append one JSON line per partition start and end (task, partition, controller, incarnation, pid, host-monotonic ms, outcome)')
    .option('--quiet', 'no log lines on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  blockrig controller run --meta /dev/loop3\n  blockrig controller run --meta ./shared.img --id 2 --audit /tmp/c2.audit\n\nExit status: 0 after SIGTERM/SIGINT; that of BLOCKRIG_E_LEASE_LOST when it fenced itself (it could not renew its heartbeat in time).\n',
    )
    .action(
      action(async (opts: Record<string, unknown>) => {
        const o = parseArgs(RunOptions, opts);
        const log = (m: string): void => {
          if (o.quiet !== true) process.stderr.write(`controller: ${m}\n`);
        };
        const dev = await openDevice(o.meta);
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
        stopWithParent(); // started by `cluster up`: stop with it
        const kinds = defaultTaskKinds();
        try {
          const region = await MetadataRegion.open(dev);
          // The audit listener needs the controller's slot, known only once start() has joined.
          const joined: { c?: Controller } = {};
          const c = await Controller.start({
            region,
            clock: systemClock,
            kinds,
            slot: o.id,
            openTarget: (uri) => openDevice(uri),
            auditTime: hostMonotonicMs,
            log,
            onEvent: (event) => {
              const j = joined.c;
              if (o.audit !== undefined && j !== undefined) {
                const rec: AuditRecord = { ...event, controller: j.session.slot, incarnation: j.session.incarnation, pid: process.pid };
                appendFileSync(o.audit, `${JSON.stringify(rec)}\n`);
              }
              if (event.type === 'finalized' || event.type === 'fenced') log(JSON.stringify(event));
            },
          });
          joined.c = c;
          log(`joined ${o.meta} as host slot ${c.session.slot}, incarnation ${c.session.incarnation}`);
          await c.run(stop.signal);
          log('left the region');
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          await kinds.close();
          await dev.close();
        }
      }),
    );
};
