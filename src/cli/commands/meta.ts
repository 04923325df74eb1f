/** `blockrig meta format|dump|check`: create, show and verify the shared metadata region of a device. */
import { z } from 'zod';
import { openDevice } from '../../../drivers/index.js';
import { ERROR_TABLE, MetaCorruptError } from '../../errors.js';
import { formatRegion } from '../../metadata/format.js';
import { checkRegion, dumpRegion } from '../../metadata/inspect.js';
import { DEFAULT_GEOMETRY, DEFAULT_TIMING } from '../../metadata/layout.js';
import { MetadataRegion } from '../../metadata/region.js';
import { formatSize } from '../../units.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printFields, printJson, printTable } from '../output.js';

const count = (field: string, max: number) => z.coerce.number({ error: `${field} must be a number` }).int(`${field} must be a whole number`).min(1, `${field} must be at least 1`).max(max, `${field} must be at most ${max}`);
const millis = (field: string) => z.coerce.number({ error: `${field} must be milliseconds` }).int().min(1).max(3_600_000);

const FormatOptions = z.object({
  controllers: count('--controllers', 255).default(DEFAULT_GEOMETRY.hostSlots),
  tasks: count('--tasks', 64).default(DEFAULT_GEOMETRY.taskSlots),
  maxChunks: count('--max-chunks', 4096).default(DEFAULT_GEOMETRY.maxChunksPerTask),
  volumeSlots: z.coerce.number({ error: '--volume-slots must be a number' }).int('--volume-slots must be a whole number').min(0).max(64, '--volume-slots must be at most 64').default(DEFAULT_GEOMETRY.volumeSlots ?? 16),
  heartbeatMs: millis('--heartbeat-ms').default(DEFAULT_TIMING.heartbeatIntervalMs),
  ioTimeoutMs: millis('--io-timeout-ms').default(DEFAULT_TIMING.ioTimeoutMs),
  renewTimeoutMs: millis('--renew-timeout-ms').default(DEFAULT_TIMING.renewTimeoutMs),
  hostDeadMs: millis('--host-dead-ms').default(DEFAULT_TIMING.hostDeadMs),
  label: z.string().max(64).default(''),
  force: z.boolean().optional(),
  json: z.boolean().optional(),
});

const EXAMPLES = (...lines: string[]): string => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

export const metaCommands: CommandModule = (program) => {
  const meta = program.command('meta').description('the shared on-disk metadata region that controllers coordinate through (docs/on-disk-format.md)');

  meta
    .command('format')
    .description('write a fresh metadata region at the start of a device; refuses foreign data or an existing region unless --force')
    .argument('<uri>', 'device path or URI')
    .option('--controllers <n>', 'host slots: controllers and task submitters joined at once', String(DEFAULT_GEOMETRY.hostSlots))
    .option('--tasks <n>', 'task slots kept in the region', String(DEFAULT_GEOMETRY.taskSlots))
    .option('--max-chunks <n>', 'chunk records per task (each up to 800 partitions)', String(DEFAULT_GEOMETRY.maxChunksPerTask))
    .option('--volume-slots <n>', 'volumes the region\'s volume table holds (0: none)', String(DEFAULT_GEOMETRY.volumeSlots))
    .option('--heartbeat-ms <ms>', 'heartbeat interval', String(DEFAULT_TIMING.heartbeatIntervalMs))
    .option('--io-timeout-ms <ms>', 'longest a metadata or work I/O may take', String(DEFAULT_TIMING.ioTimeoutMs))
    .option('--renew-timeout-ms <ms>', 'a controller that cannot renew for this long fences itself', String(DEFAULT_TIMING.renewTimeoutMs))
    .option('--host-dead-ms <ms>', 'peers reclaim a controller silent for this long', String(DEFAULT_TIMING.hostDeadMs))
    .option('--label <text>', 'a name for the region', '')
    .option('--force', 'overwrite an existing region or foreign data')
    .option('--json', 'print JSON')
    .addHelpText('after', EXAMPLES('blockrig meta format /dev/loop3 --controllers 8', 'blockrig meta format ./shared.img --host-dead-ms 4000 --renew-timeout-ms 2000 --io-timeout-ms 500 --heartbeat-ms 250', 'blockrig meta format /dev/loop3 --force'))
    .action(
      action(async (uri: string, opts: Record<string, unknown>) => {
        const o = parseArgs(FormatOptions, opts);
        const dev = await openDevice(uri, { force: o.force === true });
        try {
          const sb = await formatRegion(dev, {
            geometry: { hostSlots: o.controllers, taskSlots: o.tasks, maxChunksPerTask: o.maxChunks, volumeSlots: o.volumeSlots },
            timing: { heartbeatIntervalMs: o.heartbeatMs, ioTimeoutMs: o.ioTimeoutMs, renewTimeoutMs: o.renewTimeoutMs, hostDeadMs: o.hostDeadMs },
            label: o.label,
            force: o.force === true,
          });
          const report = { uri, regionUuid: sb.regionUuid.toString('hex'), geometry: sb.geometry, timing: sb.timing, regionBytes: sb.regionBytes, dataOffset: sb.dataOffset };
          if (o.json === true) printJson(report);
          else
            printFields({
              formatted: uri,
              region: `${formatSize(sb.regionBytes)}; task data on this device starts at byte ${sb.dataOffset}`,
              slots: `${sb.geometry.hostSlots} hosts, ${sb.geometry.taskSlots} tasks, ${sb.geometry.maxChunksPerTask} chunks per task, ${sb.geometry.volumeSlots ?? 0} volumes`,
              timing: `heartbeat ${sb.timing.heartbeatIntervalMs} ms, I/O timeout ${sb.timing.ioTimeoutMs} ms, self-fence ${sb.timing.renewTimeoutMs} ms, reclaim ${sb.timing.hostDeadMs} ms`,
              uuid: report.regionUuid,
            });
        } finally {
          await dev.close();
        }
      }),
    );

  meta
    .command('dump')
    .description('print every record of the region, decoded, with the partition states of each task (read-only)')
    .argument('<uri>', 'device path or URI')
    .option('--json', 'print JSON')
    .addHelpText('after', EXAMPLES('blockrig meta dump /dev/loop3', 'blockrig meta dump ./shared.img --json'))
    .action(
      action(async (uri: string, opts: { json?: boolean }) => {
        const dev = await openDevice(uri, { readOnly: true });
        try {
          const dump = await dumpRegion(await MetadataRegion.open(dev));
          if (opts.json === true) return printJson(dump);
          const sb = dump.superblock;
          printFields({
            region: `${dump.uri} (format version ${sb.formatVersion}, uuid ${sb.regionUuid}${sb.label ? `, label ${sb.label}` : ''})`,
            size: `${formatSize(sb.regionBytes)}; data offset ${sb.dataOffset}`,
            slots: `${sb.geometry.hostSlots} hosts, ${sb.geometry.taskSlots} tasks, ${sb.geometry.maxChunksPerTask} chunks per task of up to ${sb.maxPartitionsPerChunk} partitions`,
            timing: `heartbeat ${sb.timing.heartbeatIntervalMs} ms, I/O timeout ${sb.timing.ioTimeoutMs} ms, self-fence ${sb.timing.renewTimeoutMs} ms, reclaim ${sb.timing.hostDeadMs} ms`,
            superblock: sb.problems.length === 0 ? 'both copies valid' : sb.problems.join('; '),
          });
          process.stdout.write('\nHost slots\n');
          printTable(dump.hosts, {
            SLOT: (h) => h.slot,
            STATE: (h) => h.state,
            INCARNATION: (h) => h.incarnation ?? '-',
            HEARTBEAT: (h) => h.heartbeat ?? '-',
            ROLE: (h) => h.role ?? '-',
            PID: (h) => (h.pid === null ? '-' : `${h.pid}@${h.hostname ?? ''}`),
            CLAIM: (h) => (h.claim ? `task ${h.claim.taskId} ${h.claim.index === -1 ? 'record' : `chunk ${h.claim.index}`}` : '-'),
            SEQ: (h) => h.sequence,
            PROBLEMS: (h) => h.problems.join('; ') || '-',
          });
          for (const t of dump.tasks) {
            process.stdout.write(`\nTask ${t.id} (slot ${t.slot}): ${t.state}\n`);
            if (t.spec !== undefined) {
              printFields({
                kind: t.spec.kind,
                'data set': `${t.spec.target} bytes ${t.spec.offset}..${t.spec.offset + t.spec.length}`,
                partitions: `${t.partitions} of ${t.spec.partitionSize} bytes, ${t.chunks} chunks of ${t.chunkPartitions}`,
                params: JSON.stringify(t.spec.params),
                initiator: t.spec.initiator ? `host slot ${t.spec.initiator.slot} incarnation ${t.spec.initiator.incarnation}` : 'any controller',
                states: Object.entries(t.counts).map(([k, v]) => `${v} ${k}`).join(', ') || '-',
                outcome: t.outcome ? `${t.outcome.status} by host slot ${t.outcome.by}: ${t.outcome.actions.join('; ')} ${JSON.stringify(t.outcome.result)}` : '-',
                problems: t.problems.join('; ') || '-',
              });
              process.stdout.write(`partitions: ${t.partitionStates.map((s) => (s === 'COMPLETE' ? 'C' : s === 'READY' ? '.' : s === 'FAILED' ? 'F' : 'P')).join('')}\n`);
            }
          }
        } finally {
          await dev.close();
        }
      }),
    );

  meta
    .command('check')
    .description('check every record (CRC32C, fields) and the invariants between them; exit 0 when clean (read-only)')
    .argument('<uri>', 'device path or URI')
    .option('--json', 'print JSON')
    .addHelpText('after', `${EXAMPLES('blockrig meta check /dev/loop3', 'blockrig meta check ./shared.img --json')}Exit status: 0 clean (warnings allowed: a damaged copy whose twin is valid), otherwise that of BLOCKRIG_E_META_CORRUPT.\n`)
    .action(
      action(async (uri: string, opts: { json?: boolean }) => {
        const dev = await openDevice(uri, { readOnly: true });
        try {
          const report = await checkRegion(await MetadataRegion.open(dev));
          if (opts.json === true) printJson(report);
          else {
            for (const w of report.warnings) process.stdout.write(`warning: ${w}\n`);
            for (const e of report.errors) process.stdout.write(`error: ${e}\n`);
            process.stdout.write(`${report.ok ? 'clean' : 'NOT clean'}: ${report.records} records checked, ${report.errors.length} errors, ${report.warnings.length} warnings\n`);
          }
          if (!report.ok && opts.json === true) return ERROR_TABLE.BLOCKRIG_E_META_CORRUPT.exit;
          if (!report.ok) {
            throw new MetaCorruptError(`the metadata region on ${uri} has ${report.errors.length} errors: ${report.errors.slice(0, 3).join('; ')}`, { details: { errors: report.errors } });
          }
          return 0;
        } finally {
          await dev.close();
        }
      }),
    );
};
