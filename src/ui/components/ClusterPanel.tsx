/** One cluster: its devices (URI, availability with reason, error counters, the volume using each), its metadata region with its controllers, and its volumes. */
import type { ClusterView, VolumeView } from '../../wire/index.js';
import { formatClock } from '../format.js';
import type { Confirmation } from './ConfirmDialog.js';
import { ControllersPanel } from './ControllersPanel.js';
import { VolumePanel } from './VolumePanel.js';

/** Props of {@link ClusterPanel}. */
export interface ClusterPanelProps {
  cluster: ClusterView;
  /** Tasks of this cluster the page knows of. */
  taskCount: number;
  confirm: (c: Confirmation) => void;
  /** A volume as stored after a fail/replace action. */
  volumeChanged: (cluster: string, volume: VolumeView) => void;
}

/** A cluster's devices as stored at the cluster and transmitted by its agents. */
export function ClusterPanel({ cluster, taskCount, confirm, volumeChanged }: ClusterPanelProps) {
  const usedBy = (name: string): string => {
    for (const v of cluster.volumes) {
      const m = v.members.find((x) => x.device === name);
      if (m) return `${v.name} member ${m.index}`;
      if (v.spares.some((x) => x.device === name)) return `${v.name} spare`;
    }
    return '-';
  };
  const uriOf = (name: string): string => cluster.config?.devices.find((d) => d.name === name)?.uri ?? '-';
  const healthy = cluster.availableCount === cluster.deviceCount;
  return (
    <section class="panel" aria-label={`cluster ${cluster.id}`} data-cluster={cluster.id}>
      <h2>
        Cluster {cluster.id}{' '}
        <span class={`pill ${healthy ? 'ok' : 'bad'}`}>
          {cluster.availableCount}/{cluster.deviceCount} devices available
        </span>
      </h2>
      <p class="muted">
        Metadata region: {cluster.config?.meta ?? 'none configured'} · last stored change #{cluster.seq} · {taskCount} tasks
      </p>
      <table>
        <thead>
          <tr>
            <th>Device</th>
            <th>URI</th>
            <th>Availability</th>
            <th>Since</th>
            <th>Errors</th>
            <th>Reason</th>
            <th>Volume</th>
          </tr>
        </thead>
        <tbody>
          {cluster.devices.length === 0 ? (
            <tr>
              <td colSpan={7} class="muted">
                No device state reported yet: the cluster's agents have not transmitted it.
              </td>
            </tr>
          ) : null}
          {cluster.devices.map((d) => (
            <tr key={d.name} data-device={d.name} class={d.available ? '' : 'row-bad'}>
              <td>{d.name}</td>
              <td class="mono">{uriOf(d.name)}</td>
              <td>
                <span class={`dot ${d.available ? 'ok' : 'bad'}`} />
                {d.available ? 'available' : 'unavailable'}
              </td>
              <td>{formatClock(d.since)}</td>
              <td class={d.errors > 0 ? 'bad' : ''}>{d.errors}</td>
              <td>{d.reason}</td>
              <td data-role="used-by">{usedBy(d.name)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ControllersPanel controllers={cluster.controllers} hasRegion={cluster.config?.meta !== undefined} />
      {cluster.volumes.map((v) => (
        <VolumePanel key={v.name} cluster={cluster.id} volume={v} confirm={confirm} changed={(next) => volumeChanged(cluster.id, next)} />
      ))}
    </section>
  );
}
