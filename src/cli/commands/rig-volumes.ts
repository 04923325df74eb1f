/**
 * Read-only views of volumes and controllers through a server's API, with failover between servers:
 * `blockrig volumes` (each cluster's volumes, members, which device each is, rebuild progress) and
 * `blockrig controllers` (the metadata region's host slots: live or not, what each runs). The same data
 * the dashboard shows, as the clusters' agents transmitted it. Tables for people, `--json` for scripts.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { ClusterViewSchema, type ClusterView } from '../../wire/index.js';
import { formatRate } from '../../units.js';
import { clientFor, withConnectionOptions } from '../client/connection.js';
import { action, parseArgs } from '../command.js';
import { printJson, printTable } from '../output.js';

const ClustersSchema = z.object({ clusters: z.array(ClusterViewSchema) });

async function clustersOf(cmd: Command, only: string | undefined): Promise<ClusterView[]> {
  const client = clientFor(cmd);
  if (only === undefined) return (await client.get(ClustersSchema, '/api/v1/clusters')).clusters;
  return [await client.get(ClusterViewSchema, `/api/v1/clusters/${encodeURIComponent(parseArgs(z.string().min(1), only, '--cluster'))}`)];
}

/** Registers `volumes` and `controllers`; `help` builds each command's examples and connection help. */
export function registerVolumeViews(program: Command, help: (...lines: string[]) => string): void {
  withConnectionOptions(program.command('volumes').description("each cluster's volumes: level, state, members with state, device and rebuild progress"))
    .option('--cluster <id>', 'only this cluster')
    .option('--json', 'print JSON')
    .addHelpText('after', `${help('blockrig volumes', 'blockrig volumes --cluster c1 --json')}\nTo fail or replace a member: the dashboard, or blockrig volume fail|replace --meta URI on the cluster.`)
    .action(
      action(async (opts: { json?: boolean; cluster?: string }, cmd: Command) => {
        const clusters = await clustersOf(cmd, opts.cluster);
        const volumes = clusters.flatMap((c) => c.volumes.map((v) => ({ cluster: c.id, ...v })));
        if (opts.json === true) return printJson({ volumes });
        const rows = volumes.flatMap((v) => v.members.map((m) => ({ v, m })));
        printTable(rows, {
          CLUSTER: (r) => r.v.cluster,
          VOLUME: (r) => `${r.v.name} (${r.v.level})`,
          STATE: (r) => r.v.state,
          '#': (r) => r.m.index,
          DEVICE: (r) => r.m.device ?? r.m.uri,
          MEMBER: (r) => r.m.state,
          REBUILD: (r) => {
            const p = r.m.rebuild;
            if (p === null) return '-';
            const done = p.percent === null ? 'rebuilding' : `${p.percent}%`;
            return p.rate === null || p.etaSeconds === null ? `${done}, no estimate` : `${done} at ${formatRate(p.rate)}, ETA ${p.etaSeconds} s`;
          },
          'ERR R/W': (r) => `${r.m.readErrors}/${r.m.writeErrors}`,
          REASON: (r) => r.m.reason ?? '',
        });
      }),
    );

  withConnectionOptions(program.command('controllers').description("controllers and driver clients in each cluster's metadata region: live or not, what each runs"))
    .option('--cluster <id>', 'only this cluster')
    .option('--json', 'print JSON')
    .addHelpText('after', help('blockrig controllers', 'blockrig controllers --cluster c1 --json'))
    .action(
      action(async (opts: { json?: boolean; cluster?: string }, cmd: Command) => {
        const clusters = await clustersOf(cmd, opts.cluster);
        const controllers = clusters.flatMap((c) => c.controllers.map((h) => ({ cluster: c.id, ...h })));
        if (opts.json === true) return printJson({ controllers });
        printTable(controllers, {
          CLUSTER: (h) => h.cluster,
          SLOT: (h) => h.slot,
          ROLE: (h) => h.role,
          HOST: (h) => `${h.hostname}/${h.pid}`,
          LIVE: (h) => (h.live ? 'yes' : 'no'),
          RUNNING: (h) => (h.running === null ? 'idle' : `task ${h.running.taskId}${h.running.chunk === null ? '' : ` chunk ${h.running.chunk}`}`),
        });
      }),
    );
}
