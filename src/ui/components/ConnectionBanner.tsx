/**
 * The page's link to its server. Live: a small badge. Lost: a banner saying the server stopped answering,
 * with each other configured server offered as a button, and followed automatically when `follow` is on
 * and exactly one answers. Going there carries the login over: the handoff ticket (if the page holds one)
 * rides in the URL fragment, which the browser never sends to a server.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ServerView } from '../../wire/index.js';
import { reachable } from '../api.js';
import type { ConnectionState } from '../model.js';

/** Props of {@link ConnectionBanner}. */
export interface ConnectionBannerProps {
  serverId: string;
  connection: ConnectionState;
  others: ServerView[];
  follow: boolean;
  /** A handoff ticket for the other server, or null (the user logs in there). */
  ticket: string | null;
}

/** Where the page goes to use another server: its dashboard, saying where it came from, with the login's ticket. */
export function switchUrl(target: ServerView, fromServer: string, ticket: string | null): string {
  return `${target.url ?? ''}/?from=${encodeURIComponent(fromServer)}${ticket === null ? '' : `#handoff=${encodeURIComponent(ticket)}`}`;
}

/** Shows the connection state and, once lost, the way to the other server. */
export function ConnectionBanner({ serverId, connection, others, follow, ticket }: ConnectionBannerProps) {
  const [answering, setAnswering] = useState<Record<string, boolean>>({});

  useEffect(() => {
    if (connection !== 'lost') return undefined;
    let stopped = false;
    const probe = async (): Promise<void> => {
      const results = await Promise.all(others.map(async (s) => [s.id, s.url !== null && (await reachable(s.url))] as const));
      if (stopped) return;
      const next = Object.fromEntries(results);
      setAnswering(next);
      const up = others.filter((s) => next[s.id] === true);
      if (follow && up.length === 1 && up[0]) location.assign(switchUrl(up[0], serverId, ticket));
    };
    void probe();
    const timer = setInterval(() => void probe(), 2000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [connection, others, follow, serverId, ticket]);

  if (connection !== 'lost') {
    return (
      <span class={`badge ${connection}`} data-connection={connection}>
        server {serverId}: {connection === 'live' ? 'live' : 'connecting…'}
      </span>
    );
  }
  return (
    <div class="banner lost" role="alert" data-connection="lost">
      <strong>Server {serverId} is not answering.</strong> Its agents' clusters keep running; the other server's pair carries on every task.
      {follow && others.length > 0 ? <span> Switching to the first other server that answers…</span> : null}
      {others.length === 0 ? <span> No other server is configured.</span> : null}
      {others.map((s) => (
        <a key={s.id} class="button" href={switchUrl(s, serverId, ticket)} data-server={s.id}>
          Switch to server {s.id}
          {answering[s.id] === undefined ? ' (checking…)' : answering[s.id] ? ' (answering)' : ' (not answering either)'}
        </a>
      ))}
    </div>
  );
}
