/**
 * Wire types between an agent and its server: challenge and signed registration, heartbeats, state reports
 * (a snapshot on registration, then stored changes in order) and the command channel (long poll).
 * Runtime-neutral: signing itself (HMAC-SHA256) is done by `src/agent` and checked by `src/server`.
 */
import { z } from 'zod';
import { ClusterConfigInfoSchema, DeviceStateSchema, IdSchema } from './cluster.js';
import { TaskControlSchema, TaskIssueSchema, TaskRecordSchema } from './task.js';
import { ControllerViewSchema } from './controllers.js';
import { VolumeActionSchema, VolumeViewSchema } from './volume.js';

/** Answer of `POST /api/v1/agent/challenge`: a single-use nonce the registration must sign. */
export const ChallengeSchema = z.strictObject({ nonce: z.string().min(16), expiresInMs: z.number().int().positive() });
/** A registration challenge. */
export type Challenge = z.infer<typeof ChallengeSchema>;

/** Body of `POST /api/v1/agent/register`. `signature` is hex HMAC-SHA256 of {@link registrationSigningText}. */
export const AgentRegistrationSchema = z.strictObject({
  agentId: z.string().min(1).max(140),
  clusterId: IdSchema,
  serverId: IdSchema,
  host: z.string().min(1).max(255),
  pid: z.number().int().positive(),
  nonce: z.string().min(16),
  signature: z.string().regex(/^[0-9a-f]{64}$/, 'a hex HMAC-SHA256'),
});
/** An agent's registration. */
export type AgentRegistration = z.infer<typeof AgentRegistrationSchema>;

/** The exact text an agent signs with the shared cluster secret; the server recomputes it. */
export function registrationSigningText(r: Omit<AgentRegistration, 'signature'>): string {
  return ['blockrig-agent-registration-v1', r.nonce, r.agentId, r.clusterId, r.serverId, r.host, String(r.pid)].join('\n');
}

/** Answer of a registration: the bearer token for the agent's later calls and the timing it must keep. */
export const RegistrationAcceptedSchema = z.strictObject({
  token: z.string(),
  heartbeatMs: z.number().int().positive(),
  expiryMs: z.number().int().positive(),
});
/** An accepted registration. */
export type RegistrationAccepted = z.infer<typeof RegistrationAcceptedSchema>;

/** A whole cluster's stored configuration and state, sent on registration (claims 000/15-16). */
export const ClusterSnapshotSchema = z.strictObject({
  /** The last stored change included. */
  seq: z.number().int().nonnegative(),
  config: ClusterConfigInfoSchema,
  devices: z.array(DeviceStateSchema),
  tasks: z.array(TaskRecordSchema),
  /** The cluster's volumes as last read from its volume table. */
  volumes: z.array(VolumeViewSchema).default([]),
  /** The host slots of the cluster's metadata region as last read. */
  controllers: z.array(ControllerViewSchema).default([]),
});
/** A cluster snapshot. */
export type ClusterSnapshot = z.infer<typeof ClusterSnapshotSchema>;

/** One change as stored in the cluster's persistent data (its outbox), in `seq` order. */
export const StoredChangeSchema = z.discriminatedUnion('type', [
  z.strictObject({ seq: z.number().int().positive(), at: z.string(), type: z.literal('config'), body: ClusterConfigInfoSchema }),
  z.strictObject({ seq: z.number().int().positive(), at: z.string(), type: z.literal('device'), body: DeviceStateSchema }),
  z.strictObject({ seq: z.number().int().positive(), at: z.string(), type: z.literal('task'), body: TaskRecordSchema }),
  /** The whole volume list of the cluster (at most 16 per volume table), stored when any of it changed. */
  z.strictObject({ seq: z.number().int().positive(), at: z.string(), type: z.literal('volumes'), body: z.array(VolumeViewSchema) }),
  /** The occupied host slots of the metadata region, stored when liveness or a claim changed. */
  z.strictObject({ seq: z.number().int().positive(), at: z.string(), type: z.literal('controllers'), body: z.array(ControllerViewSchema) }),
]);
/** A stored change. */
export type StoredChange = z.infer<typeof StoredChangeSchema>;

/** Body of `POST /api/v1/agent/report` (claims 000/15-18). */
export const StateReportSchema = z.strictObject({
  snapshot: ClusterSnapshotSchema.optional(),
  changes: z.array(StoredChangeSchema).max(10_000),
});
/** A state report. */
export type StateReport = z.infer<typeof StateReportSchema>;

/** Answer of a report: the highest `seq` the server now holds for the cluster. */
export const ReportAcceptedSchema = z.strictObject({ seq: z.number().int().nonnegative() });

/** A command from a server to its agent, delivered through `POST /api/v1/agent/poll`. */
export const AgentCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    id: z.string(),
    type: z.literal('task.issue'),
    taskId: z.string(),
    issue: TaskIssueSchema,
  }),
  z.strictObject({ id: z.string(), type: z.literal('task.control'), taskId: z.string(), control: TaskControlSchema }),
  z.strictObject({ id: z.string(), type: z.literal('volume.action'), action: VolumeActionSchema }),
]);
/** A command to an agent. */
export type AgentCommand = z.infer<typeof AgentCommandSchema>;

/** Answer of a poll: commands to run now (empty when the poll timed out). */
export const PollAnswerSchema = z.strictObject({ commands: z.array(AgentCommandSchema) });
/** Body of `POST /api/v1/agent/poll`. */
export const PollRequestSchema = z.strictObject({ waitMs: z.number().int().min(0).max(60_000).default(10_000) });

/** Body of `POST /api/v1/agent/commands/:id/result`. */
export const CommandResultSchema = z.strictObject({
  ok: z.boolean(),
  task: TaskRecordSchema.optional(),
  /** For `task.issue`: true when this command stored the task, false when it already existed. */
  created: z.boolean().optional(),
  /** For `volume.action`: the volume as stored after the action. */
  volume: VolumeViewSchema.optional(),
  /** `field` names the bad field of the request, when the agent knows it (forms show the message beside it). */
  error: z.strictObject({ code: z.string(), message: z.string(), field: z.string().optional() }).optional(),
});
/** An agent's answer to a command. */
export type CommandResult = z.infer<typeof CommandResultSchema>;
