/**
 * `blockrig agent --config FILE --cluster C --server S`: run the agent of cluster C paired with server S;
 * `blockrig driver run KIND --meta URI ...`: the driver process an agent invokes for a task.
 */
import { z } from 'zod';
import { Agent } from '../../agent/agent.js';
import { runDriverTask } from '../../agent/driver-process.js';
import type { ProgressLine } from '../../agent/driver-progress.js';
import { loadRigConfig } from '../../cluster/config-file.js';
import { InvalidArgumentError } from '../../errors.js';
import { parseAt, TaskKindSchema, VOLUME_TASK_KINDS } from '../../wire/index.js';
import { action, type CommandModule } from '../command.js';
import { untilSignal } from './server.js';
import { stopWithParent } from '../../cluster/exit-with-parent.js';
import { CONTROL_FILE_ENV } from '../../agent/driver-pause.js';
import { submittedLine } from '../../agent/driver-attach.js';

const AgentArgs = z.object({
  config: z.string().min(1),
  cluster: z.string().min(1),
  server: z.string().min(1),
  holdAfterStore: z.coerce.number().int().min(0).max(600_000).default(0),
});

export const agentCommands: CommandModule = (program) => {
  driverCommands(program);
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
        stopWithParent();
        await agent.start();
        process.stdout.write(`${JSON.stringify({ event: 'started', agentId: agent.me.agentId, pid: process.pid })}\n`);
        await untilSignal();
        await agent.stop();
      }),
    );
};

const DriverArgs = z.object({
  kind: z.string().min(1),
  meta: z.string().min(1),
  target: z.string().min(1).optional(),
  offset: z.coerce.number().int().nonnegative().optional(),
  length: z.coerce.number().int().positive().optional(),
  partitions: z.coerce.number().int().positive().optional(),
  partitionSize: z.coerce.number().int().positive().optional(),
  seed: z.string().regex(/^(0x)?[0-9a-f]{1,8}$/i, 'seed must be 1-8 hex digits').optional(),
  runPartitions: z.boolean().optional(),
  volume: z.string().min(1).optional(),
  volumes: z.string().min(1).optional(),
  repair: z.boolean().optional(),
  member: z.coerce.number().int().min(0).max(63).optional(),
  to: z.string().min(1).optional(),
  offline: z.boolean().optional(),
  json: z.boolean().optional(),
  progressMs: z.coerce.number().int().min(50).max(60_000).default(500),
  attach: z.string().regex(/^[0-9a-f]{8}$/i, 'attach must be a region task id of 8 hex digits').optional(),
});

/** `blockrig driver run`: the driver process an agent invokes for a task. */
export const driverCommands: CommandModule = (program) => {
  const driver = program.command('driver').description('the driver process agents invoke to run one task on a metadata region');
  driver
    .command('run')
    .description('submit a task to the metadata region as its initiator, wait until it completes, print the final status')
    .argument('<kind>', `task kind: ${TaskKindSchema.options.join(', ')}`)
    .requiredOption('--meta <uri>', 'the metadata region')
    .option('--target <uri>', 'device of the data set (default: the metadata device after the region)')
    .option('--offset <bytes>', 'first byte of the data set')
    .option('--length <bytes>', 'bytes of the data set')
    .option('--partitions <n>', 'number of partitions')
    .option('--partition-size <bytes>', 'bytes per partition (instead of --partitions)')
    .option('--seed <hex>', 'pattern seed for fill and verify')
    .option('--volume <name>', 'volume kinds: the volume, as named in the volume table (the data set and parameters come from there)')
    .option('--volumes <uri>', 'volume kinds: metadata device holding the volume table (default: --meta)')
    .option('--repair', 'volume-scrub: rewrite what does not match (default: only count and locate mismatches)')
    .option('--member <n>', 'volume-rebuild: the member being rebuilt (default: the one the table says is rebuilding); volume-copy: the member to copy')
    .option('--to <uri>', 'volume-copy: the device to copy member --member to (it then takes the slot)')
    .option('--offline', 'volume-rebuild, volume-copy: no process serves the volume; do not wait for one to take the change')
    .option('--run-partitions', 'also run a controller in this process (clusters without controller processes)')
    .option('--json', 'print the final status as JSON, preceded by a {"event":"progress",...} line every --progress-ms while it runs')
    .option('--progress-ms <ms>', 'interval of progress lines with --json', '500')
    .option('--attach <id>', 'wait for this region task (8 hex digits), submitted by an earlier driver of the same task that was killed, instead of submitting one')
    .addHelpText('after', '\nUsually started by an agent, which reads the progress lines. SIGTERM cancels the task in the region.\n\nExamples:\n  blockrig driver run fill --meta /dev/loop3 --target /dev/loop4 --partitions 64 --json\n  blockrig driver run verify --meta ./meta.img --target ./data.img --seed 7f3a09c1 --run-partitions\n  blockrig driver run volume-scrub --meta ./meta.img --volumes ./volumes.img --volume v5 --partitions 8 --json\n  blockrig driver run volume-rebuild --meta ./meta.img --volume v5 --run-partitions')
    .action(
      action(async (kind: string, options: Record<string, unknown>) => {
        const args = parseAt(DriverArgs, { ...options, kind }, 'options');
        const isVolumeKind = (VOLUME_TASK_KINDS as readonly string[]).includes(args.kind);
        if (isVolumeKind && args.volume === undefined) throw new InvalidArgumentError(`${args.kind}: name the volume with --volume NAME`, { details: { field: 'volume' } });
        const stop = new AbortController();
        process.once('SIGTERM', () => stop.abort());
        const completion = await runDriverTask({
          kind: args.kind,
          meta: args.meta,
          ...(args.target === undefined ? {} : { target: args.target }),
          ...(args.offset === undefined ? {} : { offset: args.offset }),
          ...(args.length === undefined ? {} : { length: args.length }),
          ...(args.partitions === undefined ? {} : { partitions: args.partitions }),
          ...(args.partitionSize === undefined ? {} : { partitionSize: args.partitionSize }),
          params: args.seed === undefined ? {} : { seed: args.seed },
          ...(isVolumeKind && args.volume !== undefined
            ? {
                volume: {
                  table: args.volumes ?? args.meta,
                  volume: args.volume,
                  ...(args.partitions === undefined ? {} : { partitions: args.partitions }),
                  ...(args.repair === undefined ? {} : { repair: args.repair }),
                  ...(args.member === undefined ? {} : { member: args.member }),
                  ...(args.to === undefined ? {} : { to: args.to }),
                  ...(args.offline === undefined ? {} : { offline: args.offline }),
                },
              }
            : {}),
          runPartitions: args.runPartitions === true,
          signal: stop.signal,
          // Set by the agent that started this driver: where it writes pause/resume requests.
          ...(process.env[CONTROL_FILE_ENV] === undefined ? {} : { controlFile: process.env[CONTROL_FILE_ENV] }),
          ...(args.attach === undefined ? {} : { attach: parseInt(args.attach, 16) }),
          ...(args.json === true ? { onSubmitted: (id: string) => void process.stdout.write(`${submittedLine(id)}\n`) } : {}),
          ...(args.json === true ? { onProgress: (p: ProgressLine) => void process.stdout.write(`${JSON.stringify(p)}\n`), progressMs: args.progressMs } : {}),
        });
        if (args.json === true) process.stdout.write(`${JSON.stringify(completion)}\n`);
        else process.stdout.write(`task ${completion.id} (${completion.kind}) ${completion.state}: ${JSON.stringify(completion.outcome)}\n`);
      }),
    );
};
