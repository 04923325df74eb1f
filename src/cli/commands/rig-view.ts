/**
 * Read-only operator commands over a server's API, with failover between servers: `blockrig status`
 * (servers, clusters, pairs, tasks at a glance), `devices`, `agents`, `servers` and `events`; `volumes` and
 * `controllers` are in `rig-volumes.ts`.
 * Tables for people, `--json` for scripts (the API's own records, secrets never included).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { AgentViewSchema, ClusterViewSchema, ServerViewSchema, TaskListSchema, type ServerEvent } from '../../wire/index.js';
import { describeEvent } from '../../ui/model.js';
import { followEvents } from '../client/event-stream.js';
import { clientFor, withConnectionOptions } from '../client/connection.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printFields, printJson, printTable } from '../output.js';
import { registerVolumeViews } from './rig-volumes.js';

const ClustersSchema = z.object({ clusters: z.array(ClusterViewSchema) });
const AgentsSchema = z.object({ agents: z.array(AgentViewSchema) });
const ServersSchema = z.object({ servers: z.array(ServerViewSchema) });

const CONNECT_HELP = `
Connection: --server URL (repeat it; the CLI uses the first that answers and fails over to the next),
or BLOCKRIG_SERVER="http://127.0.0.1:8080,http://127.0.0.1:8081"; --user or BLOCKRIG_USER (default admin);
the password from BLOCKRIG_PASSWORD or --password-file FILE.`;

/** Help text: examples, then how to connect. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n${CONNECT_HELP}`;
}

const yesNo = (b: boolean | null): string => (b === null ? 'unknown' : b ? 'yes' : 'no');

function register(program: Command, name: string, description: string, help: string): Command {
  return withConnectionOptions(program.command(name).description(description)).option('--json', 'print JSON').addHelpText('after', help);
}

export const rigViewCommands: CommandModule = (program) => {
  register(program, 'status', 'overview from a server: servers, clusters, agent/server pairs, tasks by state', examples('blockrig status --server http://127.0.0.1:8080', 'blockrig status --json')).action(
    action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const [servers, clusters, agents, tasks] = await Promise.all([
        client.get(ServersSchema, '/api/v1/servers'),
        client.get(ClustersSchema, '/api/v1/clusters'),
        client.get(AgentsSchema, '/api/v1/agents'),
        client.get(TaskListSchema, '/api/v1/tasks'),
      ]);
      const byState: Record<string, number> = {};
      for (const t of tasks.tasks) byState[t.state] = (byState[t.state] ?? 0) + 1;
      if (opts.json === true) {
        printJson({ server: client.server, servers: servers.servers, clusters: clusters.clusters, agents: agents.agents, tasks: byState });
        return;
      }
      printFields({ server: client.server ?? '-', tasks: Object.entries(byState).map(([s, n]) => `${n} ${s}`).join(', ') || 'none' });
      printTable(servers.servers, { SERVER: (s) => `${s.id}${s.self ? ' (answering)' : ''}`, 'RUNS ON': (s) => s.cluster ?? '-', URL: (s) => s.url ?? '-', REACHABLE: (s) => yesNo(s.reachable) });
      printTable(clusters.clusters, {
        CLUSTER: (c) => c.id,
        DEVICES: (c) => `${c.availableCount}/${c.deviceCount} available`,
        'PAIRS ALIVE': (c) => `${agents.agents.filter((a) => a.clusterId === c.id && a.alive).length}`,
        META: (c) => c.config?.meta ?? '-',
        VOLUMES: (c) => c.volumes.map((v) => `${v.name} ${v.state}`).join(', ') || '-',
        CONTROLLERS: (c) => (c.config?.meta === undefined ? '-' : `${c.controllers.filter((h) => h.role === 'controller' && h.live).length} live`),
        'LAST CHANGE': (c) => c.seq,
      });
    }),
  );

  register(program, 'devices', "each cluster's devices: URI, availability, reason, error counter", examples('blockrig devices', 'blockrig devices --cluster c1 --json'))
    .option('--cluster <id>', 'only this cluster')
    .action(
      action(async (opts: { json?: boolean; cluster?: string }, cmd: Command) => {
        const client = clientFor(cmd);
        const clusters = opts.cluster === undefined ? (await client.get(ClustersSchema, '/api/v1/clusters')).clusters : [await client.get(ClusterViewSchema, `/api/v1/clusters/${encodeURIComponent(parseArgs(z.string().min(1), opts.cluster, '--cluster'))}`)];
        const rows = clusters.flatMap((c) => c.devices.map((d) => ({ cluster: c.id, uri: c.config?.devices.find((x) => x.name === d.name)?.uri ?? null, ...d })));
        if (opts.json === true) return printJson({ devices: rows });
        printTable(rows, { CLUSTER: (r) => r.cluster, DEVICE: (r) => r.name, URI: (r) => r.uri ?? '-', AVAILABLE: (r) => yesNo(r.available), ERRORS: (r) => r.errors, SINCE: (r) => r.since, REASON: (r) => r.reason });
      }),
    );

  registerVolumeViews(program, examples);

  register(program, 'agents', "the agents registered with a server (that server's pairs) and their health", examples('blockrig agents', 'blockrig agents --json')).action(
    action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const { agents } = await client.get(AgentsSchema, '/api/v1/agents');
      if (opts.json === true) return printJson({ server: client.server, agents });
      printTable(agents, { AGENT: (a) => a.agentId, CLUSTER: (a) => a.clusterId, SERVER: (a) => a.serverId, HOST: (a) => a.host, PID: (a) => a.pid, ALIVE: (a) => yesNo(a.alive), 'LAST HEARTBEAT': (a) => a.lastHeartbeatAt });
    }),
  );

  register(program, 'servers', 'the configured servers and whether the answering server reaches each', examples('blockrig servers', 'blockrig servers --json')).action(
    action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const { servers } = await client.get(ServersSchema, '/api/v1/servers');
      if (opts.json === true) return printJson({ servers });
      printTable(servers, { SERVER: (s) => s.id, SELF: (s) => yesNo(s.self), 'RUNS ON': (s) => s.cluster ?? '-', URL: (s) => s.url ?? '-', REACHABLE: (s) => yesNo(s.reachable), CHECKED: (s) => s.checkedAt ?? '-' });
    }),
  );

  register(program, 'events', 'print live events (device, task, agent changes); with --follow keep printing, across failovers', examples('blockrig events', 'blockrig events --follow --json'))
    .option('--follow', 'keep printing new events until Ctrl-C')
    .action(
      action(async (opts: { json?: boolean; follow?: boolean }, cmd: Command) => {
        const client = clientFor(cmd);
        const stop = new AbortController();
        const print = (e: ServerEvent): void => {
          if (opts.json === true) process.stdout.write(`${JSON.stringify(e)}\n`);
          else process.stdout.write(`${e.at}  ${e.cluster.padEnd(8)} ${describeEvent(e)}\n`);
        };
        if (opts.follow !== true) {
          // Without --follow: what the server has buffered, then stop once the stream goes quiet.
          let quiet: NodeJS.Timeout | null = null;
          const settle = (): void => {
            if (quiet !== null) clearTimeout(quiet);
            quiet = setTimeout(() => stop.abort(), 300);
          };
          // The quiet period starts once the stream is open, so a slow login does not cut it short.
          await followEvents(client, (e) => (print(e), settle()), stop.signal, () => Promise.resolve(settle()));
          return;
        }
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
        await followEvents(client, (e) => void print(e), stop.signal);
      }),
    );
};
