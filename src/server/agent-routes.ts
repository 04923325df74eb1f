/**
 * The agent side of the server's API (`/api/v1/agent/...`): challenge, signed registration, heartbeat,
 * state reports and the long-poll command channel. Every body is checked with the wire schemas.
 */
import type { FastifyInstance } from 'fastify';
import { ConflictError, PermissionError } from '../errors.js';
import { parseAt, AgentRegistrationSchema, CommandResultSchema, PollRequestSchema, StateReportSchema } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { bearerToken } from './http-support.js';

/** Registers the agent routes. */
export function registerAgentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/api/v1/agent/challenge', () => ctx.agentAuth.challenge());

  app.post('/api/v1/agent/register', (request) => {
    const registration = parseAt(AgentRegistrationSchema, request.body, 'registration');
    ctx.agentAuth.verify(registration);
    if (registration.serverId !== ctx.serverId) {
      throw new ConflictError(`this is server ${ctx.serverId}; the agent is configured for server ${registration.serverId}`, { details: { field: 'serverId' } });
    }
    if (!ctx.clusterIds.includes(registration.clusterId)) {
      throw new PermissionError(`cluster "${registration.clusterId}" is not in this rig's configuration`, { details: { field: 'clusterId' } });
    }
    const token = ctx.registry.register(registration);
    return { token, heartbeatMs: ctx.timing.heartbeatMs, expiryMs: ctx.timing.agentExpiryMs };
  });

  app.post('/api/v1/agent/heartbeat', (request) => {
    const agent = ctx.registry.authenticate(bearerToken(request));
    ctx.registry.heartbeat(agent.agentId);
    return { ok: true };
  });

  app.post('/api/v1/agent/report', (request) => {
    const agent = ctx.registry.authenticate(bearerToken(request));
    const report = parseAt(StateReportSchema, request.body, 'report');
    ctx.registry.heartbeat(agent.agentId);
    if (report.snapshot) {
      if (report.snapshot.config.clusterId !== agent.clusterId) {
        throw new ConflictError(`the snapshot is of cluster ${report.snapshot.config.clusterId}, the agent is of ${agent.clusterId}`, { details: { field: 'snapshot.config.clusterId' } });
      }
      ctx.views.applySnapshot(agent.clusterId, report.snapshot);
    }
    const seq = ctx.views.applyChanges(agent.clusterId, report.changes);
    return { seq };
  });

  app.post('/api/v1/agent/poll', async (request) => {
    const agent = ctx.registry.authenticate(bearerToken(request));
    const { waitMs } = parseAt(PollRequestSchema, request.body ?? {}, 'poll');
    const commands = await ctx.registry.poll(agent.agentId, waitMs);
    return { commands };
  });

  app.post<{ Params: { id: string } }>('/api/v1/agent/commands/:id/result', (request) => {
    const agent = ctx.registry.authenticate(bearerToken(request));
    const result = parseAt(CommandResultSchema, request.body, 'command result');
    if (result.task) ctx.views.noteTask(result.task);
    return { delivered: ctx.registry.answer(agent.agentId, request.params.id, result) };
  });
}
