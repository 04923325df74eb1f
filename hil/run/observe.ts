/**
 * What a run observes at its end: a check-only scrub, member states by device, each device's state for the
 * report, and what every server reports about the devices.
 */
import type { Clock } from '../../src/clock.js';
import type { RigServers } from '../rig/servers.js';
import type { Rig } from './rig.js';

/** One device's state at the end of a run. */
export interface DeviceReport {
  readonly name: string;
  readonly kind: string;
  readonly uri: string;
  readonly available: boolean;
  /** Role in the volume: "member 2", "spare", "replacement of member 1", or "unused". */
  readonly role: string;
  readonly memberState: string;
  readonly readErrors: number;
  readonly writeErrors: number;
  readonly faultsFired: number;
}

/** What one server reported at the end of a run. */
export interface ServerReport {
  readonly server: string;
  /** "killed by the scenario", "not answering", or "answering". */
  readonly status: string;
  readonly devices: readonly { name: string; available: boolean; reason: string }[];
}

/** A check-only scrub of the whole volume after the task: mismatching sectors, or undefined when rows could not be checked. */
export async function checkConsistency(rig: Rig, log: (line: string) => void): Promise<number | undefined> {
  try {
    const result = await rig.volume.scrubRows(0, rig.volume.layout.rows, { repair: false });
    log(`check: ${result.rowsChecked} rows checked, ${result.rowsSkipped} skipped, ${result.mismatchBytes / 512} mismatching sectors`);
    // Rows skipped for want of redundancy were not proven consistent: no verdict rather than a false pass.
    return result.rowsSkipped > 0 ? undefined : result.mismatchBytes / 512;
  } catch (err) {
    log(`check: not possible: ${(err as Error).message}`);
    return undefined;
  }
}

/** The state of the volume slot each rig device sits in, by device name. */
export function memberStates(members: readonly string[], rig: Rig): Map<string, string> {
  const states = new Map<string, string>();
  for (const m of rig.volume.members) {
    const name = [...rig.devices.values()].find((d) => d.device === m.device)?.spec.name ?? members[m.index];
    if (name !== undefined) states.set(name, m.state);
  }
  // A member whose slot went to a replacement is out of the volume.
  for (const name of members) if (!states.has(name)) states.set(name, 'removed');
  return states;
}

/** Each rig device's state at the end, for the report. */
export function deviceReports(members: readonly string[], spares: readonly string[], rig: Rig): DeviceReport[] {
  const status = rig.volume.status();
  return [...rig.devices.values()].map((d) => {
    const slot = rig.volume.members.find((m) => m.device === d.device);
    const slotStatus = slot === undefined ? undefined : status.members[slot.index];
    const original = members.indexOf(d.spec.name);
    const role = slot !== undefined ? (original === slot.index ? `member ${slot.index}` : `replacement of member ${slot.index}`) : spares.includes(d.spec.name) ? 'spare' : original >= 0 ? `former member ${original}` : 'unused';
    return {
      name: d.spec.name,
      kind: d.spec.kind,
      uri: d.device.inner.uri,
      available: d.device.available,
      role,
      memberState: slotStatus?.state ?? '-',
      readErrors: slotStatus?.readErrors ?? 0,
      writeErrors: slotStatus?.writeErrors ?? 0,
      faultsFired: d.device.rules.reduce((n, r) => n + r.fired, 0),
    };
  });
}

/**
 * Waits (up to 15 s: agents probe and transmit on their own schedule) until every live server reports
 * each device as `expected` says, then records what each server reports. Returns, per expected device, what
 * the servers said ("A: unavailable, B: unavailable"); a device matches when every live server agrees.
 */
export async function awaitReports(servers: RigServers, expected: Record<string, string>, clock: Clock, out: ServerReport[], log: (line: string) => void): Promise<Map<string, string>> {
  const live = servers.ids.filter((id) => !servers.killed(id));
  const views = new Map<string, Awaited<ReturnType<RigServers['view']>>>();
  const matches = (): boolean =>
    live.length > 0 &&
    live.every((id) => {
      const view = views.get(id);
      return view !== undefined && Object.entries(expected).every(([name, want]) => view.devices.some((d) => d.name === name && (d.available ? 'available' : 'unavailable') === want));
    });
  const deadline = clock.now() + 15_000;
  for (;;) {
    for (const id of live) views.set(id, await servers.view(id));
    if (matches() || clock.now() > deadline) break;
    await clock.sleep(200);
  }
  for (const id of servers.ids) {
    const view = views.get(id);
    const status = servers.killed(id) ? 'killed by the scenario' : view === undefined ? 'not answering' : 'answering';
    out.push({ server: id, status, devices: (view?.devices ?? []).map((d) => ({ name: d.name, available: d.available, reason: d.reason })) });
    log(`server ${id}: ${status}${view === undefined ? '' : `; ${view.devices.map((d) => `${d.name} ${d.available ? 'available' : 'unavailable'}`).join(', ')}`}`);
  }
  const said = new Map<string, string>();
  for (const name of Object.keys(expected)) {
    const parts = live.map((id) => {
      const d = views.get(id)?.devices.find((x) => x.name === name);
      return `${id}: ${d === undefined ? 'no report' : d.available ? 'available' : 'unavailable'}`;
    });
    said.set(name, parts.length === 0 ? 'no live server' : parts.join(', '));
  }
  return said;
}

/** One console check's outcome. */
export interface ConsoleAnswer {
  readonly passed: boolean;
  /** The matching text, or why nothing matched. */
  readonly actual: string;
}

/** Sends each console command and waits for its pattern; a timeout is a failed check, not a failed run. */
export async function askConsole(rig: Rig, checks: readonly { send: string; match: string }[], log: (line: string) => void): Promise<ConsoleAnswer[]> {
  const answers: ConsoleAnswer[] = [];
  for (const check of checks) {
    if (rig.console === undefined) {
      answers.push({ passed: false, actual: 'the rig has no console' });
      continue;
    }
    try {
      const { match } = await rig.console.console.command(check.send, new RegExp(check.match));
      answers.push({ passed: true, actual: JSON.stringify(match[0]) });
      log(`console: ${JSON.stringify(check.send)} answered ${JSON.stringify(match[0])}`);
    } catch (err) {
      answers.push({ passed: false, actual: (err as Error).message });
      log(`console: ${JSON.stringify(check.send)}: ${(err as Error).message}`);
    }
  }
  return answers;
}
