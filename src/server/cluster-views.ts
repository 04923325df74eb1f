/**
 * What one server knows about each cluster: configuration, device states and tasks, built from its agents'
 * snapshots and stored changes. Changes apply in `seq` order and a change already held is ignored, so a
 * retransmission after a restart is harmless. Every difference becomes a live event.
 */
import type { ClusterConfigInfo, ClusterSnapshot, DeviceState, StoredChange, TaskRecord, VolumeView, ControllerView } from '../wire/index.js';
import type { EventHub } from './events.js';

interface ClusterKnowledge {
  config: ClusterConfigInfo | null;
  devices: Map<string, DeviceState>;
  tasks: Map<string, TaskRecord>;
  volumes: VolumeView[];
  controllers: ControllerView[];
  seq: number;
}

/** Per-cluster knowledge of one server. */
export class ClusterViews {
  readonly #events: EventHub;
  readonly #clusters = new Map<string, ClusterKnowledge>();

  constructor(events: EventHub, clusterIds: readonly string[]) {
    this.#events = events;
    for (const id of clusterIds) this.#get(id);
  }

  #get(id: string): ClusterKnowledge {
    let c = this.#clusters.get(id);
    if (!c) {
      c = { config: null, devices: new Map(), tasks: new Map(), volumes: [], controllers: [], seq: 0 };
      this.#clusters.set(id, c);
    }
    return c;
  }

  /** Ids of known clusters. */
  ids(): string[] {
    return [...this.#clusters.keys()].sort();
  }

  /** One cluster's knowledge, or undefined. */
  cluster(id: string): Readonly<ClusterKnowledge> | undefined {
    return this.#clusters.get(id);
  }

  /** Replaces a cluster's knowledge with a snapshot, publishing an event for each difference. */
  applySnapshot(clusterId: string, snapshot: ClusterSnapshot): void {
    const c = this.#get(clusterId);
    if (snapshot.seq < c.seq) return; // older than what this server holds (a slower agent of the same cluster)
    if (JSON.stringify(c.config) !== JSON.stringify(snapshot.config)) this.#setConfig(clusterId, c, snapshot.config);
    for (const d of snapshot.devices) this.#setDevice(clusterId, c, d);
    for (const name of [...c.devices.keys()]) if (!snapshot.devices.some((d) => d.name === name)) c.devices.delete(name);
    for (const t of snapshot.tasks) this.#setTask(clusterId, c, t);
    this.#setVolumes(clusterId, c, snapshot.volumes);
    this.#setControllers(clusterId, c, snapshot.controllers);
    c.seq = snapshot.seq;
  }

  /** Applies stored changes in order; returns the highest seq held. */
  applyChanges(clusterId: string, changes: readonly StoredChange[]): number {
    const c = this.#get(clusterId);
    for (const change of changes) {
      if (change.seq <= c.seq) continue;
      if (change.type === 'config') this.#setConfig(clusterId, c, change.body);
      else if (change.type === 'device') this.#setDevice(clusterId, c, change.body);
      else if (change.type === 'volumes') this.#setVolumes(clusterId, c, change.body);
      else if (change.type === 'controllers') this.#setControllers(clusterId, c, change.body);
      else this.#setTask(clusterId, c, change.body);
      c.seq = change.seq;
    }
    return c.seq;
  }

  /** Notes a volume learnt from a command answer (before its stored change arrives). */
  noteVolume(clusterId: string, volume: VolumeView): void {
    const c = this.#get(clusterId);
    this.#setVolumes(clusterId, c, [...c.volumes.filter((v) => v.name !== volume.name), volume].sort((a, b) => a.name.localeCompare(b.name)));
  }

  /** Stores a task record learnt from a command answer (before its stored change arrives). */
  noteTask(task: TaskRecord): void {
    this.#setTask(task.cluster, this.#get(task.cluster), task);
  }

  /** Finds a task in any cluster. */
  task(id: string): TaskRecord | undefined {
    for (const c of this.#clusters.values()) {
      const t = c.tasks.get(id);
      if (t) return t;
    }
    return undefined;
  }

  /** Every task, newest first. */
  tasks(): TaskRecord[] {
    return [...this.#clusters.values()].flatMap((c) => [...c.tasks.values()]).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  #setConfig(clusterId: string, c: ClusterKnowledge, config: ClusterConfigInfo): void {
    c.config = config;
    this.#events.publish({ type: 'cluster.config', cluster: clusterId, config });
  }

  #setDevice(clusterId: string, c: ClusterKnowledge, d: DeviceState): void {
    const old = c.devices.get(d.name);
    c.devices.set(d.name, d);
    if (!old || old.available !== d.available || old.since !== d.since) this.#events.publish({ type: 'device.changed', cluster: clusterId, device: d });
  }

  #setVolumes(clusterId: string, c: ClusterKnowledge, volumes: VolumeView[]): void {
    if (JSON.stringify(c.volumes) === JSON.stringify(volumes)) return;
    c.volumes = volumes;
    this.#events.publish({ type: 'cluster.volumes', cluster: clusterId, volumes });
  }

  #setControllers(clusterId: string, c: ClusterKnowledge, controllers: ControllerView[]): void {
    if (JSON.stringify(c.controllers) === JSON.stringify(controllers)) return;
    c.controllers = controllers;
    this.#events.publish({ type: 'cluster.controllers', cluster: clusterId, controllers });
  }

  #setTask(clusterId: string, c: ClusterKnowledge, t: TaskRecord): void {
    const old = c.tasks.get(t.id);
    if (old && old.updatedAt > t.updatedAt) return;
    c.tasks.set(t.id, t);
    if (!old || JSON.stringify(old) !== JSON.stringify(t)) this.#events.publish({ type: 'task.changed', cluster: clusterId, task: t });
  }
}
