/**
 * An agent's HTTP link to its one server: challenge and signed registration (claim 000/13: registering
 * notifies the server that this agent exists to perform its tasks), heartbeats, reports and the long-poll
 * command channel. The server's address is looked up again before every registration, so a restarted
 * server on a new port (its `addressFile`) is found.
 */
import { createHmac } from 'node:crypto';
import { AgentUnavailableError, UnauthorizedError } from '../errors.js';
import { serverUrl } from '../cluster/config-file.js';
import {
  ChallengeSchema,
  PollAnswerSchema,
  RegistrationAcceptedSchema,
  ReportAcceptedSchema,
  registrationSigningText,
  type AgentCommand,
  type AgentRegistration,
  type CommandResult,
  type ServerConfig,
  type StateReport,
} from '../wire/index.js';
import { z } from 'zod';

const OkSchema = z.object({ ok: z.boolean() });
const DeliveredSchema = z.object({ delivered: z.boolean() });

/** Who the agent is, as it registers. */
export interface AgentIdentity {
  agentId: string;
  clusterId: string;
  serverId: string;
  host: string;
  pid: number;
}

/** The link to one server. Methods throw `UnauthorizedError` when the server no longer knows the token. */
export class ServerLink {
  readonly #server: ServerConfig;
  readonly #identity: AgentIdentity;
  readonly #secret: string;
  readonly #stop: AbortSignal | undefined;
  #url: string | null = null;
  #token: string | null = null;

  /** `stop` aborts every request in flight: an agent that stops does not wait for a server that hangs. */
  constructor(server: ServerConfig, identity: AgentIdentity, secret: string, stop?: AbortSignal) {
    this.#server = server;
    this.#identity = identity;
    this.#secret = secret;
    this.#stop = stop;
  }

  /** True while holding a token from a successful registration. */
  get registered(): boolean {
    return this.#token !== null;
  }

  /** Forgets the token (the next call must register again). */
  drop(): void {
    this.#token = null;
  }

  async #call<S extends z.ZodType>(path: string, body: unknown, schema: S, timeoutMs = 10_000): Promise<z.infer<S>> {
    if (this.#url === null) throw new AgentUnavailableError(`server ${this.#server.id} has no known address yet`);
    let res: Response;
    try {
      res = await fetch(`${this.#url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.#token === null ? {} : { authorization: `Bearer ${this.#token}` }) },
        body: JSON.stringify(body ?? {}),
        signal: this.#stop === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stop]),
      });
    } catch (err) {
      throw new AgentUnavailableError(`server ${this.#server.id} at ${this.#url} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    if (res.status === 401) {
      this.#token = null;
      throw new UnauthorizedError(`server ${this.#server.id} refused the agent: ${text.slice(0, 300)}`);
    }
    if (!res.ok) throw new AgentUnavailableError(`server ${this.#server.id} answered ${res.status} to ${path}: ${text.slice(0, 300)}`);
    return schema.parse(JSON.parse(text));
  }

  /** Registers with the server: challenge, HMAC signature with the cluster secret, bearer token. */
  async register(): Promise<{ heartbeatMs: number; expiryMs: number }> {
    this.#token = null;
    this.#url = serverUrl(this.#server);
    const { nonce } = await this.#call('/api/v1/agent/challenge', {}, ChallengeSchema);
    const unsigned: Omit<AgentRegistration, 'signature'> = { ...this.#identity, nonce };
    const signature = createHmac('sha256', this.#secret).update(registrationSigningText(unsigned)).digest('hex');
    const accepted = await this.#call('/api/v1/agent/register', { ...unsigned, signature }, RegistrationAcceptedSchema);
    this.#token = accepted.token;
    return accepted;
  }

  /** Tells the server the agent is alive. */
  async heartbeat(): Promise<void> {
    await this.#call('/api/v1/agent/heartbeat', {}, OkSchema);
  }

  /** Transmits a snapshot and/or changes; resolves with the highest seq the server holds. */
  async report(report: StateReport): Promise<number> {
    return (await this.#call('/api/v1/agent/report', report, ReportAcceptedSchema, 30_000)).seq;
  }

  /** Waits up to `waitMs` for commands. */
  async poll(waitMs: number): Promise<AgentCommand[]> {
    return (await this.#call('/api/v1/agent/poll', { waitMs }, PollAnswerSchema, waitMs + 10_000)).commands;
  }

  /** Answers a command. */
  async answer(commandId: string, result: CommandResult): Promise<void> {
    await this.#call(`/api/v1/agent/commands/${encodeURIComponent(commandId)}/result`, result, DeliveredSchema);
  }
}
