/**
 * The agent's view of its cluster's volumes: it reads the volume table (through the volume library's
 * exported API) on the probe interval and after each operator action, and hands the list to the agent,
 * which stores it as a change like a device's state (stored first, then broadcast, then transmitted).
 * Operator actions (fail or replace a member) are carried out here through the same library, so the
 * dashboard and `blockrig volume fail|replace` write the same intent records.
 */
import { openDevice } from '../../drivers/index.js';
import { repeatEvery, type Clock } from '../clock.js';
import { BlockrigError, InvalidArgumentError, isBlockrigError } from '../errors.js';
import { failStoredMember, rebuildProgress, replaceStoredMember, storedState } from '../volume/volume-admin.js';
import { VolumeTable, type StoredVolume } from '../volume/volume-table.js';
import type { DeviceConfig, VolumeAction, VolumeView } from '../wire/index.js';

/** Converts a stored volume to its wire view, naming the cluster device behind each member and spare. */
export function volumeView(stored: StoredVolume, devices: readonly DeviceConfig[]): VolumeView {
  const { entry } = stored;
  const deviceOf = (uri: string): string | null => devices.find((d) => d.uri === uri)?.name ?? null;
  const progress = rebuildProgress(entry);
  return {
    name: entry.config.name,
    level: entry.config.level,
    state: storedState(entry),
    chunkSize: entry.config.chunkSize,
    members: entry.members.map((m, index) => {
      const uri = entry.config.members[index] ?? '';
      const p = progress.find((x) => x.member === index);
      return {
        index,
        uri,
        device: deviceOf(uri),
        state: m.state,
        reason: m.reason ?? null,
        readErrors: m.readErrors,
        writeErrors: m.writeErrors,
        rebuild: p === undefined ? null : { percent: p.percent, rate: p.rate, etaSeconds: p.etaSeconds },
      };
    }),
    spares: entry.config.spares.map((uri) => ({ uri, device: deviceOf(uri) })),
    rebuildPaused: entry.rebuildPaused,
  };
}

/** Options of a {@link VolumeWatcher}. */
export interface VolumeWatcherOptions {
  /** URI of the metadata device holding the volume table. */
  table: string;
  devices: readonly DeviceConfig[];
  clock: Clock;
  /** Receives every list read (the agent stores it when it differs). */
  report: (volumes: VolumeView[]) => void;
  log: (line: string) => void;
}

/** Reads a cluster's volume table on an interval and performs operator actions on it. */
export class VolumeWatcher {
  readonly #o: VolumeWatcherOptions;
  readonly #stop = new AbortController();
  #lastError: string | null = null;

  constructor(options: VolumeWatcherOptions) {
    this.#o = options;
  }

  /** Reads every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    void repeatEvery(this.#o.clock, intervalMs, this.#stop.signal, () => this.refresh());
  }

  /** Reads the table once and reports it; a read failure is logged once per distinct message and reports nothing. */
  async refresh(): Promise<VolumeView[] | null> {
    try {
      const views = await this.#withTable(true, async (table) => (await table.list()).map((v) => volumeView(v, this.#o.devices)));
      this.#lastError = null;
      if (!this.#stop.signal.aborted) this.#o.report(views);
      return views;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.#lastError) this.#o.log(`volume table ${this.#o.table}: ${message}`);
      this.#lastError = message;
      return null;
    }
  }

  /**
   * Carries out an operator action and returns the volume as stored after it (and reports the new list).
   * A refusal keeps the library's code, and names the field it concerns (`member` or `with`).
   */
  async perform(action: VolumeAction): Promise<VolumeView> {
    try {
      const stored = await this.#withTable(false, async (table) => {
        if (action.action === 'fail') return failStoredMember(table, action.volume, action.member);
        const uri = this.#o.devices.find((d) => d.name === action.with)?.uri ?? action.with;
        return replaceStoredMember(table, action.volume, action.member, uri, (u) => openDevice(u, { readOnly: true }));
      });
      await this.refresh();
      return volumeView(stored, this.#o.devices);
    } catch (err) {
      if (!isBlockrigError(err)) throw new InvalidArgumentError(`${action.action} member ${action.member} of ${action.volume}: ${(err as Error).message}`, { details: { field: action.action === 'replace' ? 'with' : 'member' }, cause: err });
      const field = typeof err.details.field === 'string' ? err.details.field : err.details.volume !== undefined ? 'volume' : 'member';
      throw new BlockrigError(err.code, err.message, { details: { ...err.details, field }, cause: err });
    }
  }

  /** Stops the interval reads. */
  stop(): void {
    this.#stop.abort();
  }

  async #withTable<T>(readOnly: boolean, work: (table: VolumeTable) => Promise<T>): Promise<T> {
    const device = await openDevice(this.#o.table, { readOnly });
    try {
      return await work(new VolumeTable(device));
    } finally {
      await device.close();
    }
  }
}
