/**
 * The user side of the server's API: login, clusters with devices and pairs, agents, servers, tasks
 * (issue, list, show, cancel, pause, resume). Everything except `/health` and `/login` needs a session.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentUnavailableError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { LoginSchema, parseAt, TaskControlSchema, TaskIssueSchema, TaskStateSchema, VOLUME_TASK_KINDS, type ClusterView, type TaskRecord } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { bearerToken, errorFromCode, SESSION_COOKIE } from './http-support.js';

/** Registers the user routes. `selfUrl` gives the server's own address once bound. */
export function registerUserRoutes(app: FastifyInstance, ctx: ServerContext, selfUrl: () => string | null): void {
  const user = (request: FastifyRequest): string => ctx.sessions.check(bearerToken(request)).user;

  app.get('/api/v1/health', () => ({ ok: true, serverId: ctx.serverId }));

  app.post('/api/v1/login', (request, reply) => {
    const login = parseAt(LoginSchema, request.body, 'login');
    const { token, expiresAtWall } = ctx.sessions.login(login.user, login.password);
    void reply.header('set-cookie', `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
    return { token, user: login.user, expiresAt: new Date(expiresAtWall).toISOString() };
  });

  app.post('/api/v1/logout', (request) => {
    user(request);
    ctx.sessions.logout(bearerToken(request) ?? '');
    return { ok: true };
  });

  app.get('/api/v1/whoami', (request) => ({ user: user(request), serverId: ctx.serverId }));

  app.get('/api/v1/servers', (request) => {
    user(request);
    return { servers: ctx.peers.list(selfUrl()) };
  });

  app.get('/api/v1/agents', (request) => {
    user(request);
    return { agents: ctx.registry.list() };
  });

  const clusterView = (id: string): ClusterView => {
    const c = ctx.views.cluster(id);
    if (!c) throw new NotFoundError(`no cluster "${id}"; known: ${ctx.views.ids().join(', ')}`, { details: { field: 'cluster', cluster: id } });
    const devices = [...c.devices.values()].sort((a, b) => a.name.localeCompare(b.name));
    return {
      id,
      config: c.config,
      devices,
      deviceCount: c.config?.deviceCount ?? devices.length,
      availableCount: devices.filter((d) => d.available).length,
      seq: c.seq,
      agents: ctx.registry.list().filter((a) => a.clusterId === id),
      taskCount: c.tasks.size,
      volumes: c.volumes,
      controllers: c.controllers,
    };
  };

  app.get('/api/v1/clusters', (request) => {
    user(request);
    return { clusters: ctx.views.ids().map(clusterView) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/clusters/:id', (request) => {
    user(request);
    return clusterView(request.params.id);
  });

  app.get<{ Querystring: Record<string, string> }>('/api/v1/tasks', (request) => {
    user(request);
    const { cluster, state } = request.query;
    if (state !== undefined) parseAt(TaskStateSchema, state, 'state');
    return { tasks: ctx.views.tasks().filter((t) => (cluster === undefined || t.cluster === cluster) && (state === undefined || t.state === state)) };
  });

  const findTask = (id: string): TaskRecord => {
    const task = ctx.views.task(id);
    if (!task) throw new NotFoundError(`no task "${id}" known to server ${ctx.serverId}`, { details: { field: 'id', task: id } });
    return task;
  };

  app.get<{ Params: { id: string } }>('/api/v1/tasks/:id', (request) => {
    user(request);
    return findTask(request.params.id);
  });

  app.post('/api/v1/tasks', async (request, reply) => {
    user(request);
    const issue = parseAt(TaskIssueSchema, request.body, 'task');
    if (!ctx.clusterIds.includes(issue.cluster)) {
      throw new InvalidArgumentError(`task: field "cluster": no cluster "${issue.cluster}" in this rig (known: ${ctx.clusterIds.join(', ')})`, { details: { field: 'cluster' } });
    }
    // A volume kind names a volume of the cluster's table; refuse a name the cluster's agents never reported.
    const volumes = ctx.views.cluster(issue.cluster)?.volumes ?? [];
    if (VOLUME_TASK_KINDS.includes(issue.kind) && volumes.length > 0 && !volumes.some((v) => v.name === issue.args.volume)) {
      throw new InvalidArgumentError(`task: field "args.volume": cluster ${issue.cluster} has no volume "${String(issue.args.volume)}" (known: ${volumes.map((v) => v.name).join(', ')})`, { details: { field: 'args.volume' } });
    }
    const agent = ctx.registry.liveAgentOf(issue.cluster);
    if (!agent) {
      throw new AgentUnavailableError(`no live agent of cluster ${issue.cluster} is registered with server ${ctx.serverId}: issue the task through the other server, or start the cluster's agents`, {
        details: { cluster: issue.cluster, server: ctx.serverId },
      });
    }
    const taskId =
      issue.requestId === undefined
        ? `t-${randomUUID()}`
        : `t-${createHash('sha256').update(`${issue.cluster}\n${issue.requestId}`).digest('hex').slice(0, 32)}`;
    const result = await ctx.registry.send(agent.agentId, { type: 'task.issue', taskId, issue }, ctx.dispatchTimeoutMs);
    if (!result.ok || !result.task) throw errorFromCode(result.error?.code ?? 'BLOCKRIG_E_INTERNAL', result.error?.message ?? 'the agent refused the task');
    ctx.views.noteTask(result.task);
    return reply.code(result.created === false ? 200 : 201).send(result.task);
  });

  app.post<{ Params: { id: string; action: string } }>('/api/v1/tasks/:id/:action', async (request, reply) => {
    user(request);
    const control = parseAt(TaskControlSchema, request.params.action, 'action');
    const task = findTask(request.params.id);
    const agent = ctx.registry.liveAgentOf(task.cluster);
    if (!agent) throw new AgentUnavailableError(`no live agent of cluster ${task.cluster} is registered with server ${ctx.serverId}`, { details: { cluster: task.cluster } });
    const result = await ctx.registry.send(agent.agentId, { type: 'task.control', taskId: task.id, control }, ctx.dispatchTimeoutMs);
    if (!result.ok || !result.task) throw errorFromCode(result.error?.code ?? 'BLOCKRIG_E_INTERNAL', result.error?.message ?? 'the agent refused the request');
    ctx.views.noteTask(result.task);
    return reply.code(202).send(result.task);
  });

  app.get<{ Querystring: Record<string, string> }>('/api/v1/events', (request, reply) => {
    user(request);
    const lastId = Number(request.headers['last-event-id'] ?? request.query.since ?? '0');
    const since = Number.isFinite(lastId) ? lastId : 0;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    raw.write(': blockrig events\n\n');
    const send = (e: { id: number; type: string }): void => {
      raw.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    // A client the journal cannot answer is told to refetch; `id:` moves its Last-Event-ID past the gap.
    const replay = ctx.events.replay(since);
    if (replay.reset !== null) raw.write(`id: ${replay.reset.lastId}\nevent: reset\ndata: ${JSON.stringify({ type: 'reset', ...replay.reset })}\n\n`);
    for (const e of replay.events) send(e);
    const unsubscribe = ctx.events.subscribe(send);
    const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
    request.raw.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  });
}
