/**
 * Wire types of the user-facing HTTP API and its live events: login, views of clusters, agents and
 * servers, error bodies. The browser UI and the CLI parse answers with these schemas.
 */
import { z } from 'zod';
import { ClusterConfigInfoSchema, DeviceStateSchema, IdSchema } from './cluster.js';
import { TaskRecordSchema } from './task.js';
import { ControllerViewSchema } from './controllers.js';
import { VolumeViewSchema } from './volume.js';

/** Every API error body: `{ error: { code, message, details } }`; `details.field` names a bad field. */
export const ApiErrorBodySchema = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }),
});
/** An API error body. */
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

/** Body of `POST /api/v1/login`. */
export const LoginSchema = z.strictObject({ user: z.string().min(1).max(128), password: z.string().min(1).max(1024) });
/** Answer of a login: a bearer token (also set as an HttpOnly cookie for the browser). */
export const SessionSchema = z.strictObject({ token: z.string(), user: z.string(), expiresAt: z.string() });
/** A login session. */
export type Session = z.infer<typeof SessionSchema>;

/** An agent as a server's registry holds it. */
export const AgentViewSchema = z.strictObject({
  agentId: z.string(),
  clusterId: IdSchema,
  serverId: IdSchema,
  host: z.string(),
  pid: z.number().int(),
  registeredAt: z.string(),
  lastHeartbeatAt: z.string(),
  /** False once the agent missed heartbeats for the expiry time; it must register again. */
  alive: z.boolean(),
});
/** An agent in a server's registry. */
export type AgentView = z.infer<typeof AgentViewSchema>;

/** A cluster as one server sees it. */
export const ClusterViewSchema = z.strictObject({
  id: IdSchema,
  config: ClusterConfigInfoSchema.nullable(),
  devices: z.array(DeviceStateSchema),
  deviceCount: z.number().int().nonnegative(),
  availableCount: z.number().int().nonnegative(),
  /** The last stored change this server holds. */
  seq: z.number().int().nonnegative(),
  /** Agents of this cluster registered with this server (this server's pairs). */
  agents: z.array(AgentViewSchema),
  taskCount: z.number().int().nonnegative(),
  /** Volumes of the cluster's volume table, as its agents last transmitted them. */
  volumes: z.array(VolumeViewSchema).default([]),
  /** Controllers and driver clients in the cluster's metadata region, as its agents last transmitted them. */
  controllers: z.array(ControllerViewSchema).default([]),
});
/** A cluster view. */
export type ClusterView = z.infer<typeof ClusterViewSchema>;

/** A configured server and whether this server can reach it. */
export const ServerViewSchema = z.strictObject({
  id: IdSchema,
  self: z.boolean(),
  /** The cluster (host) the server runs on, as configured. */
  cluster: z.string().nullable(),
  url: z.string().nullable(),
  reachable: z.boolean().nullable(),
  checkedAt: z.string().nullable(),
});
/** A server view. */
export type ServerView = z.infer<typeof ServerViewSchema>;

/** One live event (SSE `event:` is `type`, `id:` is `id`, `data:` is the JSON of this object). */
export const ServerEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('device.changed'), cluster: IdSchema, device: DeviceStateSchema }),
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('cluster.config'), cluster: IdSchema, config: ClusterConfigInfoSchema }),
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('task.changed'), cluster: IdSchema, task: TaskRecordSchema }),
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('cluster.volumes'), cluster: IdSchema, volumes: z.array(VolumeViewSchema) }),
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('cluster.controllers'), cluster: IdSchema, controllers: z.array(ControllerViewSchema) }),
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('agent.registered'), cluster: IdSchema, agent: AgentViewSchema }),
  z.strictObject({ id: z.number().int(), at: z.string(), type: z.literal('agent.expired'), cluster: IdSchema, agent: AgentViewSchema }),
]);
/** A live event. */
export type ServerEvent = z.infer<typeof ServerEventSchema>;

/** Distributes `Omit` over a union, so each event kind keeps its own fields. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A live event before the server numbers it. */
export type ServerEventInput = DistributiveOmit<ServerEvent, 'id' | 'at'>;

/** Answer of `GET /api/v1/tasks`. */
export const TaskListSchema = z.strictObject({ tasks: z.array(TaskRecordSchema) });
