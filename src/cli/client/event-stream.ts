/**
 * Reads a server's live events (`GET /api/v1/events`, server-sent events) in Node: parses the
 * `id:`/`event:`/`data:` frames, validates each with the shared schema, resumes with `Last-Event-ID`, and
 * on a broken stream reconnects through the client, which fails over to another server.
 */
import { DisconnectedError } from '../../errors.js';
import { ServerEventSchema, type ServerEvent } from '../../wire/index.js';
import type { ApiClient } from './api-client.js';

/** Splits an SSE byte stream into frames; returns each complete frame's `data` lines joined. */
export class SseParser {
  #buffer = '';

  /** Feeds text; returns the frames completed by it (each `{ id, event, data }`). */
  push(text: string): { id: string | null; event: string | null; data: string }[] {
    this.#buffer += text.replace(/\r\n?/g, '\n');
    const frames: { id: string | null; event: string | null; data: string }[] = [];
    for (let end = this.#buffer.indexOf('\n\n'); end >= 0; end = this.#buffer.indexOf('\n\n')) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let id: string | null = null;
      let event: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const at = line.indexOf(':');
        const field = at < 0 ? line : line.slice(0, at);
        const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) frames.push({ id, event, data: data.join('\n') });
    }
    return frames;
  }
}

/**
 * Calls `onEvent` for each live event until `signal` aborts or `onEvent` returns true. Events a server
 * replays are passed on too (callers use ids or record times to ignore what they saw). After a failover
 * the event ids of the new server start over, so the stream starts from that server's buffer.
 */
export async function followEvents(
  client: ApiClient,
  onEvent: (e: ServerEvent) => boolean | void,
  signal: AbortSignal,
  onReconnect?: () => Promise<void>,
  giveUpAfterMs = 30_000,
): Promise<void> {
  let lastId = 0;
  let server: string | null = null;
  let failingSince: number | null = null;
  let lastError = '';
  // After a broken stream: the next server that answers (the failed one last), retried until `giveUpAfterMs`.
  const reconnect = async (): Promise<void> => {
    failingSince ??= Date.now();
    for (;;) {
      try {
        await client.connect(true);
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (Date.now() - failingSince > giveUpAfterMs) throw new DisconnectedError(`${(err as Error).message} (last stream error: ${lastError})`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  while (!signal.aborted) {
    if (client.server === null || client.token === null) await client.connect();
    if (server !== null && server !== client.server) lastId = 0;
    server = client.server;
    let res: Response;
    try {
      res = await fetch(`${server ?? ''}/api/v1/events`, { headers: { authorization: `Bearer ${client.token ?? ''}`, 'last-event-id': String(lastId) }, signal });
      if (!res.ok || res.body === null) throw new DisconnectedError(`server ${server ?? '-'} refused the event stream (HTTP ${res.status})`);
    } catch (err) {
      if (signal.aborted) return;
      lastError = err instanceof Error ? err.message : String(err);
      await reconnect();
      continue;
    }
    failingSince = null;
    if (onReconnect) await onReconnect();
    lastError = `the event stream of ${server ?? '-'} ended`;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const frame of parser.push(decoder.decode(chunk, { stream: true }))) {
          const parsed = ServerEventSchema.safeParse(JSON.parse(frame.data));
          if (!parsed.success) continue;
          lastId = parsed.data.id;
          if (onEvent(parsed.data) === true) return;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (signal.aborted) return;
    // The stream ended: the server went away. Move on to the next one that answers.
    await reconnect();
  }
}
