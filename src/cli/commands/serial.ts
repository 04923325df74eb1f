/** `blockrig serial ...`: drive serial bench hardware (a power relay, a firmware console) by port path. */
import type { Command } from 'commander';
import { z } from 'zod';
import { startFirmwareConsole } from '../../../hil/sim/firmware-console.js';
import { startRelayBoard } from '../../../hil/sim/relay-board.js';
import { InvalidArgumentError } from '../../errors.js';
import { FirmwareConsole } from '../../serial/console.js';
import { PowerRelay } from '../../serial/relay.js';
import { openSerialPort } from '../../serial/transport.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printJson, printTable } from '../output.js';

const RelayArgs = z.object({
  operation: z.enum(['ping', 'status', 'on', 'off', 'cycle']),
  channel: z.coerce.number().int().min(1).max(64).optional(),
  offMs: z.coerce.number().int().min(0).max(600_000),
  baud: z.coerce.number().int().positive(),
});


export const serialCommands: CommandModule = (program: Command) => {
  const serial = program.command('serial').description('serial bench hardware: power relays and firmware consoles, opened by port path');

  serial
    .command('relay')
    .description('switch or read a power relay board (protocol in docs/serial.md)')
    .argument('<port>', 'serial port path, e.g. /dev/ttyUSB0')
    .argument('<operation>', 'ping | status | on | off | cycle')
    .argument('[channel]', 'relay channel (1-based), for on/off/cycle')
    .option('--off-ms <ms>', 'how long cycle keeps the power off', '1000')
    .option('--baud <rate>', 'baud rate', '115200')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig serial relay /dev/ttyUSB0 status\n  blockrig serial relay /dev/ttyUSB0 off 3\n  blockrig serial relay /dev/ttyUSB0 cycle 3 --off-ms 5000')
    .action(
      action(async (port: string, operation: string, channel: string | undefined, options: { offMs: string; baud: string; json?: boolean }) => {
        const args = parseArgs(RelayArgs, { operation, channel, offMs: options.offMs, baud: options.baud });
        if (args.operation !== 'ping' && args.operation !== 'status' && args.channel === undefined) {
          throw new InvalidArgumentError(`relay ${args.operation} needs a channel number`, { details: { field: 'channel' } });
        }
        const relay = new PowerRelay(await openSerialPort(port, { baudRate: args.baud }));
        try {
          if (args.operation === 'ping') await relay.ping();
          else if (args.operation === 'on' || args.operation === 'off') await relay.setPower(args.channel ?? 0, args.operation === 'on');
          else if (args.operation === 'cycle') await relay.powerCycle(args.channel ?? 0, args.offMs);
          const status = await relay.status();
          const rows = Object.entries(status).map(([ch, on]) => ({ channel: Number(ch), power: on ? 'on' : 'off' }));
          if (options.json === true) printJson({ port, channels: rows });
          else printTable(rows, { CHANNEL: (r) => r.channel, POWER: (r) => r.power });
        } finally {
          await relay.close();
        }
      }),
    );

  serial
    .command('console')
    .description('send lines to a firmware console and wait for a pattern (expect-style)')
    .argument('<port>', 'serial port path')
    .option('--send <line...>', 'lines to send, in order')
    .option('--expect <regex>', 'regular expression to wait for after sending', '')
    .option('--timeout <ms>', 'how long to wait for the pattern', '5000')
    .option('--baud <rate>', 'baud rate', '115200')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig serial console /dev/ttyUSB1 --send version --expect "version (\\S+)"\n  blockrig serial console /dev/ttyUSB1 --expect "fw> " --timeout 30000')
    .action(
      action(async (port: string, options: { send?: string[]; expect: string; timeout: string; baud: string; json?: boolean }) => {
        const timeoutMs = parseArgs(z.coerce.number().int().positive(), options.timeout, '--timeout');
        let pattern: RegExp | undefined;
        try {
          pattern = options.expect === '' ? undefined : new RegExp(options.expect);
        } catch (err) {
          throw new InvalidArgumentError(`--expect is not a valid regular expression: ${(err as Error).message}`, { details: { field: 'expect' } });
        }
        const fw = new FirmwareConsole(await openSerialPort(port, { baudRate: parseArgs(z.coerce.number().int().positive(), options.baud, '--baud') }));
        try {
          for (const line of options.send ?? []) await fw.sendLine(line);
          const found = pattern ? await fw.expect(pattern, timeoutMs) : undefined;
          if (options.json === true) printJson({ port, matched: found?.match[0] ?? null, groups: found ? found.match.slice(1) : [], before: found?.before ?? '' });
          else if (found) process.stdout.write(`${found.before}${found.match[0]}\n`);
        } finally {
          await fw.close();
        }
      }),
    );

  serial
    .command('simulate')
    .description('run a simulated relay board or firmware console on a port (for rigs without hardware)')
    .argument('<kind>', 'relay | console')
    .argument('<port>', 'serial port path (e.g. one end of a socat pty pair)')
    .option('--channels <n>', 'relay channels', '8')
    .addHelpText('after', '\nExamples:\n  socat pty,raw,echo=0,link=/tmp/relay-host pty,raw,echo=0,link=/tmp/relay-dev &\n  blockrig serial simulate relay /tmp/relay-dev --channels 4\n  blockrig serial relay /tmp/relay-host status')
    .action(
      action(async (kind: string, port: string, options: { channels: string }) => {
        const which = parseArgs(z.enum(['relay', 'console']), kind, 'kind');
        const transport = await openSerialPort(port);
        const sim =
          which === 'relay'
            ? startRelayBoard(transport, { channels: parseArgs(z.coerce.number().int().min(1).max(64), options.channels, '--channels') })
            : startFirmwareConsole(transport);
        process.stderr.write(`simulated ${which} on ${port}; Ctrl-C stops it\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await sim.stop();
      }),
    );
};
