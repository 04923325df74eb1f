/**
 * The server's registry of agents registered with it (claim 000/13: each server process has a list of the
 * agent processes registered with it). Registration makes an agent/server pair; heartbeats keep it; an
 * agent silent for `expiryMs` on the server's monotonic clock is expired and must register again. Each
 * agent has a command queue that its long poll drains, and commands wait here for the agent's answer.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { TimeoutError, UnauthorizedError } from '../errors.js';
import type { AgentCommand, AgentRegistration, AgentView, CommandResult } from '../wire/index.js';
import { newToken, tokenHash } from './auth.js';

/** Distributes `Omit` over the command union. */
type CommandInput = AgentCommand extends infer C ? (C extends AgentCommand ? Omit<C, 'id'> : never) : never;

interface RegisteredAgent {
  view: AgentView;
  tokenKey: string;
  lastBeat: number;
  queue: AgentCommand[];
  waiter: ((commands: AgentCommand[]) => void) | null;
}

/** Agents registered with this server. */
export class AgentRegistry {
  readonly #clock: Clock;
  readonly #expiryMs: number;
  readonly #byId = new Map<string, RegisteredAgent>();
  readonly #byToken = new Map<string, RegisteredAgent>();
  readonly #pending = new Map<string, { resolve: (r: CommandResult) => void; agentId: string }>();
  /** Called when an agent registers or expires. */
  onChange: (kind: 'registered' | 'expired', agent: AgentView) => void = () => undefined;

  constructor(clock: Clock, expiryMs: number) {
    this.#clock = clock;
    this.#expiryMs = expiryMs;
  }

  /** Registers (or re-registers, replacing the old token) an agent whose signature was checked. */
  register(r: AgentRegistration): string {
    const old = this.#byId.get(r.agentId);
    if (old) {
      this.#byToken.delete(old.tokenKey);
      old.waiter?.([]);
    }
    const token = newToken();
    const wall = new Date(this.#clock.wallTime()).toISOString();
    const agent: RegisteredAgent = {
      view: { agentId: r.agentId, clusterId: r.clusterId, serverId: r.serverId, host: r.host, pid: r.pid, registeredAt: wall, lastHeartbeatAt: wall, alive: true },
      tokenKey: tokenHash(token),
      lastBeat: this.#clock.now(),
      queue: old?.queue ?? [],
      waiter: null,
    };
    this.#byId.set(r.agentId, agent);
    this.#byToken.set(agent.tokenKey, agent);
    this.onChange('registered', { ...agent.view });
    return token;
  }

  /** The live agent holding `token`, or `UnauthorizedError` (unknown, replaced or expired token). */
  authenticate(token: string | undefined): AgentView {
    const agent = token === undefined ? undefined : this.#byToken.get(tokenHash(token));
    if (!agent || !agent.view.alive) throw new UnauthorizedError('agent token unknown or expired: register again');
    return agent.view;
  }

  /** Records a heartbeat. */
  heartbeat(agentId: string): void {
    const agent = this.#byId.get(agentId);
    if (!agent) return;
    agent.lastBeat = this.#clock.now();
    agent.view.lastHeartbeatAt = new Date(this.#clock.wallTime()).toISOString();
  }

  /** Expires agents silent for longer than the expiry time; returns the expired. */
  sweep(): AgentView[] {
    const now = this.#clock.now();
    const expired: AgentView[] = [];
    for (const agent of this.#byId.values()) {
      if (agent.view.alive && now - agent.lastBeat > this.#expiryMs) {
        agent.view.alive = false;
        this.#byToken.delete(agent.tokenKey);
        agent.waiter?.([]);
        agent.waiter = null;
        for (const p of this.#pending.values()) if (p.agentId === agent.view.agentId) p.resolve({ ok: false, error: { code: 'BLOCKRIG_E_DISCONNECTED', message: 'agent expired' } });
        expired.push({ ...agent.view });
        this.onChange('expired', { ...agent.view });
      }
    }
    return expired;
  }

  /** Every agent this server has seen, alive or expired. */
  list(): AgentView[] {
    return [...this.#byId.values()].map((a) => ({ ...a.view }));
  }

  /** A live agent of `clusterId`, preferring the one heard from most recently. */
  liveAgentOf(clusterId: string): AgentView | undefined {
    let best: RegisteredAgent | undefined;
    for (const a of this.#byId.values()) if (a.view.alive && a.view.clusterId === clusterId && (!best || a.lastBeat > best.lastBeat)) best = a;
    return best ? { ...best.view } : undefined;
  }

  /** Long poll: resolves with queued commands at once, or when one arrives, or with none after `waitMs`. */
  async poll(agentId: string, waitMs: number): Promise<AgentCommand[]> {
    const agent = this.#byId.get(agentId);
    if (!agent) return [];
    this.heartbeat(agentId);
    if (agent.queue.length > 0) return agent.queue.splice(0);
    agent.waiter?.([]);
    const ac = new AbortController();
    const commands = await new Promise<AgentCommand[]>((resolve) => {
      agent.waiter = (c) => {
        agent.waiter = null;
        ac.abort();
        resolve(c);
      };
      this.#clock.sleep(waitMs, ac.signal).then(
        () => agent.waiter?.([]),
        () => undefined,
      );
    });
    this.heartbeat(agentId);
    return commands;
  }

  /** Queues a command for an agent and waits up to `timeoutMs` for its answer. */
  async send(agentId: string, command: CommandInput, timeoutMs: number): Promise<CommandResult> {
    const agent = this.#byId.get(agentId);
    if (!agent) throw new TimeoutError(`agent ${agentId} is not registered`);
    const full = { ...command, id: randomUUID() } as AgentCommand;
    const ac = new AbortController();
    const answer = new Promise<CommandResult>((resolve) => {
      this.#pending.set(full.id, { resolve, agentId });
    });
    if (agent.waiter) agent.waiter([full]);
    else agent.queue.push(full);
    const timeout = this.#clock.sleep(timeoutMs, ac.signal).then(
      () => 'timeout' as const,
      () => 'aborted' as const,
    );
    const result = await Promise.race([answer, timeout]);
    ac.abort();
    this.#pending.delete(full.id);
    agent.queue = agent.queue.filter((c) => c.id !== full.id);
    if (result === 'timeout' || result === 'aborted') {
      throw new TimeoutError(`agent ${agentId} did not answer command ${full.type} within ${timeoutMs} ms`, { details: { agent: agentId } });
    }
    return result;
  }

  /** Delivers an agent's answer to a command; false when nobody waits for it any more. */
  answer(agentId: string, commandId: string, result: CommandResult): boolean {
    const pending = this.#pending.get(commandId);
    if (!pending || pending.agentId !== agentId) return false;
    this.#pending.delete(commandId);
    pending.resolve(result);
    return true;
  }
}
