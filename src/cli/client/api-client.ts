/**
 * The operator CLI's client of the servers' HTTP API. It is given one or more server URLs and uses the
 * first that answers; when that server stops answering (connection refused, reset, 5xx from a dying
 * process), it logs in to the next one and repeats the request. Servers it learns of from
 * `GET /api/v1/servers` join the list, so one URL is enough while that server is up. Error bodies become
 * blockrig errors with the server's code and details, so exit statuses follow the one error table.
 */
import type { z } from 'zod';
import { BlockrigError, DisconnectedError, ERROR_TABLE, ErrorCode, InvalidArgumentError } from '../../errors.js';
import { ApiErrorBodySchema, ServerViewSchema, SessionSchema } from '../../wire/index.js';

/** How to reach the servers and log in. The password is a secret: never printed. */
export interface ClientOptions {
  servers: string[];
  user: string;
  password: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Told when the client moves to another server (for a line on stderr). */
  onSwitch?: (from: string | null, to: string) => void;
}

const ServerListSchema = ServerViewSchema.array();

/**
 * True when another server should be tried: this one is gone, or it has no live agent for the cluster
 * (its pair is down while the other pair may be up).
 */
function unreachable(err: unknown): boolean {
  return err instanceof DisconnectedError || (err instanceof BlockrigError && err.code === ErrorCode.AgentUnavailable);
}

/** A logged-in client that fails over between servers. */
export class ApiClient {
  readonly #o: ClientOptions;
  readonly #urls: string[];
  #current: string | null = null;
  #token: string | null = null;

  constructor(options: ClientOptions) {
    if (options.servers.length === 0) {
      throw new InvalidArgumentError('--server: give at least one server URL (or set BLOCKRIG_SERVER), e.g. --server http://127.0.0.1:8080', { details: { field: 'server' } });
    }
    this.#o = options;
    this.#urls = [...new Set(options.servers.map((u) => u.replace(/\/$/, '')))];
  }

  /** The server in use, once connected. */
  get server(): string | null {
    return this.#current;
  }

  /** The bearer token of the current session (for the event stream). */
  get token(): string | null {
    return this.#token;
  }

  async #raw(url: string, path: string, init: RequestInit, token: string | null): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        ...init,
        headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 15_000),
      });
    } catch (err) {
      throw new DisconnectedError(`server ${url} does not answer: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err, details: { server: url } });
    }
    const body: unknown = await res.json().catch(() => null);
    if (res.ok) return body;
    const parsed = ApiErrorBodySchema.safeParse(body);
    if (!parsed.success) throw new DisconnectedError(`server ${url} answered HTTP ${res.status} without an error body`, { details: { server: url, status: res.status } });
    const { code, message, details } = parsed.data.error;
    const known = (Object.keys(ERROR_TABLE) as ErrorCode[]).find((k) => k === code) ?? ErrorCode.Internal;
    throw new BlockrigError(known, message, { details: { ...details, server: url } });
  }

  async #login(url: string): Promise<void> {
    const session = SessionSchema.parse(await this.#raw(url, '/api/v1/login', { method: 'POST', body: JSON.stringify({ user: this.#o.user, password: this.#o.password }) }, null));
    const previous = this.#current;
    this.#current = url;
    this.#token = session.token;
    if (previous !== url) this.#o.onSwitch?.(previous, url);
    try {
      const servers = ServerListSchema.parse((await this.#raw(url, '/api/v1/servers', { method: 'GET' }, session.token) as { servers: unknown }).servers);
      for (const s of servers) if (s.url !== null && !this.#urls.includes(s.url)) this.#urls.push(s.url);
    } catch (err) {
      if (!(err instanceof BlockrigError)) throw err;
    }
  }

  /**
   * Connects (logs in) to the first server that answers. With `skipCurrent` (the current one failed) the
   * others are tried first and the current one last, since a blip is not a death.
   */
  async connect(skipCurrent = false): Promise<string> {
    const start = this.#current === null ? 0 : this.#urls.indexOf(this.#current) + (skipCurrent ? 1 : 0);
    const order = [...this.#urls.slice(start), ...this.#urls.slice(0, start)];
    const failures: string[] = [];
    for (const url of order) {
      try {
        await this.#login(url);
        return url;
      } catch (err) {
        if (!unreachable(err)) throw err;
        failures.push((err as Error).message);
      }
    }
    this.#current = null;
    this.#token = null;
    throw new DisconnectedError(`no server answers: ${failures.join('; ')}`, { details: { servers: this.#urls } });
  }

  /** Sends a request, failing over to another server when the current one is gone. */
  async request<S extends z.ZodType>(schema: S, path: string, init: RequestInit = { method: 'GET' }): Promise<z.infer<S>> {
    if (this.#current === null) await this.connect();
    for (let attempt = 0; ; attempt++) {
      try {
        return schema.parse(await this.#raw(this.#current ?? '', path, init, this.#token));
      } catch (err) {
        if (!unreachable(err) || attempt >= this.#urls.length) throw err;
        await this.connect(true);
      }
    }
  }

  /** GET with failover. */
  get<S extends z.ZodType>(schema: S, path: string): Promise<z.infer<S>> {
    return this.request(schema, path);
  }

  /** POST a JSON body with failover. */
  post<S extends z.ZodType>(schema: S, path: string, body: unknown): Promise<z.infer<S>> {
    return this.request(schema, path, { method: 'POST', body: JSON.stringify(body) });
  }
}
