/**
 * The page's link to its server. Live: a small badge. Lost: a banner saying the server stopped answering,
 * with each other configured server the page can reach offered as a button (and followed automatically
 * when `follow` is on and exactly one answers).
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
}

/** Where the page goes to use another server: its dashboard, saying where it came from. */
export function switchUrl(target: ServerView, fromServer: string): string {
  return `${target.url ?? ''}/?from=${encodeURIComponent(fromServer)}`;
}

/** Shows the connection state and, once lost, the way to the other server. */
export function ConnectionBanner({ serverId, connection, others, follow }: ConnectionBannerProps) {
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
      if (follow && up.length === 1 && up[0]) location.assign(switchUrl(up[0], serverId));
    };
    void probe();
    const timer = setInterval(() => void probe(), 2000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [connection, others, follow, serverId]);

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
      {others.length === 0 ? <span> No other server is configured.</span> : null}
      {others.map((s) => (
        <a key={s.id} class="button" href={switchUrl(s, serverId)} data-server={s.id}>
          Switch to server {s.id}
          {answering[s.id] === undefined ? ' (checking…)' : answering[s.id] ? ' (answering)' : ' (not answering either)'}
        </a>
      ))}
    </div>
  );
}
