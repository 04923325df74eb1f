/**
 * The server's API at its boundary: bad requests get 4xx JSON naming the field, unauthenticated requests
 * get 401, forged agent registrations are refused, and no secret is ever echoed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRigConfig } from '../../src/cluster/config-file.js';
import { signRegistration } from '../../src/server/auth.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { ApiErrorBodySchema, type AgentRegistration } from '../../src/wire/index.js';
import { TEST_PASSWORD, TEST_SECRET, writeRig } from '../cluster/rig.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-api-');
let server: RunningServer;
let token: string;

async function call(method: string, path: string, body?: unknown, auth: string | null = token): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(auth === null ? {} : { authorization: `Bearer ${auth}` }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

function errorOf(json: unknown): { code: string; message: string; details: Record<string, unknown> } {
  return ApiErrorBodySchema.parse(json).error;
}

async function signedRegistration(overrides: Partial<AgentRegistration> = {}, secret = TEST_SECRET): Promise<AgentRegistration> {
  const { json } = await call('POST', '/api/v1/agent/challenge', {}, null);
  const nonce = (json as { nonce: string }).nonce;
  const unsigned = { agentId: 'A@c1', clusterId: 'c1', serverId: 'A', host: 'test-host', pid: 4242, nonce, ...overrides };
  const { signature: _ignored, ...rest } = { ...unsigned, signature: '' };
  return { ...rest, signature: overrides.signature ?? signRegistration(secret, rest) };
}

beforeAll(async () => {
  const config = writeRig(dir, { servers: [{ id: 'A' }, { id: 'B' }], clusters: [{ id: 'c1', devices: [{ name: 'd0', uri: 'memory:?size=1MiB' }] }] });
  server = await startServer(loadRigConfig(config), 'A');
  const login = await call('POST', '/api/v1/login', { user: 'admin', password: TEST_PASSWORD }, null);
  expect(login.status).toBe(200);
  token = (login.json as { token: string }).token;
});

afterAll(async () => {
  await server.close();
});

describe('server API: unauthenticated requests get 401', () => {
  it.each([
    ['GET', '/api/v1/clusters'],
    ['GET', '/api/v1/agents'],
    ['GET', '/api/v1/tasks'],
    ['GET', '/api/v1/events'],
    ['POST', '/api/v1/tasks'],
  ])('%s %s without a token is 401', async (method, path) => {
    const res = await call(method, path, method === 'POST' ? { cluster: 'c1', kind: 'fill' } : undefined, null);
    expect(res.status).toBe(401);
    expect(errorOf(res.json).code).toBe('BLOCKRIG_E_UNAUTHORIZED');
  });

  it('a wrong token and a wrong password are 401, and the password is never echoed', async () => {
    expect((await call('GET', '/api/v1/clusters', undefined, 'not-a-token')).status).toBe(401);
    const bad = await call('POST', '/api/v1/login', { user: 'admin', password: 'wrong-password-1' }, null);
    expect(bad.status).toBe(401);
    expect(bad.text).not.toContain('wrong-password-1');
    const ok = await call('POST', '/api/v1/login', { user: 'admin', password: TEST_PASSWORD }, null);
    expect(ok.text).not.toContain(TEST_PASSWORD);
  });

  it('the browser session cookie from login works, and logout ends the session', async () => {
    const res = await fetch(`${server.url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: TEST_PASSWORD }) });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^blockrig_session=[^;]+; HttpOnly; SameSite=Strict/);
    const session = cookie.split(';')[0] ?? '';
    const viaCookie = await fetch(`${server.url}/api/v1/whoami`, { headers: { cookie: session } });
    expect(viaCookie.status).toBe(200);
    expect(await viaCookie.json()).toEqual({ user: 'admin', serverId: 'A' });
    const sessionToken = ((await res.json()) as { token: string }).token;
    expect((await call('POST', '/api/v1/logout', {}, sessionToken)).status).toBe(200);
    expect((await call('GET', '/api/v1/whoami', undefined, sessionToken)).status).toBe(401);
  });

  it('agent endpoints need an agent token: a user token is refused', async () => {
    const res = await call('POST', '/api/v1/agent/report', { changes: [] });
    expect(res.status).toBe(401);
  });
});

describe('server API: bad requests get 4xx JSON naming the field', () => {
  it('a task with an unknown kind names "kind"', async () => {
    const res = await call('POST', '/api/v1/tasks', { cluster: 'c1', kind: 'explode' });
    expect(res.status).toBe(400);
    const err = errorOf(res.json);
    expect(err.code).toBe('BLOCKRIG_E_INVALID_ARGUMENT');
    expect(err.details.field).toBe('kind');
    expect(err.message).toContain('kind');
  });

  it('a task for an unknown cluster names "cluster"', async () => {
    const res = await call('POST', '/api/v1/tasks', { cluster: 'nope', kind: 'fill' });
    expect(res.status).toBe(400);
    expect(errorOf(res.json).details.field).toBe('cluster');
  });

  it('an unexpected field is refused by name', async () => {
    const res = await call('POST', '/api/v1/tasks', { cluster: 'c1', kind: 'fill', colour: 'red' });
    expect(res.status).toBe(400);
    expect(errorOf(res.json).message).toContain('colour');
  });

  it('malformed JSON is a 400 with a JSON error body', async () => {
    const res = await call('POST', '/api/v1/tasks', '{"cluster":');
    expect(res.status).toBe(400);
    expect(errorOf(res.json).code).toBe('BLOCKRIG_E_INVALID_ARGUMENT');
  });

  it('a login without a password names "password"', async () => {
    const res = await call('POST', '/api/v1/login', { user: 'admin' }, null);
    expect(res.status).toBe(400);
    expect(errorOf(res.json).details.field).toBe('password');
  });

  it('a task for a cluster with no live agent is 503 BLOCKRIG_E_AGENT_UNAVAILABLE', async () => {
    const res = await call('POST', '/api/v1/tasks', { cluster: 'c1', kind: 'fill' });
    expect(res.status).toBe(503);
    expect(errorOf(res.json).code).toBe('BLOCKRIG_E_AGENT_UNAVAILABLE');
  });

  it('an unknown task and an unknown route are 404', async () => {
    expect((await call('GET', '/api/v1/tasks/t-none')).status).toBe(404);
    expect(errorOf((await call('GET', '/api/v1/nothing')).json).details.field).toBe('path');
  });

  it('an unknown task action names "action"', async () => {
    const res = await call('POST', '/api/v1/tasks/t-none/explode', {});
    expect(res.status).toBe(400);
    expect(errorOf(res.json).details.field).toBe('action');
  });
});

describe('server API: forged agent registrations are refused', () => {
  it('a registration signed with the right secret is accepted and its token works', async () => {
    const res = await call('POST', '/api/v1/agent/register', await signedRegistration(), null);
    expect(res.status).toBe(200);
    const agentToken = (res.json as { token: string }).token;
    expect((await call('POST', '/api/v1/agent/heartbeat', {}, agentToken)).status).toBe(200);
    expect(res.text).not.toContain(TEST_SECRET);
  });

  it('a registration signed with another secret is 401', async () => {
    const res = await call('POST', '/api/v1/agent/register', await signedRegistration({}, 'some-other-secret-0000'), null);
    expect(res.status).toBe(401);
    expect(errorOf(res.json).details.field).toBe('signature');
  });

  it('a replayed nonce is 401', async () => {
    const registration = await signedRegistration();
    expect((await call('POST', '/api/v1/agent/register', registration, null)).status).toBe(200);
    const replay = await call('POST', '/api/v1/agent/register', registration, null);
    expect(replay.status).toBe(401);
    expect(errorOf(replay.json).details.field).toBe('nonce');
  });

  it('a registration whose signed fields were altered is 401', async () => {
    const registration = await signedRegistration();
    const res = await call('POST', '/api/v1/agent/register', { ...registration, clusterId: 'c2' }, null);
    expect(res.status).toBe(401);
  });

  it('a registration for the other server or an unconfigured cluster is refused', async () => {
    expect((await call('POST', '/api/v1/agent/register', await signedRegistration({ serverId: 'B' }), null)).status).toBe(409);
    const res = await call('POST', '/api/v1/agent/register', await signedRegistration({ clusterId: 'c9' }), null);
    expect(res.status).toBe(403);
    expect(errorOf(res.json).details.field).toBe('clusterId');
  });

  it('a registration with a malformed signature names "signature"', async () => {
    const res = await call('POST', '/api/v1/agent/register', { ...(await signedRegistration()), signature: 'xyz' }, null);
    expect(res.status).toBe(400);
    expect(errorOf(res.json).details.field).toBe('signature');
  });
});
