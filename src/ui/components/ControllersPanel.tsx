/** The controllers and driver clients holding host slots in a cluster's metadata region: live or not, and what each runs. */
import type { ControllerView } from '../../wire/index.js';

/** Props of {@link ControllersPanel}. */
export interface ControllersPanelProps {
  controllers: ControllerView[];
  /** Whether the cluster has a metadata region at all. */
  hasRegion: boolean;
}

/** A read-only table of the region's occupied host slots. */
export function ControllersPanel({ controllers, hasRegion }: ControllersPanelProps) {
  if (!hasRegion) return null;
  return (
    <div class="controllers">
      <h3>Controllers</h3>
      <table>
        <thead>
          <tr>
            <th>Slot</th>
            <th>Role</th>
            <th>Host / pid</th>
            <th>Health</th>
            <th>Running</th>
          </tr>
        </thead>
        <tbody>
          {controllers.length === 0 ? (
            <tr>
              <td colSpan={5} class="muted">
                No controller holds a host slot in the metadata region.
              </td>
            </tr>
          ) : null}
          {controllers.map((c) => (
            <tr key={c.slot} data-controller={c.slot} data-live={String(c.live)} class={c.live ? '' : 'row-bad'}>
              <td>{c.slot}</td>
              <td>{c.role === 'client' ? 'driver (client)' : 'controller'}</td>
              <td>
                {c.hostname} / {c.pid}
              </td>
              <td>
                <span class={`dot ${c.live ? 'ok' : 'bad'}`} />
                {c.live ? 'live' : 'not live (heartbeat stopped)'}
                {c.state.toLowerCase() === 'live' ? null : <span class="muted"> ({c.state.toLowerCase()})</span>}
              </td>
              <td>{c.running === null ? 'idle' : `task ${c.running.taskId}${c.running.chunk === null ? ' (task record)' : `, chunk ${c.running.chunk}`}`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
