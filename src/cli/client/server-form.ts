/**
 * One command, two forms: a subcommand that works directly on a device or metadata region (`--meta URI`)
 * also works through the servers (`--server URL` or BLOCKRIG_SERVER), with failover. The region form is
 * registered first by its own module; `subcommand` adds the server form's options to it and takes over the
 * action when the invocation goes through a server. Where no region form exists, it creates the command.
 */
import { Command } from 'commander';
import { withConnectionOptions } from './connection.js';

/** True when this invocation should go through the servers. */
export function viaServer(cmd: Command): boolean {
  const opts = cmd.optsWithGlobals();
  return (Array.isArray(opts.server) && opts.server.length > 0) || (opts.meta === undefined && (process.env.BLOCKRIG_SERVER ?? '') !== '');
}

/** Finds `name` under `parent`, or creates it with `create`; an existing one gets the server form's options and defers to `run` when it is used. */
export function subcommand(parent: Command, name: string, create: (c: Command) => Command, run: (...args: never[]) => Promise<void>): void {
  const existing = parent.commands.find((c) => c.name() === name);
  if (!existing) {
    create(withConnectionOptions(parent.command(name))).action(run as (...args: unknown[]) => Promise<void>);
    return;
  }
  const has = (flag: string | undefined): boolean => existing.options.some((o) => o.long === flag);
  const serverForm = create(withConnectionOptions(new Command(name)));
  // The server form's options (connection, --cluster, --state, ...) join the region form's, once each.
  for (const option of serverForm.options) if (!has(option.long)) existing.addOption(option);
  // And its examples follow the region form's, under their own heading.
  let examples = '';
  (serverForm as unknown as NodeJS.EventEmitter).emit('afterHelp', { error: false, command: serverForm, write: (text: string) => (examples += text) });
  if (examples.trim() !== '') existing.addHelpText('after', `Through the servers (--server URL or BLOCKRIG_SERVER):${examples.replace(/^\s*Examples:/, '').trimEnd()}`);
  existing.hook('preAction', async (_this, actionCommand) => {
    if (!viaServer(actionCommand)) return;
    await (run as (...args: unknown[]) => Promise<void>)(...(actionCommand.processedArgs as unknown[]), actionCommand.opts(), actionCommand);
    process.exit(process.exitCode ?? 0);
  });
}
