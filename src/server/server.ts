/**
 * A domain server (`blockrig server --config FILE --id A`): the HTTP API and live events over its agent
 * registry and its view of every cluster. Listens on loopback unless the configuration says otherwise,
 * on port 0 by default; the bound address is written to the server's `addressFile` for agents and tests.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { renameSync, writeFileSync } from 'node:fs';
import { systemClock, type Clock } from '../clock.js';
import { serverConfig, type LoadedRig } from '../cluster/config-file.js';
import { AgentAuthenticator, UserSessions } from './auth.js';
import { registerAgentRoutes } from './agent-routes.js';
import { ClusterViews } from './cluster-views.js';
import type { ServerContext } from './context.js';
import { EventJournal } from './event-journal.js';
import { EventHub, EVENT_BUFFER } from './events.js';
import { sendError } from './http-support.js';
import { PeerWatch } from './peers.js';
import { AgentRegistry } from './registry.js';
import { registerUserRoutes } from './user-routes.js';
import { registerHandoffRoutes, SessionHandoff } from './session-handoff.js';
import { registerUiRoutes } from './ui-routes.js';
import { registerVolumeRoutes } from './volume-routes.js';

/** Options of `startServer`. */
export interface StartServerOptions {
  clock?: Clock;
  /** Overrides the configured listen host/port. */
  host?: string;
  port?: number;
  /** Receives one line per notable happening (registrations, expiries); never secrets. */
  log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  readonly url: string;
  readonly context: ServerContext;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** Starts server `serverId` of the rig. */
export async function startServer(rig: LoadedRig, serverId: string, options: StartServerOptions = {}): Promise<RunningServer> {
  const config = serverConfig(rig, serverId);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => undefined);
  const timing = rig.config.timing;
  const journal = config.dataDir === undefined ? null : new EventJournal(config.dataDir, EVENT_BUFFER);
  const events = new EventHub(clock, EVENT_BUFFER, journal);
  const registry = new AgentRegistry(clock, timing.agentExpiryMs);
  registry.onChange = (kind, agent) => {
    log(`agent ${agent.agentId} (pid ${agent.pid} on ${agent.host}) ${kind}`);
    events.publish({ type: kind === 'registered' ? 'agent.registered' : 'agent.expired', cluster: agent.clusterId, agent });
  };
  const peers = new PeerWatch(serverId, rig.config.servers, clock);
  const context: ServerContext = {
    serverId,
    servers: rig.config.servers,
    clusterIds: rig.config.clusters.map((c) => c.id),
    timing,
    clock,
    registry,
    views: new ClusterViews(events, rig.config.clusters.map((c) => c.id)),
    events,
    agentAuth: new AgentAuthenticator(rig.secret, clock),
    sessions: new UserSessions(rig.config.users, clock, timing.sessionTtlMs),
    peers,
    dispatchTimeoutMs: Math.max(5000, timing.agentExpiryMs * 2),
  };

  // No request logging: bodies and headers carry tokens and passwords.
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024, forceCloseConnections: true });
  app.setErrorHandler((err, _request, reply) => sendError(reply, err));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'BLOCKRIG_E_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`, details: { field: 'path' } } }),
  );
  let selfUrl: string | null = null;
  registerUserRoutes(app, context, () => selfUrl);
  registerHandoffRoutes(app, context, new SessionHandoff(rig.secret, clock));
  registerVolumeRoutes(app, context);
  registerAgentRoutes(app, context);
  registerUiRoutes(app, serverId);

  await app.listen({ host: options.host ?? config.listen.host, port: options.port ?? config.listen.port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('server did not bind a TCP address');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  selfUrl = `http://${host}:${address.port}`;
  if (config.addressFile !== undefined) {
    writeFileSync(`${config.addressFile}.tmp`, `${selfUrl}\n`);
    renameSync(`${config.addressFile}.tmp`, config.addressFile);
  }

  const stop = new AbortController();
  const sweep = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      await clock.sleep(Math.max(50, Math.floor(timing.heartbeatMs / 2)), stop.signal).catch(() => undefined);
      registry.sweep();
    }
  };
  void sweep();
  peers.start(Math.max(1000, timing.heartbeatMs * 2));

  return {
    url: selfUrl,
    context,
    app,
    close: async () => {
      stop.abort();
      peers.stop();
      await app.close();
      journal?.close();
    },
  };
}
