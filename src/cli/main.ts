/** The `blockrig` command line. Every blockrig process (controllers, agents, servers) starts here. */
import { Command } from 'commander';
import { COMMAND_MODULES } from './commands/index.js';

const program = new Command('blockrig')
  .description('blockrig: a hardware-in-the-loop harness for storage controller logic')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (text, write) => write(text) });

program.exitOverride((err) => {
  // Usage errors (unknown command, missing argument) exit 2, like the error table's InvalidArgument.
  process.exit(err.exitCode === 0 ? 0 : 2);
});

// A reader that goes away early (`blockrig ... | head`) is not an error of ours: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

for (const register of COMMAND_MODULES) register(program);

await program.parseAsync(process.argv);
