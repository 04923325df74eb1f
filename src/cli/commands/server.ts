/** `blockrig server --config FILE --id ID`: run one domain server of a rig until SIGTERM or SIGINT. */
import { z } from 'zod';
import { loadRigConfig } from '../../cluster/config-file.js';
import { startServer } from '../../server/server.js';
import { parseAt } from '../../wire/index.js';
import { action, type CommandModule } from '../command.js';

const ServerArgs = z.object({
  config: z.string().min(1),
  id: z.string().min(1),
  host: z.string().optional(),
  port: z.coerce.number().int().min(0).max(65_535).optional(),
});

/** Resolves on the first SIGTERM or SIGINT. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export const serverCommands: CommandModule = (program) => {
  program
    .command('server')
    .description('run a domain server: HTTP API, live events, registry of its agents (listens on loopback unless configured)')
    .requiredOption('--config <file>', 'rig configuration file (YAML or JSON)')
    .requiredOption('--id <server>', 'which configured server this process is')
    .option('--host <address>', 'listen address (overrides the configuration)')
    .option('--port <port>', 'listen port; 0 picks a free one (overrides the configuration)')
    .addHelpText(
      'after',
      '\nPrints one JSON line {"event":"listening","serverId","url"} on stdout when ready and writes the URL to the\nserver\'s addressFile. Stop it with SIGTERM or Ctrl-C.\n\nExamples:\n  blockrig server --config rig.yaml --id A\n  blockrig server --config rig.yaml --id B --port 0',
    )
    .action(
      action(async (options: Record<string, unknown>) => {
        const args = parseAt(ServerArgs, options, 'options');
        const rig = loadRigConfig(args.config);
        const server = await startServer(rig, args.id, {
          ...(args.host === undefined ? {} : { host: args.host }),
          ...(args.port === undefined ? {} : { port: args.port }),
          log: (line) => process.stderr.write(`[server ${args.id}] ${line}\n`),
        });
        process.stdout.write(`${JSON.stringify({ event: 'listening', serverId: args.id, url: server.url, pid: process.pid })}\n`);
        await untilSignal();
        await server.close();
      }),
    );
};
