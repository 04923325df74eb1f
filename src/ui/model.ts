/**
 * The dashboard's state and how it changes: a snapshot loaded over the API after login, then every live
 * event applied in order. Pure functions with no DOM, so the rules (a newer task record replaces an older
 * one, the event log keeps the last entries, an expired agent stays listed as dead) are unit-tested.
 */
import type { AgentView, ClusterView, ServerEvent, ServerView, TaskRecord, VolumeView } from '../wire/index.js';

/** How the page's link to its server stands. */
export type ConnectionState = 'connecting' | 'live' | 'lost';

/** One line of the event log. */
export interface LogEntry {
  id: number;
  at: string;
  /** The event type (`task.changed`) or a local kind (`connection`). */
  type: string;
  cluster: string | null;
  text: string;
}

/** Everything the dashboard shows. */
export interface DashboardState {
  user: string;
  serverId: string;
  servers: ServerView[];
  clusters: Record<string, ClusterView>;
  tasks: Record<string, TaskRecord>;
  agents: Record<string, AgentView>;
  log: LogEntry[];
  connection: ConnectionState;
  /** The last live event id applied (for `Last-Event-ID`). */
  lastEventId: number;
}

/** How many event-log lines the page keeps. */
export const LOG_LIMIT = 200;

/** What `loadSnapshot` fetched. */
export interface Snapshot {
  user: string;
  serverId: string;
  servers: ServerView[];
  clusters: ClusterView[];
  tasks: TaskRecord[];
  agents: AgentView[];
}

/** The state right after a snapshot load; keeps the log of an earlier state, if any. */
export function stateFromSnapshot(snapshot: Snapshot, previous?: DashboardState): DashboardState {
  return {
    user: snapshot.user,
    serverId: snapshot.serverId,
    servers: snapshot.servers,
    clusters: Object.fromEntries(snapshot.clusters.map((c) => [c.id, c])),
    tasks: Object.fromEntries(snapshot.tasks.map((t) => [t.id, t])),
    agents: Object.fromEntries(snapshot.agents.map((a) => [a.agentId, a])),
    log: previous?.log ?? [],
    connection: previous?.connection ?? 'connecting',
    lastEventId: previous?.lastEventId ?? 0,
  };
}

/** True when `next` is at least as new as `current` (records carry ISO `updatedAt`). */
function newer(current: TaskRecord | undefined, next: TaskRecord): boolean {
  return current === undefined || next.updatedAt >= current.updatedAt;
}

/** One log line describing an event. */
export function describeEvent(event: ServerEvent): string {
  switch (event.type) {
    case 'device.changed':
      return `device ${event.device.name} ${event.device.available ? 'available' : 'UNAVAILABLE'}: ${event.device.reason}`;
    case 'cluster.config':
      return `configuration: ${event.config.deviceCount} devices`;
    case 'cluster.volumes':
      return `volumes: ${event.volumes.map((v) => `${v.name} ${v.state}`).join(', ') || 'none'}`;
    case 'cluster.controllers':
      return `controllers: ${event.controllers.filter((c) => c.role === 'controller' && c.live).length} live of ${event.controllers.filter((c) => c.role === 'controller').length}`;
    case 'task.changed':
      return `task ${event.task.id} (${event.task.kind}) ${event.task.state}${event.task.control === null ? '' : ` (${event.task.control} requested)`}`;
    case 'agent.registered':
      return `agent ${event.agent.agentId} registered (pid ${event.agent.pid})`;
    case 'agent.expired':
      return `agent ${event.agent.agentId} expired: no heartbeat`;
  }
}

/** Appends a log line, keeping the last {@link LOG_LIMIT}. */
export function appendLog(log: readonly LogEntry[], entry: LogEntry): LogEntry[] {
  const next = [...log, entry];
  return next.length > LOG_LIMIT ? next.slice(next.length - LOG_LIMIT) : next;
}

/** Applies one live event; events already applied (id not above `lastEventId`) change nothing. */
export function applyEvent(state: DashboardState, event: ServerEvent): DashboardState {
  if (event.id <= state.lastEventId) return state;
  const text = describeEvent(event);
  // Progress of a running task and controller heartbeats arrive as events too; their line in words often
  // stays the same, and repeating it would push the news out of the log.
  const previous = state.log.findLast((e) => e.type === event.type && e.cluster === event.cluster);
  const next: DashboardState = {
    ...state,
    lastEventId: event.id,
    log: previous?.text === text ? state.log : appendLog(state.log, { id: event.id, at: event.at, type: event.type, cluster: event.cluster, text }),
  };
  const cluster = state.clusters[event.cluster];
  switch (event.type) {
    case 'device.changed': {
      if (cluster) {
        const devices = [...cluster.devices.filter((d) => d.name !== event.device.name), event.device].sort((a, b) => a.name.localeCompare(b.name));
        next.clusters = { ...state.clusters, [event.cluster]: { ...cluster, devices, availableCount: devices.filter((d) => d.available).length } };
      }
      break;
    }
    case 'cluster.config':
      if (cluster) next.clusters = { ...state.clusters, [event.cluster]: { ...cluster, config: event.config, deviceCount: event.config.deviceCount } };
      break;
    case 'cluster.volumes':
      if (cluster) next.clusters = { ...state.clusters, [event.cluster]: { ...cluster, volumes: event.volumes } };
      break;
    case 'cluster.controllers':
      if (cluster) next.clusters = { ...state.clusters, [event.cluster]: { ...cluster, controllers: event.controllers } };
      break;
    case 'task.changed':
      if (newer(state.tasks[event.task.id], event.task)) next.tasks = { ...state.tasks, [event.task.id]: event.task };
      break;
    case 'agent.registered':
    case 'agent.expired':
      next.agents = { ...state.agents, [event.agent.agentId]: event.agent };
      break;
  }
  return next;
}

/** Notes a volume the page got as an answer (fail, replace) until the cluster's stored list arrives. */
export function noteVolume(state: DashboardState, clusterId: string, volume: VolumeView): DashboardState {
  const cluster = state.clusters[clusterId];
  if (!cluster) return state;
  const volumes = [...cluster.volumes.filter((v) => v.name !== volume.name), volume].sort((a, b) => a.name.localeCompare(b.name));
  return { ...state, clusters: { ...state.clusters, [clusterId]: { ...cluster, volumes } } };
}

/** Notes a task record the page got as an answer (issue, pause...), unless a newer one is already known. */
export function noteTask(state: DashboardState, task: TaskRecord): DashboardState {
  return newer(state.tasks[task.id], task) ? { ...state, tasks: { ...state.tasks, [task.id]: task } } : state;
}

/** Records a change of the connection, with a log line when it is news. */
export function setConnection(state: DashboardState, connection: ConnectionState, text: string, at: string): DashboardState {
  if (state.connection === connection) return state;
  return { ...state, connection, log: appendLog(state.log, { id: 0, at, type: 'connection', cluster: null, text }) };
}

/** Tasks newest first. */
export function sortedTasks(state: DashboardState): TaskRecord[] {
  return Object.values(state.tasks).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
}

/** Agents of a cluster as this server knows them, by id. */
export function agentsOf(state: DashboardState, clusterId: string): AgentView[] {
  return Object.values(state.agents)
    .filter((a) => a.clusterId === clusterId)
    .sort((a, b) => a.agentId.localeCompare(b.agentId));
}

/** The other configured servers, with a URL, that the page could move to. */
export function otherServers(state: DashboardState): ServerView[] {
  return state.servers.filter((s) => !s.self && s.url !== null);
}
