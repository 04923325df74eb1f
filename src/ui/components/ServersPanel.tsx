/** The configured servers as this server sees them, and each cluster's agent/server pairs with their health. */
import type { AgentView, ClusterView, ServerView } from '../../wire/index.js';
import { formatClock } from '../format.js';

/** Props of {@link ServersPanel}. */
export interface ServersPanelProps {
  servers: ServerView[];
  clusters: ClusterView[];
  agents: AgentView[];
}

/** Servers with reachability, and the pairs (agent of a cluster registered with this server). */
export function ServersPanel({ servers, clusters, agents }: ServersPanelProps) {
  return (
    <section class="panel" aria-label="servers and pairs">
      <h2>Servers and agent/server pairs</h2>
      <table>
        <thead>
          <tr>
            <th>Server</th>
            <th>Runs on</th>
            <th>URL</th>
            <th>Health</th>
          </tr>
        </thead>
        <tbody>
          {servers.map((s) => (
            <tr key={s.id} data-server={s.id}>
              <td>
                {s.id}
                {s.self ? ' (this one)' : ''}
              </td>
              <td>{s.cluster ?? '-'}</td>
              <td>{s.url ?? '-'}</td>
              <td>
                <span class={`dot ${s.reachable === true ? 'ok' : s.reachable === false ? 'bad' : 'unknown'}`} />
                {s.reachable === true ? 'reachable' : s.reachable === false ? 'unreachable' : 'not checked yet'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <table>
        <thead>
          <tr>
            <th>Pair (agent)</th>
            <th>Cluster</th>
            <th>Host / pid</th>
            <th>Last heartbeat</th>
            <th>Health</th>
          </tr>
        </thead>
        <tbody>
          {agents.length === 0 ? (
            <tr>
              <td colSpan={5} class="muted">
                No agent has registered with this server yet ({clusters.length} clusters configured).
              </td>
            </tr>
          ) : null}
          {agents.map((a) => (
            <tr key={a.agentId} data-agent={a.agentId}>
              <td>{a.agentId}</td>
              <td>{a.clusterId}</td>
              <td>
                {a.host} / {a.pid}
              </td>
              <td>{formatClock(a.lastHeartbeatAt)}</td>
              <td>
                <span class={`dot ${a.alive ? 'ok' : 'bad'}`} />
                {a.alive ? 'alive' : 'expired'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
