/**
 * `blockrig volume ...`: create raid1/raid5/raid6 volumes over member devices, show their status, fail and
 * replace members, rebuild and scrub them, and serve them over NBD. Volumes live in the volume table of a
 * metadata device (`--meta`), so any controller process can assemble them.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { openDevice } from '../../../drivers/index.js';
import { systemClock } from '../../clock.js';
import { InvalidArgumentError } from '../../errors.js';
import { parseListenAddress, formatNbdUri } from '../../nbd/address.js';
import { NbdServer } from '../../nbd/server.js';
import { formatRate, formatSize, parseSize } from '../../units.js';
import { parseVolumeConfig } from '../../volume/config.js';
import {
  assembleStoredVolume,
  createStoredVolume,
  failStoredMember,
  rebuildProgress,
  rebuildStoredVolume,
  replaceStoredMember,
  setStoredRebuildPaused,
  scrubStoredVolume,
  storedState,
  type RowProgress,
} from '../../volume/volume-admin.js';
import { VolumeKeeper } from '../../volume/volume-keeper.js';
import { VolumeTable, type StoredVolume } from '../../volume/volume-table.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { addVolumeCopyCommand } from './volume-copy.js';
import { printFields, printJson, printTable } from '../output.js';

const open = (uri: string) => openDevice(uri);
const memberIndex = z.coerce.number().int().min(0).max(63);

/** Runs `work` with the volume table of the metadata device `meta`. */
async function withTable<T>(meta: string, work: (table: VolumeTable) => Promise<T>): Promise<T> {
  const device = await openDevice(meta);
  try {
    return await work(new VolumeTable(device));
  } finally {
    await device.close();
  }
}

/** Progress on stderr, at most once per 10% (long operations; stdout stays clean for --json). */
function progress(what: string, json: boolean): RowProgress {
  let shown = -1;
  return (done, total) => {
    const tenth = Math.floor((done * 10) / Math.max(1, total));
    if (json || tenth === shown) return;
    shown = tenth;
    process.stderr.write(`${what}: ${Math.floor((done * 100) / Math.max(1, total))}% (${done}/${total} rows)\n`);
  };
}

/** The volume table to act on; without one the command must go through a server. */
function requireMeta(meta: string | undefined): string {
  if (meta === undefined || meta === '') {
    throw new InvalidArgumentError('give the metadata device holding the volume table with --meta URI, or go through a server with --server URL --cluster ID', { details: { field: 'meta' } });
  }
  return meta;
}

function printStatus(stored: StoredVolume, json: boolean): void {
  const { entry } = stored;
  const rows = entry.members.map((m, i) => ({ index: i, uri: entry.config.members[i] ?? '', ...m }));
  const progress = rebuildProgress(entry);
  const view = {
    name: entry.config.name,
    level: entry.config.level,
    state: storedState(entry),
    chunkSize: entry.config.chunkSize,
    members: rows,
    spares: entry.config.spares,
    progress,
    rebuildPaused: entry.rebuildPaused,
    ...(entry.lastScrub === undefined ? {} : { lastScrub: entry.lastScrub }),
    updatedAt: new Date(entry.updatedAt).toISOString(),
  };
  if (json) {
    printJson(view);
    return;
  }
  printFields({ volume: view.name, level: view.level, state: view.state, chunk: formatSize(view.chunkSize), spares: view.spares.join(' ') || '-', rebuilds: view.rebuildPaused ? 'paused' : 'running', updated: view.updatedAt });
  printTable(rows, {
    '#': (r) => r.index,
    DEVICE: (r) => r.uri,
    STATE: (r) => r.state,
    REBUILT: (r) => {
      const p = progress.find((x) => x.member === r.index);
      if (p === undefined) return '-';
      const done = p.percent === null ? `${p.rebuiltRows} rows` : `${p.percent}%`;
      return p.rate === null || p.etaSeconds === null ? `${done}, no estimate` : `${done} at ${formatRate(p.rate)}, ETA ${p.etaSeconds} s`;
    },
    'READ ERR': (r) => r.readErrors,
    'WRITE ERR': (r) => r.writeErrors,
    'BAD BLOCKS': (r) => r.badBlocks.length,
    REASON: (r) => `${r.reason ?? ''}${r.copyTo === undefined ? '' : `${r.reason === undefined ? '' : '; '}copying to ${r.copyTo}`}`,
  });
  const bad = rows.flatMap((r) => r.badBlocks.map((b) => ({ member: r.index, ...b })));
  if (bad.length > 0) {
    process.stdout.write('\nbad blocks (reads there fail until a write covers them):\n');
    printTable(bad, { MEMBER: (b) => b.member, OFFSET: (b) => b.offset, LENGTH: (b) => b.length });
  }
  const scrub = entry.lastScrub;
  if (scrub !== undefined) {
    process.stdout.write(`\nlast scrub: task ${scrub.task} at ${new Date(scrub.at).toISOString()}${scrub.repair ? ' (repair)' : ''}: ${scrub.mismatchSectors} mismatched sectors in ${scrub.mismatchedStripes} stripes${scrub.stripes.length < scrub.mismatchedStripes ? ` (first ${scrub.stripes.length} listed)` : ''}\n`);
    if (scrub.stripes.length > 0) printTable(scrub.stripes, { ROW: (m) => m.row, KIND: (m) => m.kind, 'MEMBER OFFSET': (m) => m.offset, LENGTH: (m) => m.length, MEMBERS: (m) => m.members.join(','), REPAIRED: (m) => m.repaired });
  }
}

interface CreateOptions {
  meta: string;
  level: string;
  member: string[];
  spare: string[];
  chunk: string;
  assumeClean?: boolean;
  json?: boolean;
}

interface ServeOptions {
  meta: string;
  listen: string;
  export?: string;
  rebuild: boolean;
  rebuildRate?: string;
  pollMs: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const volumeCommands: CommandModule = (program: Command) => {
  const volume = program.command('volume').description('raid1/raid5/raid6 volumes over member devices: create, status, fail, replace, copy, rebuild, scrub, serve');

  volume
    .command('create')
    .description('create a volume, initialize its redundancy (unless --assume-clean) and store it in the metadata device')
    .argument('<name>', 'volume name')
    .requiredOption('--meta <uri>', 'metadata device holding the volume table')
    .requiredOption('--level <level>', 'raid1, raid5 or raid6')
    .option('--member <uri>', 'member device, once per member in order', collect, [])
    .option('--spare <uri>', 'spare device that replaces a failed member automatically', collect, [])
    .option('--chunk <size>', 'chunk size (raid1: rebuild/scrub unit)', '64KiB')
    .option('--assume-clean', 'skip the initial resync (members already consistent, e.g. all zero)')
    .option('--json', 'print the stored volume as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume create v5 --meta meta.img --level raid5 --member a.img --member b.img --member c.img --chunk 64KiB\n  blockrig volume create m --meta meta.img --level raid1 --member a.img --member b.img --spare s.img --assume-clean')
    .action(
      action(async (name: string, o: CreateOptions) => {
        const config = parseVolumeConfig({ name, level: o.level, members: o.member, spares: o.spare, chunkSize: o.chunk });
        const stored = await withTable(o.meta, (t) => createStoredVolume(t, config, open, { assumeClean: o.assumeClean === true, onProgress: progress(`initializing ${name}`, o.json === true) }));
        printStatus(stored, o.json === true);
      }),
    );

  volume
    .command('status')
    .description('show a volume like mdadm --detail: state, each member with its state, rebuilt rows and error counters')
    .argument('<name>', 'volume name')
    .requiredOption('--meta <uri>', 'metadata device holding the volume table')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume status v5 --meta meta.img\n  blockrig volume status v5 --meta meta.img --json')
    .action(action(async (name: string, o: { meta: string; json?: boolean }) => printStatus(await withTable(o.meta, (t) => t.get(name)), o.json === true)));

  volume
    .command('fail')
    .description('mark a member failed (refused when the volume would lose data); a serving controller stops using it')
    .argument('<name>', 'volume name')
    .option('--meta <uri>', 'metadata device holding the volume table (or --server URL, see below)')
    .requiredOption('--member <n>', 'member number (0-based)')
    .option('--json', 'print the stored volume as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume fail v5 --meta meta.img --member 1\n  blockrig volume fail v5 --member 1 --cluster c1 --server http://127.0.0.1:8080')
    .action(
      action(async (name: string, o: { meta?: string; member: string; json?: boolean }) => {
        const meta = requireMeta(o.meta);
        const index = parseArgs(memberIndex, o.member, 'member');
        printStatus(await withTable(meta, (t) => failStoredMember(t, name, index)), o.json === true);
      }),
    );

  volume
    .command('replace')
    .description('put a new device in the slot of a failed member; a serving controller rebuilds it online, or run volume rebuild')
    .argument('<name>', 'volume name')
    .option('--meta <uri>', 'metadata device holding the volume table (or --server URL, see below)')
    .requiredOption('--member <n>', 'member number (0-based)')
    .requiredOption('--with <uri>', 'the replacement device')
    .option('--json', 'print the stored volume as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume replace v5 --meta meta.img --member 1 --with d.img\n  blockrig volume replace v5 --member 1 --with d3 --cluster c1 --server http://127.0.0.1:8080')
    .action(
      action(async (name: string, o: { meta?: string; member: string; with: string; json?: boolean }) => {
        const meta = requireMeta(o.meta);
        const index = parseArgs(memberIndex, o.member, 'member');
        printStatus(await withTable(meta, (t) => replaceStoredMember(t, name, index, o.with, open)), o.json === true);
      }),
    );

  addVolumeCopyCommand(volume);

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    volume
      .command(verb)
      .description(paused ? 'pause the online rebuilds of a served volume between steps' : 'resume paused online rebuilds')
      .argument('<name>', 'volume name')
      .requiredOption('--meta <uri>', 'metadata device holding the volume table')
      .option('--json', 'print the stored volume as JSON')
      .addHelpText('after', `\nExamples:\n  blockrig volume ${verb} v5 --meta meta.img`)
      .action(action(async (name: string, o: { meta: string; json?: boolean }) => printStatus(await withTable(o.meta, (t) => setStoredRebuildPaused(t, name, paused)), o.json === true)));
  }

  volume
    .command('rebuild')
    .description('rebuild every rebuilding member of a volume that is not being served, recording progress so it resumes')
    .argument('<name>', 'volume name')
    .requiredOption('--meta <uri>', 'metadata device holding the volume table')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume rebuild v5 --meta meta.img')
    .action(
      action(async (name: string, o: { meta: string; json?: boolean }) => {
        const results = await withTable(o.meta, (t) => rebuildStoredVolume(t, name, open, progress(`rebuilding ${name}`, o.json === true)));
        if (o.json === true) printJson({ volume: name, rebuilt: results });
        else for (const r of results) process.stdout.write(`member ${r.member} rebuilt; ${r.unreadable.length} unreadable ranges recorded as bad blocks\n`);
      }),
    );

  volume
    .command('scrub')
    .description('check redundancy (mismatch count and locations), or rewrite what is wrong with --repair')
    .argument('<name>', 'volume name')
    .requiredOption('--meta <uri>', 'metadata device holding the volume table')
    .option('--repair', 'rewrite parity / the minority copy / the located corrupt chunk')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume scrub v5 --meta meta.img\n  blockrig volume scrub v6 --meta meta.img --repair --json')
    .action(
      action(async (name: string, o: { meta: string; repair?: boolean; json?: boolean }) => {
        const result = await withTable(o.meta, (t) => scrubStoredVolume(t, name, open, o.repair === true, progress(`scrubbing ${name}`, o.json === true)));
        if (o.json === true) printJson({ volume: name, ...result });
        else {
          printFields({ volume: name, 'rows checked': result.rowsChecked, 'rows skipped': result.rowsSkipped, mismatches: result.mismatches.length, 'mismatch bytes': result.mismatchBytes });
          if (result.mismatches.length > 0) {
            printTable(result.mismatches, { ROW: (m) => m.row, KIND: (m) => m.kind, 'MEMBER OFFSET': (m) => m.memberOffset, LENGTH: (m) => m.length, MEMBERS: (m) => m.members.join(','), REPAIRED: (m) => m.repaired });
          }
        }
      }),
    );

  volume
    .command('serve')
    .description('assemble a volume and export it over NBD until SIGINT/SIGTERM; picks up fail/replace from the table and rebuilds online')
    .argument('<name>', 'volume name')
    .requiredOption('--meta <uri>', 'metadata device holding the volume table')
    .requiredOption('--listen <address>', 'HOST:PORT (port 0 picks a free port) or unix:PATH')
    .option('--export <name>', 'export name (default: the volume name)')
    .option('--no-rebuild', 'do not rebuild rebuilding members online')
    .option('--rebuild-rate <size>', 'limit each online rebuild to this many bytes per second (e.g. 50MiB)')
    .option('--poll-ms <ms>', 'how often to read the volume table for operator changes', '1000')
    .option('--json', 'print the listening address as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig volume serve v5 --meta meta.img --listen 127.0.0.1:10809\n  fio --ioengine=nbd --uri=nbd://127.0.0.1:10809/v5 --rw=randwrite --verify=crc32c ...')
    .action(
      action(async (name: string, o: ServeOptions) => {
        const pollMs = parseArgs(z.coerce.number().int().min(10).max(60_000), o.pollMs, 'poll-ms');
        const endpoint = parseListenAddress(o.listen);
        const rebuildRateLimit = o.rebuildRate === undefined ? undefined : parseSize(o.rebuildRate, 'rebuild-rate');
        const metaDevice = await openDevice(o.meta);
        const table = new VolumeTable(metaDevice);
        const log = (message: string): void => void process.stderr.write(`${message}\n`);
        const server = new NbdServer({ log });
        let keeper: VolumeKeeper | undefined;
        const { volume, stored } = await assembleStoredVolume(table, name, open).catch(async (err: unknown) => {
          await metaDevice.close();
          throw err;
        });
        try {
          keeper = new VolumeKeeper({ table, volume, stored, open, clock: systemClock, pollMs, rebuild: o.rebuild, log, ...(rebuildRateLimit === undefined ? {} : { rebuildRateLimit }) });
          keeper.start();
          const exportName = o.export ?? name;
          server.addExport(exportName, volume, { description: `${volume.layout.level} volume ${name}` });
          const bound = await server.listen(endpoint);
          const uri = formatNbdUri(bound, exportName);
          if (o.json === true) printJson({ listening: bound, export: exportName, uri, size: volume.size });
          else process.stdout.write(`serving volume ${name} (${volume.layout.level}, ${formatSize(volume.size)}) as ${uri}\n`);
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
        } finally {
          await server.close();
          await keeper?.stop();
          await volume.close();
          await metaDevice.close();
        }
      }),
    );
};
