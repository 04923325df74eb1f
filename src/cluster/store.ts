/**
 * The cluster's persistent data (claims 000/14, 001/5): configuration (which devices, how many), state
 * (each device available or not, why, since when), tasks with the executing agent's identification, the
 * agents of the cluster, and an ordered log of changes that doubles as every server's outbox.
 *
 * SQLite in WAL mode with `synchronous=FULL`: a change that `store*` returned has reached the disk and
 * survives kill -9 of any process at any instant. All agents of a cluster (one per configured server) open
 * the same file; writes run in `BEGIN IMMEDIATE` transactions, so two agents that see the same device
 * change store it once. Each server's `transmitted` cursor says which changes its agent has delivered: a
 * change stored but not yet transmitted is sent after a restart.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, NotFoundError } from '../errors.js';
import type { ClusterConfigInfo, ClusterSnapshot, DeviceState, Executor, StoredChange, TaskIssue, TaskRecord, VolumeView, ControllerView } from '../wire/index.js';
import { StoredChangeSchema, TaskRecordSchema } from '../wire/index.js';

/** An agent of the cluster as recorded in the store (its liveness within the cluster host). */
export interface StoredAgent {
  agentId: string;
  serverId: string;
  pid: number;
  host: string;
  /** Local socket other agents notify after storing a change. */
  socketPath: string;
  /** Wall-clock ms of its last store heartbeat (compared only on this host). */
  beatAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS config (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS controllers (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transmitted (server_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, request_id TEXT UNIQUE, state TEXT NOT NULL, executor TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS io_reports (device TEXT NOT NULL, reporter TEXT NOT NULL, errors INTEGER NOT NULL, unavailable INTEGER NOT NULL, last_error_at INTEGER NOT NULL, PRIMARY KEY (device, reporter));
CREATE TABLE IF NOT EXISTS agents (agent_id TEXT PRIMARY KEY, server_id TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, socket TEXT NOT NULL, beat_at INTEGER NOT NULL);
`;

/** How a device's state reads when controllers' I/O errors made it unavailable. */
export const IO_ERRORS_REASON = 'I/O errors from controller';

/** One controller's account of one device's I/O, as an agent folds it into the store. */
export interface IoReport {
  /** Tells one incarnation of one controller process from every other (slot, incarnation, host, pid). */
  reporter: string;
  /** `host/pid` of the controller, for the reason. */
  by: string;
  /** I/O errors it has seen on the device so far. */
  errors: number;
  unavailable: boolean;
  message: string;
}

/** One cluster's store. Synchronous: every method has committed to disk when it returns. */
export class ClusterStore {
  readonly clusterId: string;
  readonly path: string;
  readonly #db: Database.Database;
  /**
   * How long after a controller's last new I/O error a successful probe may not yet call the device
   * available (the probe reads one block; the controller's failing writes may be elsewhere).
   */
  ioErrorHoldMs = 5000;

  constructor(dataDir: string, clusterId: string) {
    mkdirSync(dataDir, { recursive: true });
    this.clusterId = clusterId;
    this.path = join(dataDir, 'cluster.db');
    this.#db = new Database(this.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('busy_timeout = 10000');
    this.#db.exec(SCHEMA);
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }

  /** Runs `work` in one `BEGIN IMMEDIATE` transaction. */
  #tx<T>(work: () => T): T {
    return this.#db.transaction(work).immediate();
  }

  #append(type: StoredChange['type'], body: unknown, at: string): StoredChange {
    const info = this.#db.prepare('INSERT INTO changes (at, type, body) VALUES (?, ?, ?)').run(at, type, JSON.stringify(body));
    return StoredChangeSchema.parse({ seq: Number(info.lastInsertRowid), at, type, body });
  }

  /** The stored configuration, or null before the first `storeConfig`. */
  config(): ClusterConfigInfo | null {
    const row = this.#db.prepare('SELECT body FROM config WHERE id = 1').get() as { body: string } | undefined;
    return row === undefined ? null : (JSON.parse(row.body) as ClusterConfigInfo);
  }

  /**
   * Stores the collected configuration when it differs from the stored one, adding a device row
   * ("not probed yet", unavailable) for each new device and dropping removed ones. Returns the changes.
   */
  storeConfig(config: ClusterConfigInfo, at: string): StoredChange[] {
    return this.#tx(() => {
      const current = this.config();
      if (current !== null && JSON.stringify(current) === JSON.stringify(config)) return [];
      this.#db.prepare('INSERT INTO config (id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body').run(JSON.stringify(config));
      const out = [this.#append('config', config, at)];
      const names = new Set(config.devices.map((d) => d.name));
      for (const d of this.devices()) if (!names.has(d.name)) this.#db.prepare('DELETE FROM devices WHERE name = ?').run(d.name);
      for (const d of config.devices) {
        if (this.device(d.name) !== undefined) continue;
        const state: DeviceState = { name: d.name, available: false, reason: 'not probed yet', since: at, errors: 0 };
        this.#db.prepare('INSERT INTO devices (name, body) VALUES (?, ?)').run(d.name, JSON.stringify(state));
        out.push(this.#append('device', state, at));
      }
      return out;
    });
  }

  /** One device's state. */
  device(name: string): DeviceState | undefined {
    const row = this.#db.prepare('SELECT body FROM devices WHERE name = ?').get(name) as { body: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.body) as DeviceState);
  }

  /** Every device's state, by name. */
  devices(): DeviceState[] {
    const rows = this.#db.prepare('SELECT body FROM devices ORDER BY name').all() as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as DeviceState);
  }

  /**
   * Stores a device's availability when it differs from the stored one (claims 000/17-18): returns the
   * stored change, or null when nothing changed (another agent of the cluster stored it first). Errors
   * are counted either way. A successful probe does not undo an unavailability that controllers' I/O
   * errors caused while they are recent (`ioErrorHoldMs`): see {@link ClusterStore.storeIoReport}.
   */
  storeDeviceState(name: string, available: boolean, reason: string, at: string, newErrors = 0): StoredChange | null {
    return this.#tx(() => {
      if (available && this.#ioErrorsHold(name, Date.parse(at))) return null;
      return this.#setDevice(name, available, reason, at, newErrors);
    });
  }

  /**
   * Folds one controller's report of a device's I/O into its state (docs/agents-and-servers.md, "Device
   * state from controllers' I/O"): new errors with the device unavailable store it unavailable with the
   * controller's reason; the same controller's later successful I/O stores its return, unless another
   * controller's errors still hold it. Idempotent per reporter and error count, so the cluster's agents,
   * which all read the same host records, store each flip once. Returns the change, or null.
   */
  storeIoReport(name: string, report: IoReport, at: string): StoredChange | null {
    return this.#tx(() => {
      const current = this.device(name);
      if (current === undefined) return null;
      const atMs = Date.parse(at);
      const prev = this.#db.prepare('SELECT errors, unavailable, last_error_at FROM io_reports WHERE device = ? AND reporter = ?').get(name, report.reporter) as
        | { errors: number; unavailable: number; last_error_at: number }
        | undefined;
      // Agents fold every host record on every read: only a report that moved is written (no fsync otherwise).
      if (prev !== undefined && prev.errors === report.errors && prev.unavailable === (report.unavailable ? 1 : 0)) return null;
      const newErrors = Math.max(0, report.errors - (prev?.errors ?? 0));
      this.#db
        .prepare('INSERT INTO io_reports (device, reporter, errors, unavailable, last_error_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(device, reporter) DO UPDATE SET errors = excluded.errors, unavailable = excluded.unavailable, last_error_at = excluded.last_error_at')
        .run(name, report.reporter, report.errors, report.unavailable ? 1 : 0, newErrors > 0 ? atMs : (prev?.last_error_at ?? 0));
      if (report.unavailable && newErrors > 0) {
        return this.#setDevice(name, false, `${IO_ERRORS_REASON} ${report.by}: ${report.errors} errors, last: ${report.message}`, at, newErrors);
      }
      if (!report.unavailable && prev?.unavailable === 1 && !current.available && current.reason.startsWith(IO_ERRORS_REASON) && !this.#ioErrorsHold(name, atMs)) {
        return this.#setDevice(name, true, `I/O succeeds again from controller ${report.by}`, at, newErrors);
      }
      if (newErrors > 0) this.#setDevice(name, current.available, current.reason, at, newErrors);
      return null;
    });
  }

  /** True while controllers' recent I/O errors keep a device unavailable that they made unavailable. */
  #ioErrorsHold(name: string, atMs: number): boolean {
    const current = this.device(name);
    if (current === undefined || current.available || !current.reason.startsWith(IO_ERRORS_REASON)) return false;
    const row = this.#db.prepare('SELECT COUNT(*) AS n FROM io_reports WHERE device = ? AND unavailable = 1 AND last_error_at > ?').get(name, atMs - this.ioErrorHoldMs) as { n: number };
    return row.n > 0;
  }

  /** Stores `available` when it differs from the stored state; errors are counted either way. */
  #setDevice(name: string, available: boolean, reason: string, at: string, newErrors: number): StoredChange | null {
    const current = this.device(name);
    if (current === undefined) throw new NotFoundError(`cluster ${this.clusterId} has no device "${name}"`, { details: { device: name } });
    const errors = current.errors + newErrors;
    if (current.available === available && !(current.reason === 'not probed yet')) {
      if (newErrors > 0) this.#db.prepare('UPDATE devices SET body = ? WHERE name = ?').run(JSON.stringify({ ...current, errors }), name);
      return null;
    }
    const next: DeviceState = { name, available, reason, since: at, errors };
    this.#db.prepare('UPDATE devices SET body = ? WHERE name = ?').run(JSON.stringify(next), name);
    return this.#append('device', next, at);
  }

  /** The volume list last read from the cluster's volume table (empty before the first read). */
  volumes(): VolumeView[] {
    return this.#list<VolumeView>('volumes');
  }

  /**
   * Stores the cluster's volume list when it differs from the stored one, like a device's state: returns
   * the stored change, or null when nothing changed (another agent of the cluster stored it first).
   */
  storeVolumes(volumes: VolumeView[], at: string): StoredChange | null {
    return this.#storeList('volumes', volumes, at);
  }

  /** The metadata region's occupied host slots as last read (empty before the first read). */
  controllers(): ControllerView[] {
    return this.#list<ControllerView>('controllers');
  }

  /** Stores the host slots when they differ from the stored ones; null when nothing changed. */
  storeControllers(controllers: ControllerView[], at: string): StoredChange | null {
    return this.#storeList('controllers', controllers, at);
  }

  #list<T>(table: 'volumes' | 'controllers'): T[] {
    const row = this.#db.prepare(`SELECT body FROM ${table} WHERE id = 1`).get() as { body: string } | undefined;
    return row === undefined ? [] : (JSON.parse(row.body) as T[]);
  }

  #storeList(table: 'volumes' | 'controllers', list: unknown[], at: string): StoredChange | null {
    return this.#tx(() => {
      const body = JSON.stringify(list);
      const row = this.#db.prepare(`SELECT body FROM ${table} WHERE id = 1`).get() as { body: string } | undefined;
      if (row?.body === body) return null;
      this.#db.prepare(`INSERT INTO ${table} (id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body`).run(body);
      return this.#append(table, list, at);
    });
  }

  /** The highest stored change number (0 when none). */
  lastSeq(): number {
    const row = this.#db.prepare('SELECT MAX(seq) AS seq FROM changes').get() as { seq: number | null };
    return row.seq ?? 0;
  }

  /** Stored changes after `seq`, oldest first. */
  changesAfter(seq: number, limit = 1000): StoredChange[] {
    const rows = this.#db.prepare('SELECT seq, at, type, body FROM changes WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as {
      seq: number;
      at: string;
      type: string;
      body: string;
    }[];
    return rows.map((r) => StoredChangeSchema.parse({ seq: r.seq, at: r.at, type: r.type, body: JSON.parse(r.body) as unknown }));
  }

  /**
   * Drops all but the last `keep` changes. A server whose cursor falls behind the oldest kept change is
   * sent a snapshot instead (see {@link ClusterStore.changesAfter}'s caller in the agent).
   */
  pruneChanges(keep: number): number {
    return this.#db.prepare('DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - ?').run(keep).changes;
  }

  /** Everything stored, in one consistent read (claims 000/15-16: what an agent transmits on registration). */
  snapshot(): ClusterSnapshot {
    return this.#db
      .transaction(() => {
        const config = this.config() ?? { clusterId: this.clusterId, deviceCount: 0, devices: [] };
        return { seq: this.lastSeq(), config, devices: this.devices(), tasks: this.tasks(), volumes: this.volumes(), controllers: this.controllers() };
      })
      .deferred();
  }

  /** The last change a server's agent has delivered to it. */
  transmittedSeq(serverId: string): number {
    const row = this.#db.prepare('SELECT seq FROM transmitted WHERE server_id = ?').get(serverId) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** Records that `serverId` holds every change up to `seq`. */
  markTransmitted(serverId: string, seq: number): void {
    this.#db
      .prepare('INSERT INTO transmitted (server_id, seq) VALUES (?, ?) ON CONFLICT(server_id) DO UPDATE SET seq = MAX(seq, excluded.seq)')
      .run(serverId, seq);
  }

  /** Every task, newest first. */
  tasks(): TaskRecord[] {
    const rows = this.#db.prepare('SELECT body FROM tasks ORDER BY rowid DESC').all() as { body: string }[];
    return rows.map((r) => TaskRecordSchema.parse(JSON.parse(r.body)));
  }

  /** One task. */
  task(id: string): TaskRecord | undefined {
    const row = this.#db.prepare('SELECT body FROM tasks WHERE id = ?').get(id) as { body: string } | undefined;
    return row === undefined ? undefined : TaskRecordSchema.parse(JSON.parse(row.body));
  }

  /**
   * Stores a newly issued task with the accepting agent as executor (claims 000/20-21). Idempotent: a task
   * with the same id or request id is returned as it is, with `created: false`, and nothing is stored.
   */
  acceptTask(taskId: string, issue: TaskIssue, issuedVia: string, executor: Executor, at: string): { task: TaskRecord; created: boolean; change: StoredChange | null } {
    return this.#tx(() => {
      const byId = this.task(taskId);
      if (byId) return { task: byId, created: false, change: null };
      if (issue.requestId !== undefined) {
        const row = this.#db.prepare('SELECT id FROM tasks WHERE request_id = ?').get(issue.requestId) as { id: string } | undefined;
        const existing = row === undefined ? undefined : this.task(row.id);
        if (existing) return { task: existing, created: false, change: null };
      }
      const task: TaskRecord = {
        id: taskId,
        cluster: this.clusterId,
        kind: issue.kind,
        args: issue.args,
        requestId: issue.requestId ?? null,
        issuedVia,
        state: 'accepted',
        executor,
        executors: [executor],
        driverPid: null,
        attempts: 0,
        control: null,
        result: null,
        error: null,
        createdAt: at,
        updatedAt: at,
      };
      this.#db
        .prepare('INSERT INTO tasks (id, request_id, state, executor, body) VALUES (?, ?, ?, ?, ?)')
        .run(task.id, task.requestId, task.state, executor.agentId, JSON.stringify(task));
      return { task, created: true, change: this.#append('task', task, at) };
    });
  }

  /**
   * Changes a task under a guard: `expectExecutor` (when given, agent id and pid) must still be the executor, else
   * `ConflictError`. Returns the stored change.
   */
  updateTask(
    id: string,
    patch: Partial<Pick<TaskRecord, 'state' | 'control' | 'result' | 'error' | 'executor' | 'driverPid' | 'attempts'>>,
    at: string,
    expectExecutor?: Pick<Executor, 'agentId' | 'pid'>,
  ): { task: TaskRecord; change: StoredChange } {
    return this.#tx(() => {
      const current = this.task(id);
      if (!current) throw new NotFoundError(`cluster ${this.clusterId} has no task ${id}`, { details: { task: id } });
      if (expectExecutor !== undefined && (current.executor?.agentId !== expectExecutor.agentId || current.executor.pid !== expectExecutor.pid)) {
        throw new ConflictError(`task ${id} is executed by ${current.executor?.agentId ?? 'nobody'} (pid ${current.executor?.pid ?? '-'}), not ${expectExecutor.agentId} (pid ${expectExecutor.pid})`, {
          details: { task: id },
        });
      }
      const executors = patch.executor ? [...current.executors, patch.executor] : current.executors;
      const task: TaskRecord = { ...current, ...patch, executors, updatedAt: at };
      this.#db
        .prepare('UPDATE tasks SET state = ?, executor = ?, body = ? WHERE id = ?')
        .run(task.state, task.executor?.agentId ?? null, JSON.stringify(task), id);
      return { task, change: this.#append('task', task, at) };
    });
  }

  /** Records an agent's liveness and its notification socket (its heartbeat within the cluster host). */
  beatAgent(agent: StoredAgent): void {
    this.#db
      .prepare(
        'INSERT INTO agents (agent_id, server_id, pid, host, socket, beat_at) VALUES (@agentId, @serverId, @pid, @host, @socketPath, @beatAt) ON CONFLICT(agent_id) DO UPDATE SET server_id = excluded.server_id, pid = excluded.pid, host = excluded.host, socket = excluded.socket, beat_at = excluded.beat_at',
      )
      .run(agent);
  }

  /** The cluster's agents as last recorded. */
  agents(): StoredAgent[] {
    const rows = this.#db.prepare('SELECT agent_id, server_id, pid, host, socket, beat_at FROM agents ORDER BY agent_id').all() as {
      agent_id: string;
      server_id: string;
      pid: number;
      host: string;
      socket: string;
      beat_at: number;
    }[];
    return rows.map((r) => ({ agentId: r.agent_id, serverId: r.server_id, pid: r.pid, host: r.host, socketPath: r.socket, beatAt: r.beat_at }));
  }
}
