/**
 * The fault driver: wraps any device and injects the faults described by its rules (`fault-rules.ts`):
 * I/O errors on ranges or at a rate, latency, going offline and coming back, torn writes and silent bit
 * flips. With no rules it is transparent, and passes the contract suite over any inner device.
 *
 * URI: `fault:<inner-uri>` (`fault:memory:?size=64MiB`, `fault:/dev/loop3`); rules come in the open
 * options (`faultRules`, `faultSeed`), at run time through `addRule`, `removeRule`, `clearRules` and
 * `setOffline`, or from other processes through the control channel (`fault-control.ts`). The driver's own
 * URI parameters ride in the inner URI's query with a `fault-` prefix and are removed before the inner
 * device is opened: `fault-control=DIR` (listen for commands in DIR), `fault-seed=N` (the PRNG seed), as in
 * `fault:/img/d1.img?fault-control=/run/rig/d1&fault-seed=7`. The wrapper forwards close to the inner
 * device, and mirrors the inner device's availability: it is available when the inner device is and no
 * fault holds it offline.
 */
import { BlockDeviceBase, readInto } from './base.js';
import { broadcastFaultCommand } from './fault-control-client.js';
import { FaultControlListener, type FaultCommand, type FaultControlTarget, type FaultDeviceStatus } from './fault-control.js';
import { ActiveRule, parseFaultRule, type FaultOp, type FaultRule, type FaultRuleInput } from './fault-rules.js';
import { seededRandom } from '../src/random.js';
import type { DriverDescriptor } from './registry.js';
import type { BlockDevice, OpenOptions, ReadOptions } from './types.js';
import { splitFaultUri } from './fault-uri.js';
import type { DeviceUri } from './uri.js';
import { CancelledError, DeviceIoError, DeviceUnavailableError, InvalidArgumentError, InvalidUriError } from '../src/errors.js';
import type { Clock } from '../src/clock.js';

/** Options of `createFaultDevice`. */
export interface FaultDeviceOptions {
  /** Rules active from the start. */
  rules?: readonly FaultRuleInput[];
  /** PRNG seed for rates, jitter and bit positions (default 1). */
  seed?: number;
  /** Clock for latency and offline durations (default: the system clock). */
  clock?: Clock;
  /** URI to report (default `fault:<inner uri>`). */
  uri?: string;
}

/** Open options the fault driver reads on top of `OpenOptions`. */
export interface FaultOpenOptions extends OpenOptions {
  readonly faultRules?: readonly FaultRuleInput[];
  readonly faultSeed?: number;
}

/** A device with injected faults; see the module comment. */
export class FaultDevice extends BlockDeviceBase implements FaultControlTarget {
  /** The wrapped device. */
  readonly inner: BlockDevice;
  #rules: ActiveRule[] = [];
  #nextId = 1;
  readonly #random: () => number;
  #offlineReason: string | undefined;
  #comeBack: AbortController | undefined;
  readonly #unsubscribe: () => void;
  #control: FaultControlListener | undefined;

  constructor(inner: BlockDevice, options: FaultDeviceOptions = {}) {
    super({
      uri: options.uri ?? `fault:${inner.uri}`,
      driver: 'fault',
      size: inner.size,
      logicalBlockSize: inner.logicalBlockSize,
      physicalBlockSize: inner.physicalBlockSize,
      // flush is always on so that flush faults can be injected over devices without a cache (memory);
      // the inner flush then resolves at once.
      capabilities: { ...inner.capabilities, flush: true },
      clock: options.clock,
    });
    this.inner = inner;
    this.#random = seededRandom(options.seed ?? 1);
    for (const rule of options.rules ?? []) this.addRule(rule);
    this.#unsubscribe = inner.onAvailabilityChange((change) => this.#updateAvailability(`inner device: ${change.reason}`));
    this.#updateAvailability('inner device unavailable');
  }

  /** The active rules with how often each matched and fired. */
  get rules(): readonly { rule: FaultRule; matched: number; fired: number }[] {
    return this.#rules.map((r) => ({ rule: r.rule, matched: r.matched, fired: r.fired }));
  }

  /** True while a fault (rule or `setOffline`) holds the device offline. */
  get faultOffline(): boolean {
    return this.#offlineReason !== undefined;
  }

  /** Validates and adds a rule; returns its id. Throws `InvalidArgumentError` for a bad rule. */
  addRule(input: FaultRuleInput): string {
    const rule = parseFaultRule(input, `rule-${this.#nextId++}`);
    if (this.#rules.some((r) => r.rule.id === rule.id)) this.removeRule(rule.id);
    this.#rules.push(new ActiveRule(rule));
    return rule.id;
  }

  /** Removes a rule by id; false when there was none. */
  removeRule(id: string): boolean {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((r) => r.rule.id !== id);
    return this.#rules.length !== before;
  }

  /** Removes every rule (an offline state set by a rule or `setOffline` stays until `setOffline(false)`). */
  clearRules(): void {
    this.#rules = [];
  }

  /**
   * Takes the device offline (every request fails with `DeviceUnavailableError`, listeners hear of it)
   * or brings it back. With `forMs`, it comes back by itself after that long on the device's clock.
   */
  setOffline(offline: boolean, reason = 'fault injected: offline', forMs?: number): void {
    this.#comeBack?.abort();
    this.#comeBack = undefined;
    this.#offlineReason = offline ? reason : undefined;
    this.#updateAvailability(offline ? reason : 'fault cleared: back online');
    if (offline && forMs !== undefined) {
      const timer = new AbortController();
      this.#comeBack = timer;
      this.clock.sleep(forMs, timer.signal).then(
        () => {
          if (this.#comeBack === timer) this.setOffline(false, 'fault cleared: back online');
        },
        () => undefined,
      );
    }
  }

  /** Applies one control-channel command (already validated). */
  apply(command: FaultCommand): void {
    switch (command.op) {
      case 'add':
        this.addRule(command.rule);
        return;
      case 'remove':
        this.removeRule(command.id);
        return;
      case 'clear':
        this.clearRules();
        return;
      case 'offline':
        this.setOffline(true, command.reason ?? 'fault control: offline', command.forMs);
        return;
      case 'online':
        this.setOffline(false, 'fault control: back online');
        return;
      case 'status':
        return;
    }
  }

  /** What this opener answers on the control channel. */
  status(): FaultDeviceStatus {
    return { pid: process.pid, uri: this.uri, available: this.available, offline: this.faultOffline, rules: this.rules };
  }

  /** The control socket this device listens on, if any. */
  get controlSocket(): string | undefined {
    return this.#control?.path;
  }

  /**
   * Applies the desired state stored in `dir` and listens there for commands from other processes
   * (`fault-control.ts`) until the device is closed. Returns the socket path.
   */
  async listenForControl(dir: string): Promise<string> {
    if (this.#control !== undefined) throw new InvalidArgumentError(`${this.uri} already listens on ${this.#control.path}`);
    this.#control = await FaultControlListener.listen(dir, this);
    return this.#control.path;
  }

  protected async doRead(offset: number, length: number, options: ReadOptions): Promise<Buffer> {
    const flips = await this.#before('read', offset, length, options.signal);
    const data = await this.inner.read(offset, length, options);
    for (const rule of flips) this.#flipBits(data, rule, offset);
    return data;
  }

  /** Reads into the caller's buffer through the inner device's `readInto` (its own when it has one), then flips. */
  protected override async doReadInto(offset: number, target: Uint8Array, options: ReadOptions): Promise<void> {
    const flips = await this.#before('read', offset, target.length, options.signal);
    await readInto(this.inner, offset, target, options);
    for (const rule of flips) this.#flipBits(target, rule, offset);
  }

  protected async doWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    const triggered = await this.#before('write', offset, data.length, undefined);
    let payload = data;
    for (const rule of triggered) {
      if (rule.rule.kind !== 'bitflip') continue;
      if (payload === data) payload = Buffer.from(data);
      this.#flipBits(payload, rule, offset);
    }
    const torn = triggered.find((r) => r.rule.kind === 'torn-write');
    if (torn !== undefined && torn.rule.kind === 'torn-write') {
      const keep = Math.min(payload.length, torn.rule.keepBytes - (torn.rule.keepBytes % this.logicalBlockSize));
      if (keep > 0) await this.inner.write(offset, payload.subarray(0, keep), { fua });
      if (torn.rule.offline === true) this.#goOffline(`power lost mid-write (fault rule ${torn.rule.id})`, undefined);
      throw new DeviceIoError(this.uri, 'write', offset, data.length, 'EIO', { details: { fault: torn.rule.id, landedBytes: keep } });
    }
    await this.inner.write(offset, payload, { fua });
  }

  protected async doFlush(): Promise<void> {
    await this.#before('flush', 0, 0, undefined);
    await this.inner.flush();
  }

  protected override async doTrim(offset: number, length: number): Promise<void> {
    await this.#before('trim', offset, length, undefined);
    await this.inner.trim(offset, length);
  }

  protected override async doWriteZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean): Promise<void> {
    await this.#before('writeZeroes', offset, length, undefined);
    await this.inner.writeZeroes(offset, length, { noUnmap, fua });
  }

  protected async doClose(): Promise<void> {
    this.#comeBack?.abort();
    await this.#control?.close();
    this.#unsubscribe();
    await this.inner.close();
  }

  /**
   * Applies offline, latency and error rules to a request, in rule order; returns the rules that fired
   * and act on the data (torn writes, bit flips) for the caller to apply.
   */
  async #before(op: FaultOp, offset: number, length: number, signal: AbortSignal | undefined): Promise<ActiveRule[]> {
    const dataRules: ActiveRule[] = [];
    for (const active of this.#rules) {
      this.#throwIfOffline();
      if (!active.matches(op, offset, length) || !active.decide(this.#random)) continue;
      const rule = active.rule;
      switch (rule.kind) {
        case 'latency':
          await this.#sleep(rule.ms + (rule.jitterMs ?? 0) * this.#random() + (rule.bytesPerSecond === undefined ? 0 : (length * 1000) / rule.bytesPerSecond), signal);
          break;
        case 'offline':
          this.#goOffline(rule.reason ?? `fault rule ${rule.id}: offline`, rule.durationMs);
          break;
        case 'error':
          throw new DeviceIoError(this.uri, op, offset, length, rule.errno ?? 'EIO', { details: { fault: rule.id } });
        case 'torn-write':
        case 'bitflip':
          dataRules.push(active);
          break;
      }
    }
    this.#throwIfOffline();
    return dataRules;
  }

  /**
   * A rule took the device offline: here at once, and in every other process holding it when it listens
   * on a control channel (best effort, in the background: the rule's request must not wait for peers).
   */
  #goOffline(reason: string, forMs: number | undefined): void {
    this.setOffline(true, reason, forMs);
    const dir = this.#control?.dir;
    if (dir !== undefined) void broadcastFaultCommand(dir, { op: 'offline', reason, ...(forMs === undefined ? {} : { forMs }) }).catch(() => undefined);
  }

  #throwIfOffline(): void {
    if (this.#offlineReason !== undefined) throw new DeviceUnavailableError(this.uri, this.#offlineReason);
  }

  async #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.clock.sleep(ms, signal);
    } catch (err) {
      throw new CancelledError(`request on ${this.uri} cancelled during injected latency`, { cause: err });
    }
  }

  /** Flips `bits` random bits of `data` inside the rule's range. */
  #flipBits(data: Uint8Array, active: ActiveRule, offset: number): void {
    if (active.rule.kind !== 'bitflip') return;
    const { start, end } = active.overlap(offset, data.length);
    if (end <= start) return;
    for (let i = 0; i < (active.rule.bits ?? 1); i++) {
      const byte = start + Math.floor(this.#random() * (end - start));
      data[byte] = (data[byte] ?? 0) ^ (1 << Math.floor(this.#random() * 8));
    }
  }

  #updateAvailability(reason: string): void {
    this.setAvailable(this.inner.available && this.#offlineReason === undefined, reason);
  }
}

/** Wraps `inner` in a fault device. */
export function createFaultDevice(inner: BlockDevice, options: FaultDeviceOptions = {}): FaultDevice {
  return new FaultDevice(inner, options);
}

async function openFault(uri: DeviceUri, options: FaultOpenOptions, openInner: (uri: string, options?: OpenOptions) => Promise<BlockDevice>): Promise<BlockDevice> {
  const { inner: innerUri, control, seed } = splitFaultUri(uri.text);
  if (innerUri === '') throw new InvalidUriError(uri.text, 'fault: needs the URI of the device to wrap, as in fault:memory:?size=64MiB');
  const { faultRules, faultSeed, ...innerOptions } = options;
  const inner = await openInner(innerUri, innerOptions);
  try {
    const device = createFaultDevice(inner, { rules: faultRules, seed: faultSeed ?? seed, uri: uri.text });
    if (control !== undefined) await device.listenForControl(control);
    return device;
  } catch (err) {
    await inner.close();
    throw err;
  }
}

/** Registry entry of the fault driver. */
export const faultDriver: DriverDescriptor = {
  name: 'fault',
  schemes: ['fault'],
  summary: 'wraps another device and injects errors, latency, offline, torn writes, bit flips: fault:<inner-uri>[?fault-control=DIR][&fault-seed=N]',
  open: openFault,
};
