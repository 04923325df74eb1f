/** `blockrig cluster up|status`: start a cluster's processes for a rig; show its stored configuration and state. */
import { z } from 'zod';
import { systemClock } from '../../clock.js';
import { clusterConfig, loadRigConfig } from '../../cluster/config-file.js';
import { ClusterStore } from '../../cluster/store.js';
import { ClusterSupervisor } from '../../cluster/supervisor.js';
import { parseAt } from '../../wire/index.js';
import { action, type CommandModule } from '../command.js';
import { printFields, printJson, printTable } from '../output.js';
import { untilSignal } from './server.js';

const ClusterArgs = z.object({ config: z.string().min(1), cluster: z.string().min(1), json: z.boolean().optional() });

export const clusterCommands: CommandModule = (program) => {
  const cluster = program.command('cluster').description("start a cluster's agents and controllers; show its persistent configuration and state");

  cluster
    .command('up')
    .description('launch one agent per configured server (and the configured controllers) and keep them running')
    .requiredOption('--config <file>', 'rig configuration file (YAML or JSON)')
    .requiredOption('--cluster <id>', 'the cluster to start')
    .addHelpText(
      'after',
      '\nPrints one JSON line per process start and exit on stdout; children log to stderr. Stop with SIGTERM or Ctrl-C.\n\nExamples:\n  blockrig cluster up --config rig.yaml --cluster c1',
    )
    .action(
      action(async (options: Record<string, unknown>) => {
        const args = parseAt(ClusterArgs, options, 'options');
        const rig = loadRigConfig(args.config);
        const supervisor = new ClusterSupervisor({
          rig,
          configPath: args.config,
          clusterId: args.cluster,
          cliPath: process.argv[1] ?? 'blockrig',
          clock: systemClock,
          report: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
          stderr: process.stderr,
        });
        supervisor.start();
        await untilSignal();
        await supervisor.stop();
      }),
    );

  cluster
    .command('status')
    .description("print the cluster's stored configuration, device states and tasks (read from its persistent data)")
    .requiredOption('--config <file>', 'rig configuration file (YAML or JSON)')
    .requiredOption('--cluster <id>', 'the cluster')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig cluster status --config rig.yaml --cluster c1\n  blockrig cluster status --config rig.yaml --cluster c1 --json')
    .action(
      action(async (options: Record<string, unknown>) => {
        const args = parseAt(ClusterArgs, options, 'options');
        const rig = loadRigConfig(args.config);
        const store = new ClusterStore(clusterConfig(rig, args.cluster).dataDir, args.cluster);
        try {
          const snapshot = store.snapshot();
          const transmitted = Object.fromEntries(rig.config.servers.map((s) => [s.id, store.transmittedSeq(s.id)]));
          if (args.json === true) {
            printJson({ ...snapshot, transmitted, agents: store.agents() });
            return;
          }
          printFields({ cluster: args.cluster, devices: snapshot.config.deviceCount, 'last change': snapshot.seq, transmitted: JSON.stringify(transmitted) });
          printTable(snapshot.devices, { DEVICE: (d) => d.name, AVAILABLE: (d) => (d.available ? 'yes' : 'no'), SINCE: (d) => d.since, REASON: (d) => d.reason });
          printTable(snapshot.tasks, { TASK: (t) => t.id, KIND: (t) => t.kind, STATE: (t) => t.state, EXECUTOR: (t) => t.executor?.agentId ?? '-', VIA: (t) => t.issuedVia });
        } finally {
          store.close();
        }
        await Promise.resolve();
      }),
    );
};
