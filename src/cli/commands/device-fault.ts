/**
 * `blockrig device fault add|remove|clear|offline|online|status DIR`: drives the fault rules of every
 * process that holds a device opened as `fault:<uri>?fault-control=DIR` (`drivers/fault-control.ts`). The
 * command is applied by every live opener before it returns and stored in `DIR/state.json` for later ones.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { broadcastFaultCommand, type FaultDelivery } from '../../../drivers/fault-control-client.js';
import { durationSchema } from '../../../hil/scenario/schema.js';
import { InvalidArgumentError } from '../../errors.js';
import { parseSize } from '../../units.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printJson, printTable } from '../output.js';

const HELP = `
The folder is the one given to the device as fault-control=DIR; every process that opened the device
(the serving process, each controller) applies the command before this returns. A range is START-END or
START+LENGTH with units (0-1MiB, 1MiB+4KiB).

Examples:
  blockrig controller run --meta "fault:/img/d1.img?fault-control=/run/rig/d1" &
  blockrig device fault add /run/rig/d1 --eio 0-1MiB
  blockrig device fault add /run/rig/d1 --latency 20ms --rate 0.1 --id slow
  blockrig device fault add /run/rig/d1 --rule '{"kind":"torn-write","keepBytes":4096,"count":1}'
  blockrig device fault remove /run/rig/d1 slow
  blockrig device fault offline /run/rig/d1 --for 2s
  blockrig device fault online /run/rig/d1
  blockrig device fault clear /run/rig/d1 --json
  blockrig device fault status /run/rig/d1

Exit status: 0 when every live opener applied the command (or none is open: the state is stored for the
next opener), 1 when an opener refused it or did not answer, 2 for a bad command, 3 when DIR does not exist.
`;

interface AddOptions {
  rule?: string;
  eio?: string;
  latency?: string;
  range?: string;
  ops?: string;
  rate?: string;
  count?: string;
  id?: string;
  json?: boolean;
}

/** START-END or START+LENGTH, with units. */
function parseRange(text: string, field: string): { offset: number; length: number } {
  const m = /^\s*([^-+]+?)\s*([-+])\s*(.+?)\s*$/.exec(text);
  if (m === null) throw new InvalidArgumentError(`${field} ${text}: write START-END or START+LENGTH, as in 0-1MiB or 1MiB+4KiB`, { details: { field } });
  const start = parseSize(m[1] ?? '', field);
  const second = parseSize(m[3] ?? '', field);
  const length = m[2] === '+' ? second : second - start;
  if (length <= 0) throw new InvalidArgumentError(`${field} ${text}: the end must be after the start`, { details: { field } });
  return { offset: start, length };
}

/** The rule an `add` asks for, from exactly one of --rule, --eio, --latency and the common options. */
function ruleOf(o: AddOptions): Record<string, unknown> {
  const given = [o.rule, o.eio, o.latency].filter((v) => v !== undefined).length;
  if (given !== 1) throw new InvalidArgumentError('give exactly one of --rule JSON, --eio RANGE or --latency DURATION', { details: { field: 'rule' } });
  let rule: Record<string, unknown>;
  if (o.rule !== undefined) {
    try {
      rule = z.record(z.string(), z.unknown()).parse(JSON.parse(o.rule));
    } catch (err) {
      throw new InvalidArgumentError(`--rule is not a JSON object: ${(err as Error).message}`, { cause: err, details: { field: 'rule' } });
    }
  } else if (o.eio !== undefined) rule = { kind: 'error', errno: 'EIO', ...parseRange(o.eio, '--eio') };
  else rule = { kind: 'latency', ms: parseArgs(durationSchema, o.latency, '--latency') };
  if (o.range !== undefined) Object.assign(rule, parseRange(o.range, '--range'));
  if (o.ops !== undefined) rule.ops = o.ops.split(',').map((s) => s.trim());
  if (o.rate !== undefined) rule.rate = parseArgs(z.coerce.number().min(0).max(1), o.rate, '--rate');
  if (o.count !== undefined) rule.count = parseArgs(z.coerce.number().int().positive(), o.count, '--count');
  if (o.id !== undefined) rule.id = o.id;
  return rule;
}

/** Sends, prints, and turns refusals and silences into exit status 1. */
async function send(dir: string, command: Record<string, unknown>, json: boolean): Promise<number> {
  const { command: sent, deliveries } = await broadcastFaultCommand(dir, command);
  const live = deliveries.filter((d) => d.outcome !== 'stale');
  if (json) printJson({ command: sent, deliveries });
  else if (live.length === 0) process.stdout.write(`no process holds a device on ${dir} now; stored in ${dir}/state.json for the next one that opens it\n`);
  else {
    printTable(live, {
      PID: (d: FaultDelivery) => d.pid,
      OUTCOME: (d) => d.outcome,
      STATE: (d) => (d.status === undefined ? '-' : d.status.offline ? 'offline' : d.status.available ? 'available' : 'unavailable'),
      RULES: (d) => (d.status === undefined ? '-' : d.status.rules.map((r) => `${r.rule.id}:${r.rule.kind} (fired ${r.fired})`).join(', ') || '-'),
      ERROR: (d) => d.error?.message ?? '',
    });
  }
  const failed = live.filter((d) => d.outcome !== 'applied');
  if (failed.length > 0 && !json) process.stderr.write(`${failed.length} of ${live.length} openers did not apply the command\n`);
  return failed.length > 0 ? 1 : 0;
}

/** Adds `fault` under the `device` command. */
export const deviceFaultCommands: CommandModule = (program) => {
  const device = program.commands.find((c) => c.name() === 'device') ?? program.command('device');
  const fault = device.command('fault').description('drive the fault rules of every process holding a fault:<uri>?fault-control=DIR device').addHelpText('after', HELP);
  const sub = (name: string, description: string): Command =>
    fault.command(name).description(description).argument('<dir>', 'the control folder (fault-control=DIR)').option('--json', 'print the command and each opener\'s answer as JSON').addHelpText('after', HELP);

  sub('add', 'add a fault rule in every opener (a rule with the same id is replaced)')
    .option('--rule <json>', 'any fault rule as JSON (docs/drivers.md, "Fault rules")')
    .option('--eio <range>', 'every request overlapping the range fails with EIO')
    .option('--latency <duration>', 'every request waits this long first (250ms, 1s)')
    .option('--range <range>', 'limit the rule to this byte range')
    .option('--ops <list>', 'operations it applies to: read,write,flush,trim,writeZeroes')
    .option('--rate <p>', 'probability 0..1 that a matching request triggers it')
    .option('--count <n>', 'fire at most n times in each opener')
    .option('--id <id>', 'the rule\'s id, for remove (default: one is made up and printed)')
    .action(action(async (dir: string, o: AddOptions) => send(dir, { op: 'add', rule: ruleOf(o) }, o.json === true)));

  sub('remove', 'remove a rule by id in every opener')
    .argument('<id>', 'the rule id')
    .action(action(async (dir: string, id: string, o: { json?: boolean }) => send(dir, { op: 'remove', id }, o.json === true)));

  sub('clear', 'remove every rule in every opener (an offline device stays offline until online)').action(action(async (dir: string, o: { json?: boolean }) => send(dir, { op: 'clear' }, o.json === true)));

  sub('offline', 'take the device offline in every opener, as a pulled drive')
    .option('--for <duration>', 'come back by itself after this long')
    .option('--reason <text>', 'why, as the openers report it')
    .action(
      action(async (dir: string, o: { for?: string; reason?: string; json?: boolean }) =>
        send(dir, { op: 'offline', ...(o.reason === undefined ? {} : { reason: o.reason }), ...(o.for === undefined ? {} : { forMs: parseArgs(durationSchema, o.for, '--for') }) }, o.json === true),
      ),
    );

  sub('online', 'bring the device back in every opener').action(action(async (dir: string, o: { json?: boolean }) => send(dir, { op: 'online' }, o.json === true)));

  sub('status', 'show each opener\'s rules (with how often each fired) and state').action(action(async (dir: string, o: { json?: boolean }) => send(dir, { op: 'status' }, o.json === true)));
};
