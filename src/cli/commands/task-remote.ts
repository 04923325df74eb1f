/**
 * `blockrig task ... --server URL`: tasks through the servers (issued to a cluster, forwarded to one of its
 * agents, run by a driver process), with failover between servers. The same `task` command works directly
 * on a metadata region with `--meta URI` (no server; for CI jobs): when that module registered a
 * subcommand first, this one only adds `--server` to it and takes over when `--server` or BLOCKRIG_SERVER
 * is given; subcommands only the server path has (`pause`, `resume`, `watch`) are added here.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import { InvalidArgumentError } from '../../errors.js';
import { partitionCells, TaskIssueSchema, TaskKindSchema, TaskListSchema, TaskRecordSchema, TaskStateSchema, taskProgress, taskResultSummary, type TaskArgs, type TaskIssue, type TaskRecord } from '../../wire/index.js';
import { clientFor, collect } from '../client/connection.js';
import { subcommand } from '../client/server-form.js';
import { exitStatusOf, taskError, watchTask } from '../client/task-watch.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printFields, printJson, printTable, reportError } from '../output.js';
import { examples } from './rig-view.js';

/** Parses `--arg name=value` words into task arguments (numbers stay numbers). */
export function parseTaskArgs(words: readonly string[]): Record<string, string | number | boolean> {
  const args: Record<string, string | number | boolean> = {};
  for (const word of words) {
    const at = word.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`--arg: "${word}" is not name=value`, { details: { field: 'arg', value: word } });
    const value = word.slice(at + 1);
    args[word.slice(0, at)] = /^\d+$/.test(value) ? Number(value) : value === 'true' ? true : value === 'false' ? false : value;
  }
  return args;
}

/** Options that are task arguments of the same name (`--volume v5` is `args.volume`). */
const ARG_OPTIONS = ['partitions', 'volume', 'repair', 'member', 'to', 'offline', 'seed', 'target'] as const;

/** The issue from the command line, checked with the server's own schema; a problem names its option. */
function issueFrom(kind: string, o: z.infer<typeof SubmitOptions>): TaskIssue {
  const args: TaskArgs = parseTaskArgs(o.arg ?? []);
  for (const name of ARG_OPTIONS) if (o[name] !== undefined) args[name] = o[name];
  const checked = TaskIssueSchema.safeParse({ cluster: o.cluster, kind, args, requestId: o.requestId ?? `cli-${randomUUID()}` });
  if (checked.success) return checked.data;
  const problem = checked.error.issues[0];
  const [head, name] = (problem?.path ?? []).map(String);
  const option = head === 'args' && name !== undefined ? ((ARG_OPTIONS as readonly string[]).includes(name) ? `--${name}` : `--arg ${name}=...`) : head === 'kind' ? 'kind' : `--${head ?? 'arg'}`;
  throw new InvalidArgumentError(`${option}: ${problem?.message ?? 'invalid'}`, { details: { field: head === 'args' ? `args.${name ?? ''}` : (head ?? 'args') } });
}

function partitionsText(t: TaskRecord): string {
  const cells = partitionCells(taskProgress(t));
  if (cells.length === 0) return '-';
  return `${cells.filter((c) => c.state === 'COMPLETE').length}/${cells.length} COMPLETE`;
}

function printTask(t: TaskRecord): void {
  printFields({
    task: t.id,
    cluster: t.cluster,
    kind: t.kind,
    state: t.state,
    args: Object.entries(t.args).map(([k, v]) => `${k}=${String(v)}`).join(' ') || '-',
    'issued via': t.issuedVia,
    executor: t.executor === null ? '-' : `${t.executor.agentId} (pid ${t.executor.pid} on ${t.executor.host})`,
    executors: t.executors.map((e) => e.agentId).join(' -> ') || '-',
    partitions: partitionsText(t),
    result: taskResultSummary(t) ?? '-',
    'pending request': t.control ?? '-',
    error: t.error ?? '-',
    created: t.createdAt,
    updated: t.updatedAt,
  });
  const cells = partitionCells(taskProgress(t));
  if (cells.length > 0) printTable(cells, { PARTITION: (c) => c.index, STATE: (c) => c.state, OWNER: (c) => c.owner ?? '-' });
}

const SubmitOptions = z.object({
  cluster: z.string({ error: 'give the cluster that runs the task with --cluster ID' }).min(1, 'give the cluster with --cluster'),
  partitions: z.coerce.number().int().min(1).optional(),
  volume: z.string().optional(),
  repair: z.boolean().optional(),
  member: z.coerce.number().int().min(0).max(63).optional(),
  to: z.string().optional(),
  offline: z.boolean().optional(),
  seed: z.string().optional(),
  target: z.string().optional(),
  arg: z.array(z.string()).optional(),
  requestId: z.string().min(1).max(128).optional(),
  wait: z.boolean().optional(),
  json: z.boolean().optional(),
});

export const taskRemoteCommands: CommandModule = (program) => {
  const task = program.commands.find((c) => c.name() === 'task') ?? program.command('task').description('issue, list, follow and control partitioned tasks (through a server with --server, or on a metadata region with --meta)');

  subcommand(
    task,
    'submit',
    (c) =>
      c
        .description('issue a task to a cluster through a server; with --wait, follow it to the end with a progress bar')
        .argument('<kind>', `task kind (${TaskKindSchema.options.join(', ')})`)
        .option('--cluster <id>', 'the cluster that runs the task (required)')
        .option('--partitions <n>', 'number of partitions')
        .option('--volume <name>', 'volume kinds: the volume (as named in the cluster\'s volume table)')
        .option('--repair', 'volume-scrub: rewrite what does not match (default: check only)')
        .option('--member <n>', 'volume-rebuild: the member being rebuilt (default: the one the table says); volume-copy: the member to copy')
        .option('--to <uri>', 'volume-copy: the device to copy the member to (it then takes the slot)')
        .option('--offline', 'volume-rebuild, volume-copy: no process serves the volume')
        .option('--seed <hex>', 'fill and verify: the pattern seed (verify: the fill\'s)')
        .option('--target <uri>', 'fill, verify, checksum: the device of the data set')
        .option('--arg <name=value>', 'another task argument; repeat it', collect)
        .option('--request-id <key>', 'idempotency key: submitting again with it returns the same task (default: a fresh one, reused across failover)')
        .option('--wait', 'follow the task until it finishes; exit 0 succeeded, 14 failed, 130 cancelled')
        .option('--json', 'print JSON')
        .addHelpText(
          'after',
          examples(
            'blockrig task submit volume-scrub --cluster c1 --volume v5 --wait',
            'blockrig task submit volume-scrub --cluster c1 --volume v5 --repair --partitions 16 --json',
            'blockrig task submit volume-rebuild --cluster c1 --volume v5 --wait',
            'blockrig task submit volume-initialize --cluster c2 --volume v1',
            'blockrig task submit volume-copy --cluster c1 --volume v5 --member 2 --to /srv/rig/c1/d4.img --wait',
            'blockrig task submit fill --cluster c2 --seed 7f3a09c1 --wait',
            'blockrig task submit verify --cluster c2 --seed 7f3a09c1 --partitions 8 --wait',
            'blockrig task submit checksum --cluster c1 --partitions 16 --wait',
          ),
        ),
    action(async (kindText: unknown, opts: Record<string, unknown>, cmd: Command) => {
      if (opts.meta !== undefined) throw new InvalidArgumentError('task submit: give either --meta URI (the region, no server) or --server URL, not both', { details: { field: 'meta' } });
      const o = parseArgs(SubmitOptions, opts);
      const issue = issueFrom(parseArgs(TaskKindSchema, kindText, 'kind'), o);
      const client = clientFor(cmd);
      const created = await client.post(TaskRecordSchema, '/api/v1/tasks', issue);
      if (o.wait !== true) {
        if (o.json === true) printJson(created);
        else printTask(created);
        return;
      }
      const final = await watchTask(client, created.id, { quiet: o.json === true });
      if (o.json === true) printJson({ ...final, ...(taskError(final) === null ? {} : { error: taskError(final)?.toJSON() }) });
      else printTask(final);
      return exitStatusOf(final);
    }),
  );

  subcommand(
    task,
    'list',
    (c) =>
      c
        .description('list tasks a server knows, newest first')
        .option('--cluster <id>', 'only this cluster')
        .option('--state <state>', `only this state (${TaskStateSchema.options.join(', ')})`)
        .option('--json', 'print JSON')
        .addHelpText('after', examples('blockrig task list', 'blockrig task list --cluster c1 --state running --json')),
    action(async (opts: Record<string, unknown>, cmd: Command) => {
      const query = new URLSearchParams();
      if (typeof opts.cluster === 'string') query.set('cluster', opts.cluster);
      if (typeof opts.state === 'string') query.set('state', parseArgs(TaskStateSchema, opts.state, '--state'));
      const { tasks } = await clientFor(cmd).get(TaskListSchema, `/api/v1/tasks${query.size > 0 ? `?${query.toString()}` : ''}`);
      tasks.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      if (opts.json === true) return printJson({ tasks });
      printTable(tasks, { TASK: (t) => t.id, CLUSTER: (t) => t.cluster, KIND: (t) => t.kind, STATE: (t) => t.state, PARTITIONS: partitionsText, EXECUTOR: (t) => t.executor?.agentId ?? '-', VIA: (t) => t.issuedVia, CREATED: (t) => t.createdAt });
    }),
  );

  subcommand(
    task,
    'show',
    (c) => c.description("one task's record, executors and per-partition states").argument('<id>', 'task id').option('--json', 'print JSON').addHelpText('after', examples('blockrig task show t-4f1c...', 'blockrig task show t-4f1c... --json')),
    action(async (id: unknown, opts: Record<string, unknown>, cmd: Command) => {
      const t = await clientFor(cmd).get(TaskRecordSchema, `/api/v1/tasks/${encodeURIComponent(parseArgs(z.string().min(1), id, 'id'))}`);
      if (opts.json === true) printJson(t);
      else printTask(t);
    }),
  );

  for (const control of ['cancel', 'pause', 'resume'] as const) {
    subcommand(
      task,
      control,
      (c) =>
        c
          .description(control === 'cancel' ? 'cancel a task (its driver process is terminated; finished partitions stay done)' : `${control} a running task`)
          .argument('<id>', 'task id')
          .option('--json', 'print JSON')
          .addHelpText('after', examples(`blockrig task ${control} t-4f1c...`)),
      action(async (id: unknown, opts: Record<string, unknown>, cmd: Command) => {
        const t = await clientFor(cmd).post(TaskRecordSchema, `/api/v1/tasks/${encodeURIComponent(parseArgs(z.string().min(1), id, 'id'))}/${control}`, {});
        if (opts.json === true) printJson(t);
        else process.stdout.write(`task ${t.id}: ${control} requested (state ${t.state})\n`);
      }),
    );
  }

  subcommand(
    task,
    'watch',
    (c) =>
      c
        .description('follow a task by live events until it finishes: progress bar with partitions, rate and ETA; follows the other server on failover')
        .argument('<id>', 'task id')
        .option('--json', 'print the final record as JSON')
        .addHelpText('after', `${examples('blockrig task watch t-4f1c...', 'blockrig task watch t-4f1c... --json')}\nExit status: 0 succeeded, 14 failed, 130 cancelled.`),
    action(async (id: unknown, opts: Record<string, unknown>, cmd: Command) => {
      const final = await watchTask(clientFor(cmd), parseArgs(z.string().min(1), id, 'id'), { quiet: opts.json === true });
      if (opts.json === true) printJson(final);
      else printTask(final);
      const err = taskError(final);
      if (err !== null && opts.json !== true) reportError(err, false);
      return exitStatusOf(final);
    }),
  );
};
