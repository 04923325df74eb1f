/**
 * Wire types of tasks: what a browser or CLI issues to a server, what the server forwards to an agent, and
 * the status record kept in the cluster's persistent data and reported back. Runtime-neutral.
 */
import { z } from 'zod';
import { IdSchema } from './cluster.js';
import { TASK_ARGS_SCHEMAS, TaskArgsSchema, TaskKindSchema } from './task-args.js';

/** Life of a task at the cluster. `accepted` is stored before the driver process starts. */
export const TaskStateSchema = z.enum(['accepted', 'running', 'paused', 'succeeded', 'failed', 'cancelled']);
/** A task state. */
export type TaskState = z.infer<typeof TaskStateSchema>;

/** States after which a task never changes again. */
export const FINAL_TASK_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled'];

/**
 * The body of `POST /api/v1/tasks`. The arguments are checked against the kind's own schema
 * (`TASK_ARGS_SCHEMAS`); a problem is reported at `args.NAME`.
 */
export const TaskIssueSchema = z
  .strictObject({
    /** The cluster that runs the task. */
    cluster: IdSchema,
    kind: TaskKindSchema,
    args: TaskArgsSchema.default({}),
    /** Idempotency key: issuing again with the same key returns the same task instead of a second one. */
    requestId: z.string().min(1).max(128).optional(),
  })
  .superRefine((issue, ctx) => {
    const checked = TASK_ARGS_SCHEMAS[issue.kind].safeParse(issue.args);
    if (checked.success) return;
    for (const problem of checked.error.issues) {
      // An unknown argument is named in the path, so the message lands beside it too.
      const keys = problem.code === 'unrecognized_keys' ? problem.keys : [];
      ctx.addIssue({ code: 'custom', message: problem.message, path: ['args', ...problem.path, ...keys.slice(0, 1)] });
    }
  });
/** A task as issued by a user. */
export type TaskIssue = z.infer<typeof TaskIssueSchema>;

/** Which agent executes (or executed) a task: stored with the task in the cluster's persistent data. */
export const ExecutorSchema = z.strictObject({
  agentId: z.string(),
  serverId: IdSchema,
  host: z.string(),
  pid: z.number().int(),
});
/** An executing agent's identification. */
export type Executor = z.infer<typeof ExecutorSchema>;

/** A task's record as stored at the cluster and reported to servers. */
export const TaskRecordSchema = z.strictObject({
  id: z.string(),
  cluster: IdSchema,
  kind: TaskKindSchema,
  args: TaskArgsSchema,
  requestId: z.string().nullable(),
  /** The server the task was issued to. */
  issuedVia: IdSchema,
  state: TaskStateSchema,
  executor: ExecutorSchema.nullable(),
  /** Every agent that has executed the task, in order (more than one after a takeover). */
  executors: z.array(ExecutorSchema),
  /** The driver process (a process group leader at the cluster host) while the task runs. */
  driverPid: z.number().int().nullable(),
  /** How many times a driver process was started for the task (more than one only after a driver died). */
  attempts: z.number().int().nonnegative(),
  /** A pending operator request for the executing agent. */
  control: z.enum(['cancel', 'pause', 'resume']).nullable(),
  /** The driver process's completion status (its final JSON), when finished. */
  result: z.unknown().nullable(),
  /** Why it failed, in words. */
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
/** A task's record. */
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

/** Operator requests on a running task. */
export const TaskControlSchema = z.enum(['cancel', 'pause', 'resume']);
/** An operator request on a task. */
export type TaskControl = z.infer<typeof TaskControlSchema>;
