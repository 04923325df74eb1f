/**
 * Live events across a server restart: a browser that lost its stream, then finds the server killed
 * (kill -9) and restarted, reconnects with `Last-Event-ID` and is replayed what it missed from the
 * server's event journal; a `Last-Event-ID` the journal cannot answer gets a `reset` event (refetch).
 * Real server processes; the journal itself is checked for bounds and restarts in-process.
 */
import { renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { SseParser } from '../../src/cli/client/event-stream.js';
import { EventJournal } from '../../src/server/event-journal.js';
import { EventHub } from '../../src/server/events.js';
import { waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startServer, writeRig, type ServerHandle } from '../cluster/rig.js';

interface Frame {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** Reads a server's event stream from `lastId` until `done` says so (or 20 s pass); returns the frames. */
async function readEvents(server: ServerHandle, lastId: number, done: (frames: Frame[]) => boolean): Promise<Frame[]> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 20_000);
  const frames: Frame[] = [];
  try {
    const res = await fetch(`${server.url}/api/v1/events`, { headers: { authorization: `Bearer ${server.token}`, 'last-event-id': String(lastId) }, signal: stop.signal });
    const parser = new SseParser();
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      for (const f of parser.push(decoder.decode(chunk, { stream: true }))) frames.push({ id: Number(f.id), event: f.event ?? '', data: JSON.parse(f.data) as Record<string, unknown> });
      if (done(frames)) break;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  return frames;
}

/** The first device.changed event with this availability (published before `before`, when given). */
const deviceEvent = (frames: Frame[], available: boolean, before = Infinity): Frame | undefined =>
  frames.find((f) => f.event === 'device.changed' && (f.data.device as { available: boolean }).available === available && Date.parse(f.data.at as string) < before);

describe('SSE replay after a server restart', () => {
  it('a client reconnecting with Last-Event-ID to a killed and restarted server gets the events it missed; an unknown id gets a reset', async () => {
    const dir = tempDir('blockrig-replay-');
    const image = join(dir, 'd0.img');
    writeFileSync(image, '');
    truncateSync(image, 1 << 20);
    const config = writeRig(dir, { servers: [{ id: 'A' }], clusters: [{ id: 'c1', devices: [{ name: 'd0', uri: image }] }] });
    let server = await startServer(config, 'A');
    await clusterUp(config, 'c1', 1);
    // The client follows the stream until it has seen the device available, then loses its connection.
    const before = await readEvents(server, 0, (f) => deviceEvent(f, true) !== undefined);
    const seen = Math.max(...before.map((f) => f.id));
    // While it is away, the device goes; the server publishes that, then dies and is started again.
    renameSync(image, `${image}.away`);
    await waitFor(async () => (await server.cluster('c1')).devices[0]?.available === false, 15_000, 'the server to see the device go');
    server.process.child.kill('SIGKILL');
    await server.process.exited;
    const restartedAt = Date.now();
    server = await startServer(config, 'A');
    // What it missed was published by the server's previous life: only its journal can replay it.
    const replayed = await readEvents(server, seen, (f) => deviceEvent(f, false, restartedAt) !== undefined);
    const missed = deviceEvent(replayed, false, restartedAt);
    expect(missed, JSON.stringify(replayed.map((f) => [f.id, f.event]))).toBeDefined();
    expect(replayed[0]?.id).toBe(seen + 1);
    expect(replayed.every((f, i) => i === 0 || f.id > (replayed[i - 1]?.id ?? 0))).toBe(true);
    expect(replayed.some((f) => f.event === 'reset')).toBe(false);

    const newest = Math.max(...replayed.map((f) => f.id));
    const reset = await readEvents(server, newest + 100_000, (f) => f.length > 0);
    expect(reset[0]?.event).toBe('reset');
    expect(reset[0]?.data).toMatchObject({ type: 'reset', reason: expect.stringMatching(/refetch/) as unknown });
    expect(reset[0]?.id).toBeGreaterThanOrEqual(newest);
    renameSync(`${image}.away`, image);
  });
});

describe('EventHub with a journal', () => {
  const event = (n: number) => ({ type: 'agent.expired' as const, cluster: 'c1', agent: { agentId: `A@c${n}`, clusterId: 'c1', serverId: 'A', host: 'h', pid: n, registeredAt: 'x', lastHeartbeatAt: 'x', alive: false } });

  it('keeps the newest events across a restart, continues the numbering, and resets clients it cannot answer', () => {
    const dir = tempDir('blockrig-journal-');
    const clock = new ManualClock();
    const first = new EventJournal(dir, 150);
    const hub = new EventHub(clock, 150, first);
    for (let i = 1; i <= 400; i++) hub.publish(event(i));
    first.close();
    const again = new EventJournal(dir, 150);
    const restarted = new EventHub(clock, 150, again);
    expect(restarted.since(0).map((e) => e.id)).toEqual(Array.from({ length: 150 }, (_, i) => 251 + i));
    expect(restarted.replay(390)).toMatchObject({ reset: null, events: [{ id: 391 }, { id: 392 }, { id: 393 }, { id: 394 }, { id: 395 }, { id: 396 }, { id: 397 }, { id: 398 }, { id: 399 }, { id: 400 }] });
    expect(restarted.replay(400)).toEqual({ reset: null, events: [] });
    expect(restarted.replay(100).reset).toMatchObject({ lastId: 400, oldestId: 251 });
    expect(restarted.replay(401).reset).toMatchObject({ lastId: 400 });
    expect(restarted.publish(event(401)).id).toBe(401);
    again.close();
  });
});
