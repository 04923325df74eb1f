/** `blockrig agent --config FILE --cluster C --server S`: run the agent of cluster C paired with server S. */
import { z } from 'zod';
import { Agent } from '../../agent/agent.js';
import { loadRigConfig } from '../../cluster/config-file.js';
import { parseAt } from '../../wire/index.js';
import { action, type CommandModule } from '../command.js';
import { untilSignal } from './server.js';

const AgentArgs = z.object({
  config: z.string().min(1),
  cluster: z.string().min(1),
  server: z.string().min(1),
  holdAfterStore: z.coerce.number().int().min(0).max(600_000).default(0),
});

export const agentCommands: CommandModule = (program) => {
  program
    .command('agent')
    .description('run the agent of a cluster for one configured server: probes devices, stores state, transmits it, runs tasks')
    .requiredOption('--config <file>', 'rig configuration file (YAML or JSON)')
    .requiredOption('--cluster <id>', 'the cluster this agent runs at')
    .requiredOption('--server <id>', 'the configured server this agent registers with')
    .option('--hold-after-store <ms>', 'fault injection for tests: wait this long between storing a change and sending it', '0')
    .addHelpText(
      'after',
      '\nUsually started by `blockrig cluster up`, one per configured server. Prints a JSON line\n{"event":"started","agentId",...} on stdout; logs go to stderr. Stop it with SIGTERM.\n\nExamples:\n  blockrig agent --config rig.yaml --cluster c1 --server A',
    )
    .action(
      action(async (options: Record<string, unknown>) => {
        const args = parseAt(AgentArgs, options, 'options');
        const rig = loadRigConfig(args.config);
        const agent = new Agent({
          rig,
          clusterId: args.cluster,
          serverId: args.server,
          cliPath: process.argv[1] ?? 'blockrig',
          holdAfterStoreMs: args.holdAfterStore,
          log: (line) => process.stderr.write(`[agent ${args.server}@${args.cluster}] ${line}\n`),
        });
        await agent.start();
        process.stdout.write(`${JSON.stringify({ event: 'started', agentId: agent.me.agentId, pid: process.pid })}\n`);
        await untilSignal();
        await agent.stop();
      }),
    );
};
