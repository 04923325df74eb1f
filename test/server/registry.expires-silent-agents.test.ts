/**
 * The server's agent registry (seed 000 claim 13: each server keeps the list of agents registered with it):
 * heartbeats keep an agent, silence for the expiry time expires it and voids its token, commands reach a
 * polling agent and its answer reaches the sender. Time is a ManualClock.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { AgentRegistry } from '../../src/server/registry.js';
import type { AgentRegistration } from '../../src/wire/index.js';

const registration: AgentRegistration = { agentId: 'A@c1', clusterId: 'c1', serverId: 'A', host: 'h', pid: 1, nonce: 'n'.repeat(16), signature: '0'.repeat(64) };

describe('agent registry', () => {
  it('keeps an agent that heartbeats and expires one that falls silent', async () => {
    const clock = new ManualClock();
    const registry = new AgentRegistry(clock, 1000);
    const seen: string[] = [];
    registry.onChange = (kind, agent) => seen.push(`${kind} ${agent.agentId}`);
    const token = registry.register(registration);
    await clock.advance(800);
    registry.heartbeat('A@c1');
    await clock.advance(800);
    expect(registry.sweep()).toEqual([]);
    expect(registry.authenticate(token).agentId).toBe('A@c1');
    await clock.advance(1200);
    expect(registry.sweep().map((a) => a.agentId)).toEqual(['A@c1']);
    expect(() => registry.authenticate(token)).toThrow(/register again/);
    expect(registry.liveAgentOf('c1')).toBeUndefined();
    expect(seen).toEqual(['registered A@c1', 'expired A@c1']);
  });

  it('a new registration replaces the old token', () => {
    const registry = new AgentRegistry(new ManualClock(), 1000);
    const old = registry.register(registration);
    const fresh = registry.register(registration);
    expect(() => registry.authenticate(old)).toThrow();
    expect(registry.authenticate(fresh).agentId).toBe('A@c1');
  });

  it('delivers a command to a polling agent and its answer to the sender', async () => {
    const clock = new ManualClock();
    const registry = new AgentRegistry(clock, 10_000);
    registry.register(registration);
    const polled = registry.poll('A@c1', 5000);
    const sent = registry.send('A@c1', { type: 'task.control', taskId: 't1', control: 'cancel' }, 5000);
    const commands = await polled;
    expect(commands).toHaveLength(1);
    const command = commands[0];
    if (!command) throw new Error('no command');
    expect(registry.answer('A@c1', command.id, { ok: true })).toBe(true);
    await expect(sent).resolves.toEqual({ ok: true });
  });

  it('a command nobody answers times out', async () => {
    const clock = new ManualClock();
    const registry = new AgentRegistry(clock, 60_000);
    registry.register(registration);
    const sent = registry.send('A@c1', { type: 'task.control', taskId: 't1', control: 'pause' }, 2000);
    const outcome = sent.catch((err: Error) => err.message);
    await clock.advance(2500);
    await expect(outcome).resolves.toMatch(/did not answer/);
  });
});
