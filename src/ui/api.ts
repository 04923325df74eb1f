/**
 * The dashboard's client of its own server's API (same origin; the session is the HttpOnly cookie set at
 * login). Every answer is parsed with the shared wire schemas; an error body becomes an `ApiError` that
 * keeps the code and the field it names, so forms can show the message beside that field.
 */
import { z } from 'zod';
import {
  AgentViewSchema,
  ApiErrorBodySchema,
  ClusterViewSchema,
  ServerViewSchema,
  SessionSchema,
  TaskListSchema,
  TaskRecordSchema,
  VolumeViewSchema,
  type TaskControl,
  type TaskIssue,
  type TaskRecord,
  type VolumeView,
} from '../wire/index.js';
import type { Snapshot } from './model.js';

/** A failed API call: the server's error code and message, and the field it blames (if any). */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly field: string | null;

  constructor(code: string, message: string, status: number, field: string | null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.field = field;
  }
}

const WhoAmISchema = z.object({ user: z.string(), serverId: z.string() });

async function call<S extends z.ZodType>(schema: S, path: string, init?: RequestInit): Promise<z.infer<S>> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', ...init, headers: { ...(init?.body === undefined ? {} : { 'content-type': 'application/json' }) } });
  } catch (err) {
    throw new ApiError('BLOCKRIG_E_DISCONNECTED', `the server does not answer (${err instanceof Error ? err.message : String(err)})`, 0, null);
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const parsed = ApiErrorBodySchema.safeParse(body);
    if (!parsed.success) throw new ApiError('BLOCKRIG_E_INTERNAL', `HTTP ${res.status} without an error body`, res.status, null);
    const field = parsed.data.error.details.field;
    throw new ApiError(parsed.data.error.code, parsed.data.error.message, res.status, typeof field === 'string' ? field : null);
  }
  return schema.parse(body);
}

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });

/** Logs in; the server sets the session cookie. */
export async function login(user: string, password: string): Promise<void> {
  await call(SessionSchema, '/api/v1/login', post({ user, password }));
}

/** A ticket that logs this session's user in on another server of the rig (held in memory only). */
export async function handoffTicket(): Promise<string> {
  return (await call(z.object({ ticket: z.string(), expiresAt: z.string() }), '/api/v1/session/handoff', post({}))).ticket;
}

/** Redeems a ticket another server issued: this server opens a session (and sets its cookie). */
export async function redeemHandoff(ticket: string): Promise<void> {
  await call(SessionSchema, '/api/v1/session/redeem', post({ ticket }));
}

/** Ends the session. */
export async function logout(): Promise<void> {
  await call(z.object({ ok: z.boolean() }), '/api/v1/logout', post({}));
}

/** Who is logged in here, or an `ApiError` with status 401. */
export function whoAmI(): Promise<z.infer<typeof WhoAmISchema>> {
  return call(WhoAmISchema, '/api/v1/whoami');
}

/** Loads everything the dashboard shows. */
export async function loadSnapshot(): Promise<Snapshot> {
  const [me, servers, clusters, tasks, agents] = await Promise.all([
    whoAmI(),
    call(z.object({ servers: z.array(ServerViewSchema) }), '/api/v1/servers'),
    call(z.object({ clusters: z.array(ClusterViewSchema) }), '/api/v1/clusters'),
    call(TaskListSchema, '/api/v1/tasks'),
    call(z.object({ agents: z.array(AgentViewSchema) }), '/api/v1/agents'),
  ]);
  return { user: me.user, serverId: me.serverId, servers: servers.servers, clusters: clusters.clusters, tasks: tasks.tasks, agents: agents.agents };
}

/** Issues a task. */
export function issueTask(issue: TaskIssue): Promise<TaskRecord> {
  return call(TaskRecordSchema, '/api/v1/tasks', post(issue));
}

/** Pauses, resumes or cancels a task. */
export function controlTask(id: string, control: TaskControl): Promise<TaskRecord> {
  return call(TaskRecordSchema, `/api/v1/tasks/${encodeURIComponent(id)}/${control}`, post({}));
}

/** Marks a member of a volume failed (`action` fail) or puts a device in a failed member's slot (replace). */
export function volumeAction(cluster: string, volume: string, body: { member: number } | { member: number; with: string }): Promise<VolumeView> {
  const action = 'with' in body ? 'replace' : 'fail';
  return call(VolumeViewSchema, `/api/v1/clusters/${encodeURIComponent(cluster)}/volumes/${encodeURIComponent(volume)}/${action}`, post(body));
}

/**
 * Whether a server at another origin answers at all. A no-cors request resolves (opaquely) when
 * something answers HTTP and rejects when nothing listens, which is all the page needs to know.
 */
export async function reachable(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    await fetch(`${url}/api/v1/health`, { mode: 'no-cors', cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}
