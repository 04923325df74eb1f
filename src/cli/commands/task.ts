/**
 * `blockrig task submit|list|show|cancel --meta URI`: tasks directly on a metadata region, no server.
 * `submit --wait` makes this process the task's initiator (a driver process): it joins the region,
 * shows a progress bar on a TTY, performs the completion actions and prints the completion status.
 * Registered before `task-remote.ts`, which adds `--server` to these same subcommands.
 */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { z } from 'zod';
import { openDevice } from '../../../drivers/index.js';
import type { BlockDevice } from '../../../drivers/types.js';
import { systemClock } from '../../clock.js';
import { HostSession } from '../../controller/host-session.js';
import { InvalidArgumentError } from '../../errors.js';
import { HostRole } from '../../metadata/host-record.js';
import { MetadataRegion } from '../../metadata/region.js';
import { TASK_STATE_NAMES, hexId } from '../../metadata/task-record.js';
import { defaultTaskKinds } from '../../tasks/kinds.js';
import { cancelTask, pauseTask, submitTask, waitForTask } from '../../tasks/lifecycle.js';
import { findTask, parseTaskId, taskStatus, type TaskStatus } from '../../tasks/progress.js';
import { formatSize, parseSize } from '../../units.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printFields, printJson, printTable } from '../output.js';

const metaOption = z.string({ error: 'give the metadata device with --meta URI (or a server with --server URL)' }).min(1);
const size = (field: string) => z.string().transform((v) => parseSize(v, field));

const SubmitOptions = z.object({
  meta: metaOption,
  target: z.string().min(1).optional(),
  offset: size('--offset').optional(),
  length: size('--length').optional(),
  partitions: z.coerce.number().int().min(1).optional(),
  partitionSize: size('--partition-size').optional(),
  chunkPartitions: z.coerce.number().int().min(1).optional(),
  seed: z.string().optional(),
  param: z.array(z.string()).optional(),
  id: z.coerce.number().int().min(0).optional(),
  wait: z.boolean().optional(),
  json: z.boolean().optional(),
});

function params(o: z.infer<typeof SubmitOptions>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const word of o.param ?? []) {
    const at = word.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`--param: "${word}" is not name=value`, { details: { field: 'param', value: word } });
    const v = word.slice(at + 1);
    out[word.slice(0, at)] = /^\d+$/.test(v) ? Number(v) : v === 'true' || v === 'false' ? v === 'true' : v;
  }
  if (o.seed !== undefined) out.seed = o.seed;
  return out;
}

/** Opens the region's device and a session on it, runs `fn`, and always leaves (or abandons) and closes. */
async function withSession<T>(uri: string, slot: number | undefined, fn: (session: HostSession) => Promise<T>): Promise<T> {
  const dev = await openDevice(uri);
  let session: HostSession | undefined;
  try {
    const region = await MetadataRegion.open(dev);
    session = await HostSession.join({ region, clock: systemClock, slot, role: HostRole.Client });
    const result = await fn(session);
    await session.leave();
    return result;
  } catch (err) {
    await session?.abandon(err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    await dev.close();
  }
}

async function withRegion<T>(uri: string, fn: (region: MetadataRegion) => Promise<T>): Promise<T> {
  const dev = await openDevice(uri, { readOnly: true });
  try {
    return await fn(await MetadataRegion.open(dev));
  } finally {
    await dev.close();
  }
}

function progressBar(enabled: boolean): { update: (s: TaskStatus) => void; stop: () => void } {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: 'task {id} [{bar}] {percentage}% | {done}/{total} partitions | {rate}/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 20 });
  let started = false;
  let first: { at: number; bytes: number } | undefined;
  return {
    update: (s) => {
      const now = Date.now();
      first ??= { at: now, bytes: s.bytesDone };
      const secs = (now - first.at) / 1000;
      const rate = secs > 0 ? formatSize((s.bytesDone - first.bytes) / secs) : 'no estimate';
      const payload = { id: s.id, done: s.counts.complete + s.counts.failed, total: s.partitions, rate };
      if (!started) {
        bar.start(s.length, s.bytesDone, payload);
        started = true;
      } else bar.update(s.bytesDone, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

function printStatus(s: TaskStatus & { partitionStates?: string[]; owners?: (number | null)[] }): void {
  printFields({
    task: s.id,
    kind: s.kind,
    state: s.state,
    'data set': `${s.target} bytes ${s.offset}..${s.offset + s.length}`,
    partitions: `${s.partitions} of ${formatSize(s.partitionSize)} in ${s.chunks} chunks: ${s.counts.complete} COMPLETE, ${s.counts.inProgress} IN PROGRESS, ${s.counts.ready} READY, ${s.counts.failed} FAILED`,
    progress: `${formatSize(s.bytesDone)} of ${formatSize(s.length)}`,
    initiator: s.initiator === null ? 'any controller' : `host slot ${s.initiator}`,
    outcome: s.outcome ? `${s.outcome.status} by host slot ${s.outcome.by}${s.outcome.byInitiator ? ' (the initiator)' : ''}: ${JSON.stringify(s.outcome.result)}` : '-',
  });
}

export const taskCommands: CommandModule = (program) => {
  const task = program.command('task').description('issue, list, follow and control partitioned tasks (on a metadata region with --meta, or through a server with --server)');

  task
    .command('submit')
    .description('create a task on the metadata region; with --wait, act as its initiator: follow it, perform the completion actions, print the completion status')
    .argument('<kind>', 'task kind: fill, verify, checksum (and any registered)')
    .option('--meta <uri>', 'the device holding the metadata region')
    .option('--target <uri>', 'device of the data set (default: the metadata device, after the region)')
    .option('--offset <bytes>', 'first byte of the data set (multiple of 4096)')
    .option('--length <bytes>', 'bytes of the data set (default: to the end of the target)')
    .option('--partitions <n>', 'number of partitions')
    .option('--partition-size <bytes>', 'bytes per partition (instead of --partitions)')
    .option('--chunk-partitions <n>', 'partitions per claim (default chosen from the sizes)')
    .option('--seed <hex>', 'pattern seed of fill (default: the task id) and verify (required)')
    .option('--param <name=value>', 'another parameter of the task kind; repeat it', (v: string, prev: string[] = []) => [...prev, v])
    .option('--id <n>', 'host slot for this process (default: the first free one)')
    .option('--wait', 'wait for the end; exit 0 only when every partition is COMPLETE and the completion actions ran')
    .option('--json', 'print JSON (with --wait: the final completion status)')
    .addHelpText(
      'after',
      '\nExamples:\n  blockrig task submit fill --meta /dev/loop3 --partitions 4096 --wait\n  blockrig task submit verify --meta /dev/loop3 --partitions 4096 --seed 7f3a09c1 --wait --json\n  blockrig task submit checksum --meta ./shared.img --target /dev/loop4 --partition-size 1MiB\n',
    )
    .action(
      action(async (kind: string, opts: Record<string, unknown>, cmd: Command) => {
        const o = parseArgs(SubmitOptions, opts);
        void cmd;
        const kinds = defaultTaskKinds();
        let targetSize: number | undefined;
        if (o.target !== undefined && o.length === undefined && o.target !== o.meta) {
          const t: BlockDevice = await openDevice(o.target, { readOnly: true });
          targetSize = t.size;
          await t.close();
        }
        return withSession(o.meta, o.id, async (session) => {
          const sub = await submitTask(session, kinds, {
            kind,
            target: o.target,
            offset: o.offset,
            length: o.length,
            targetSize,
            partitions: o.partitions,
            partitionSize: o.partitionSize,
            chunkPartitions: o.chunkPartitions,
            params: params(o),
            initiator: o.wait === true,
          });
          if (o.wait !== true) {
            const st = await taskStatus(session.region, await findTask(session.region, sub.taskId));
            const { partitionStates: _omit, ...status } = st;
            if (o.json === true) printJson(status);
            else process.stdout.write(`task ${sub.id} submitted to slot ${sub.slot}: ${sub.task.partitions} partitions of ${sub.task.spec.kind}; follow it with blockrig task show ${sub.id} --meta ${o.meta}\n`);
            return 0;
          }
          const bar = progressBar(process.stderr.isTTY && o.json !== true);
          try {
            const done = await waitForTask(session, kinds, sub.taskId, { onProgress: bar.update });
            bar.stop();
            if (o.json === true) printJson(done);
            else printStatus(done);
            return 0;
          } finally {
            bar.stop();
          }
        }).finally(() => kinds.close());
      }),
    );

  task
    .command('list')
    .description('list the tasks in the metadata region')
    .option('--meta <uri>', 'the device holding the metadata region')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig task list --meta /dev/loop3\n  blockrig task list --meta ./shared.img --json\n')
    .action(
      action(async (opts: Record<string, unknown>) => {
        const meta = parseArgs(metaOption, opts.meta, '--meta');
        const rows = await withRegion(meta, async (region) => {
          const out: TaskStatus[] = [];
          for (const [slot, t] of (await region.readTasks()).entries()) {
            if (t.value === undefined || t.value.state === 0) continue;
            const { partitionStates: _p, ...st } = await taskStatus(region, { slot, sequence: t.pingPong.sequence, task: t.value });
            out.push(st);
          }
          return out;
        });
        if (opts.json === true) return printJson({ tasks: rows });
        printTable(rows, {
          TASK: (t) => t.id,
          KIND: (t) => t.kind,
          STATE: (t) => t.state,
          PARTITIONS: (t) => `${t.counts.complete}/${t.partitions} COMPLETE`,
          'DATA SET': (t) => `${t.target} @${t.offset} +${formatSize(t.length)}`,
          RESULT: (t) => (t.outcome ? JSON.stringify(t.outcome.result) : '-'),
        });
      }),
    );

  task
    .command('show')
    .description("one task's record, per-partition state and the host slot working on each chunk")
    .argument('<id>', 'task id (8 hex digits)')
    .option('--meta <uri>', 'the device holding the metadata region')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig task show 7f3a09c1 --meta /dev/loop3\n  blockrig task show 7f3a09c1 --meta ./shared.img --json\n')
    .action(
      action(async (id: string, opts: Record<string, unknown>) => {
        const meta = parseArgs(metaOption, opts.meta, '--meta');
        const { st, owners } = await withRegion(meta, async (region) => {
          const found = await findTask(region, parseTaskId(id));
          const st = await taskStatus(region, found);
          const hosts = await region.readHosts();
          const chunkOwner = new Map<number, number>();
          hosts.forEach((h, slot) => {
            const c = h.value?.claim;
            if (c && c.taskSlot === found.slot && c.index >= 0 && (h.value?.state === 1 || h.value?.state === 2)) chunkOwner.set(c.index, slot);
          });
          const owners = st.partitionStates.map((_s, p) => chunkOwner.get(Math.floor(p / found.task.chunkPartitions)) ?? null);
          return { st, owners };
        });
        const partitions = st.partitionStates.map((state, i) => ({ partition: i, state, owner: owners[i] ?? null }));
        if (opts.json === true) {
          const { partitionStates: _p, ...rest } = st;
          return printJson({ ...rest, partitions });
        }
        printStatus(st);
        printTable(partitions, { PARTITION: (p) => p.partition, STATE: (p) => p.state, OWNER: (p) => (p.owner === null ? '-' : `host slot ${p.owner}`) });
      }),
    );

  task
    .command('cancel')
    .description('cancel an active task: controllers stop its partitions at their next check; finished partitions stay COMPLETE')
    .argument('<id>', 'task id (8 hex digits)')
    .option('--meta <uri>', 'the device holding the metadata region')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig task cancel 7f3a09c1 --meta /dev/loop3\n')
    .action(
      action(async (id: string, opts: Record<string, unknown>) => {
        const meta = parseArgs(metaOption, opts.meta, '--meta');
        const taskId = parseTaskId(id);
        const outcome = await withSession(meta, undefined, (session) => cancelTask(session, taskId));
        if (opts.json === true) printJson({ id: hexId(taskId), state: TASK_STATE_NAMES[4], outcome });
        else process.stdout.write(`task ${hexId(taskId)} cancelled\n`);
      }),
    );

  for (const control of ['pause', 'resume'] as const) {
    task
      .command(control)
      .description(
        control === 'pause'
          ? 'pause an active task in the region: controllers claim none of its partitions and stop after the one they are on (they keep heartbeating, so nothing is reclaimed)'
          : 'resume a paused task: controllers claim its partitions again and go on from the recorded states',
      )
      .argument('<id>', 'task id (8 hex digits)')
      .option('--meta <uri>', 'the device holding the metadata region')
      .option('--json', 'print JSON')
      .addHelpText('after', `\nExamples:\n  blockrig task ${control} 7f3a09c1 --meta /dev/loop3\n`)
      .action(
        action(async (id: string, opts: Record<string, unknown>) => {
          const meta = parseArgs(metaOption, opts.meta, '--meta');
          const taskId = parseTaskId(id);
          const record = await withSession(meta, undefined, (session) => pauseTask(session, taskId, control === 'pause'));
          if (opts.json === true) printJson({ id: hexId(taskId), state: TASK_STATE_NAMES[record.state], paused: record.paused === true });
          else process.stdout.write(`task ${hexId(taskId)} ${control === 'pause' ? 'paused' : 'resumed'}\n`);
        }),
      );
  }
};
