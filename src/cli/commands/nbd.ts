/** `blockrig nbd ...`: serve devices over NBD and list a server's exports. */
import type { Command } from 'commander';
import { openDevice } from '../../../drivers/index.js';
import type { BlockDevice } from '../../../drivers/types.js';
import { InvalidArgumentError } from '../../errors.js';
import { connectEndpoint, listExports } from '../../nbd/client-handshake.js';
import { formatNbdUri, parseListenAddress, parseNbdUri } from '../../nbd/address.js';
import { NbdServer } from '../../nbd/server.js';
import { systemClock } from '../../clock.js';
import { action, type CommandModule } from '../command.js';
import { printJson, printTable } from '../output.js';

interface ServeOptions {
  listen: string;
  name: string[];
  readOnly?: boolean;
  force?: boolean;
  description?: string;
  json?: boolean;
}

/** Serves devices until SIGINT/SIGTERM, then drains clients, flushes and closes the devices. */
async function serve(uris: string[], options: ServeOptions): Promise<number> {
  if (options.name.length > uris.length) {
    throw new InvalidArgumentError(`${options.name.length} --name values for ${uris.length} devices: give at most one name per device`, { details: { field: 'name' } });
  }
  const endpoint = parseListenAddress(options.listen);
  const devices: BlockDevice[] = [];
  const server = new NbdServer({ log: (message) => process.stderr.write(`${message}\n`) });
  try {
    for (const [i, uri] of uris.entries()) {
      const device = await openDevice(uri, { readOnly: options.readOnly === true, force: options.force === true });
      devices.push(device);
      server.addExport(options.name[i] ?? `disk${i}`, device, { readOnly: options.readOnly === true, description: options.description ?? device.uri });
    }
    const bound = await server.listen(endpoint);
    const exports = server.list().map((e) => ({ name: e.name, uri: formatNbdUri(bound, e.name), device: e.device.uri, size: e.size, readOnly: e.readOnly }));
    if (options.json === true) printJson({ listening: bound, exports });
    else {
      for (const e of exports) process.stdout.write(`serving ${e.device} as ${e.uri}${e.readOnly ? ' (read-only)' : ''}\n`);
      if (exports.some((e) => e.readOnly) && options.readOnly !== true) {
        process.stdout.write('(read-only although --read-only was not given: the device opened read-only, for instance because it carries data blockrig did not write; --force exports such a device writable)\n');
      }
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return 0;
  } finally {
    await server.close();
    await Promise.allSettled(devices.map((d) => d.close()));
  }
}

/** Lists the exports of the server a URI points at (the URI's export name is ignored). */
async function list(uri: string, options: { json?: boolean }): Promise<void> {
  const address = parseNbdUri(uri);
  const conn = await connectEndpoint(address.endpoint, 10_000, systemClock);
  try {
    const exports = await listExports(conn);
    const rows = exports.map((e) => ({ ...e, uri: formatNbdUri(address.endpoint, e.name) }));
    if (options.json === true) printJson(rows);
    else printTable(rows, { NAME: (r) => r.name, URI: (r) => r.uri, DESCRIPTION: (r) => r.description });
  } finally {
    conn.socket.destroy();
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Registers `blockrig nbd serve` and `blockrig nbd list`. */
export const nbdCommands: CommandModule = (program: Command) => {
  const nbd = program.command('nbd').description('serve block devices over NBD and inspect NBD servers');

  nbd
    .command('serve')
    .description('export one or more devices over NBD until interrupted (SIGINT/SIGTERM drains clients and flushes)')
    .argument('<device-uri...>', 'devices to export: ./disk.img, /dev/loop3, memory:?size=1GiB, nbd://host/export')
    .requiredOption('--listen <address>', 'HOST:PORT (port 0 picks a free port) or unix:PATH')
    .option('--name <name>', 'export name, once per device in order (default disk0, disk1, ...; the first is also the default export)', collect, [])
    .option('--read-only', 'refuse writes from clients')
    .option('--force', 'allow writes to a device that carries data blockrig did not write (a filesystem, a partition table)')
    .option('--description <text>', 'description shown by nbdinfo and blockrig nbd list')
    .option('--json', 'print the listening address and exports as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  blockrig nbd serve ./disk.img --listen 127.0.0.1:10809 --name disk0\n  blockrig nbd serve "memory:?size=1GiB" --listen unix:/tmp/nbd.sock --read-only\n  blockrig nbd serve a.img b.img --listen :10809 --name a --name b --json',
    )
    .action(action(async (uris: string[], options: ServeOptions) => serve(uris, options)));

  nbd
    .command('list')
    .description('list the exports of an NBD server (NBD_OPT_LIST)')
    .argument('<uri>', 'nbd://host[:port]/ or nbd+unix:///?socket=PATH')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig nbd list nbd://localhost/\n  blockrig nbd list "nbd+unix:///?socket=/tmp/nbd.sock" --json')
    .action(action(async (uri: string, options: { json?: boolean }) => list(uri, options)));
};
