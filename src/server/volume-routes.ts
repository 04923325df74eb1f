/**
 * The user routes of volumes: list them (`GET /api/v1/volumes`, also in each cluster's view) and the
 * operator's destructive actions, fail and replace a member, which need a session and are forwarded to a
 * live agent of the volume's cluster as a `volume.action` command; the agent performs them with the
 * volume library and answers with the volume as stored.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentUnavailableError, BlockrigError, InvalidArgumentError } from '../errors.js';
import { parseAt, VolumeFailSchema, VolumeReplaceSchema, type VolumeAction, type VolumeView } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { bearerToken, errorFromCode } from './http-support.js';

/** Registers the volume routes. */
export function registerVolumeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const user = (request: FastifyRequest): string => ctx.sessions.check(bearerToken(request)).user;

  app.get<{ Querystring: Record<string, string> }>('/api/v1/volumes', (request) => {
    user(request);
    const only = request.query.cluster;
    const volumes = ctx.views.ids().flatMap((id) => (only === undefined || only === id ? (ctx.views.cluster(id)?.volumes ?? []).map((v) => ({ cluster: id, ...v })) : []));
    return { volumes };
  });

  const perform = async (action: VolumeAction): Promise<VolumeView> => {
    if (!ctx.clusterIds.includes(action.cluster)) {
      throw new InvalidArgumentError(`no cluster "${action.cluster}" in this rig (known: ${ctx.clusterIds.join(', ')})`, { details: { field: 'cluster' } });
    }
    const agent = ctx.registry.liveAgentOf(action.cluster);
    if (!agent) throw new AgentUnavailableError(`no live agent of cluster ${action.cluster} is registered with server ${ctx.serverId}: use the other server`, { details: { cluster: action.cluster } });
    const result = await ctx.registry.send(agent.agentId, { type: 'volume.action', action }, ctx.dispatchTimeoutMs);
    if (!result.ok || !result.volume) {
      const err = errorFromCode(result.error?.code ?? 'BLOCKRIG_E_INTERNAL', result.error?.message ?? 'the agent refused the action');
      throw result.error?.field === undefined ? err : new BlockrigError(err.code, err.message, { details: { field: result.error.field } });
    }
    ctx.views.noteVolume(action.cluster, result.volume);
    return result.volume;
  };

  app.post<{ Params: { id: string; name: string } }>('/api/v1/clusters/:id/volumes/:name/fail', async (request) => {
    user(request);
    const body = parseAt(VolumeFailSchema, request.body, 'fail');
    return perform({ action: 'fail', cluster: request.params.id, volume: request.params.name, member: body.member });
  });

  app.post<{ Params: { id: string; name: string } }>('/api/v1/clusters/:id/volumes/:name/replace', async (request) => {
    user(request);
    const body = parseAt(VolumeReplaceSchema, request.body, 'replace');
    return perform({ action: 'replace', cluster: request.params.id, volume: request.params.name, member: body.member, with: body.with });
  });
}
