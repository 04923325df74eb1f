/** What every route of one server shares: its id, configuration, registry, views, events and auth. */
import type { Clock } from '../clock.js';
import type { ServerConfig, Timing } from '../wire/index.js';
import type { AgentAuthenticator, UserSessions } from './auth.js';
import type { ClusterViews } from './cluster-views.js';
import type { EventHub } from './events.js';
import type { PeerWatch } from './peers.js';
import type { AgentRegistry } from './registry.js';

/** The state of one running server, shared by its routes. */
export interface ServerContext {
  readonly serverId: string;
  readonly servers: readonly ServerConfig[];
  readonly clusterIds: readonly string[];
  readonly timing: Timing;
  readonly clock: Clock;
  readonly registry: AgentRegistry;
  readonly views: ClusterViews;
  readonly events: EventHub;
  readonly agentAuth: AgentAuthenticator;
  readonly sessions: UserSessions;
  readonly peers: PeerWatch;
  /** How long `POST /api/v1/tasks` waits for the agent to store the task. */
  readonly dispatchTimeoutMs: number;
}
