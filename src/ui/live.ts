/**
 * Live updates: one `EventSource` on `/api/v1/events`. Each event is parsed with the shared schema and
 * handed on. When the stream breaks, the health endpoint decides between a blip (the browser reconnects
 * with `Last-Event-ID` by itself, and the page reloads its snapshot) and a dead server (the page says so
 * and offers the other server).
 */
import { ServerEventSchema, type ServerEvent } from '../wire/index.js';
import { reachable } from './api.js';

/** What the live connection reports. */
export interface LiveHandlers {
  event: (event: ServerEvent) => void;
  /** The stream is open (first time or after a reconnect; `reconnected` says which). */
  open: (reconnected: boolean) => void;
  /** The server stopped answering. */
  lost: () => void;
  /** The server answers but refused the stream for good (the session ended): reload to find out why. */
  closed: () => void;
}

/** Opens the event stream; returns a function that closes it. */
export function connectLive(handlers: LiveHandlers, checkEveryMs = 1000): () => void {
  const source = new EventSource('/api/v1/events', { withCredentials: true });
  let opened = false;
  let lost = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const onMessage = (message: MessageEvent<string>): void => {
    const parsed = ServerEventSchema.safeParse(JSON.parse(message.data));
    if (parsed.success) handlers.event(parsed.data);
  };
  for (const type of ServerEventSchema.options.map((o) => o.shape.type.value)) source.addEventListener(type, onMessage);
  source.onopen = () => {
    lost = false;
    handlers.open(opened);
    opened = true;
  };
  const check = async (): Promise<void> => {
    timer = null;
    if (source.readyState === EventSource.OPEN) return;
    if (!(await reachable(location.origin))) {
      if (!lost) handlers.lost();
      lost = true;
    } else if (source.readyState === EventSource.CLOSED) {
      handlers.closed();
      return;
    }
    if (source.readyState !== EventSource.CLOSED) timer = setTimeout(() => void check(), checkEveryMs);
  };
  source.onerror = () => {
    if (timer === null) timer = setTimeout(() => void check(), 200);
  };
  return () => {
    if (timer !== null) clearTimeout(timer);
    source.close();
  };
}
