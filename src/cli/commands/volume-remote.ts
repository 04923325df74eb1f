/**
 * `blockrig volume fail|replace ... --server URL --cluster ID`: the same member actions as on a volume table
 * (`--meta URI`), through the servers, which forward them to an agent of the volume's cluster; with
 * failover between servers. What the dashboard's member forms do, from the CLI.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { VolumeViewSchema, type VolumeView } from '../../wire/index.js';
import { clientFor } from '../client/connection.js';
import { subcommand } from '../client/server-form.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printFields, printJson, printTable } from '../output.js';

const MemberActionOptions = z.object({
  cluster: z.string({ error: 'give the cluster that holds the volume with --cluster ID' }).min(1, 'give the cluster with --cluster'),
  member: z.coerce.number({ error: 'give the member number with --member N' }).int().min(0).max(63),
  json: z.boolean().optional(),
});

function printVolume(volume: VolumeView, json: boolean): void {
  if (json) {
    printJson(volume);
    return;
  }
  printFields({ volume: volume.name, level: volume.level, state: volume.state, spares: volume.spares.map((s) => s.device ?? s.uri).join(' ') || '-' });
  printTable(volume.members, {
    '#': (m) => m.index,
    DEVICE: (m) => m.device ?? m.uri,
    STATE: (m) => m.state,
    ERRORS: (m) => `${m.readErrors} read, ${m.writeErrors} write`,
    REASON: (m) => m.reason ?? '-',
  });
}

function memberAction(verb: 'fail' | 'replace') {
  return action(async (name: string, opts: Record<string, unknown>, cmd: Command) => {
    const o = parseArgs(MemberActionOptions, opts);
    const body: Record<string, unknown> = { member: o.member };
    if (verb === 'replace') body.with = parseArgs(z.string().trim().min(1, 'name the replacement device or URI'), opts.with, '--with');
    const path = `/api/v1/clusters/${encodeURIComponent(o.cluster)}/volumes/${encodeURIComponent(name)}/${verb}`;
    printVolume(await clientFor(cmd).post(VolumeViewSchema, path, body), o.json === true);
  });
}

export const volumeRemoteCommands: CommandModule = (program) => {
  // The region form (volume.ts, registered first) owns the help text and examples of both forms.
  const volume = program.commands.find((c) => c.name() === 'volume') ?? program.command('volume').description('raid1/raid5/raid6 volumes');
  subcommand(
    volume,
    'fail',
    (c) => c.argument('<name>').option('--cluster <id>', 'with --server: the cluster that holds the volume').option('--member <n>').option('--json'),
    memberAction('fail'),
  );
  subcommand(
    volume,
    'replace',
    (c) =>
      c
        .argument('<name>')
        .option('--cluster <id>', 'with --server: the cluster that holds the volume')
        .option('--member <n>')
        .option('--with <device>', 'the replacement: a device name of the cluster (d3) or a URI')
        .option('--json'),
    memberAction('replace'),
  );
};
