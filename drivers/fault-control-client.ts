/**
 * The sending side of the fault control channel (`fault-control.ts`): `broadcastFaultCommand(dir, command)`
 * records the desired state in `DIR/state.json`, then sends the command to every socket in DIR and waits
 * for each answer, so that when it returns every live opener has applied it. A socket nobody listens on
 * (its process was killed before it could remove it) is removed. An opener that does not answer in time
 * (a stopped process) is reported; the command is queued in its socket and applied when it runs again.
 */
import { existsSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { NotFoundError } from '../src/errors.js';
import { faultStateFile, parseFaultCommand, readFaultControlState, type FaultCommand, type FaultCommandReply, type FaultControlState, type FaultDeviceStatus } from './fault-control.js';

/** What one opener did with a broadcast command. */
export interface FaultDelivery {
  readonly socket: string;
  /** The opener's pid (from the socket's name). */
  readonly pid: number;
  readonly outcome: 'applied' | 'refused' | 'stale' | 'no-answer';
  readonly status?: FaultDeviceStatus;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Options of `broadcastFaultCommand`. */
export interface BroadcastOptions {
  /** How long to wait for each opener's answer (default 2000 ms). */
  readonly timeoutMs?: number;
}

let nextRuleId = 0;

/**
 * Validates `input`, records the desired state and sends the command to every opener in `dir`. A rule
 * without an id gets one here, so that every opener holds it under the same id and `remove` reaches all.
 * Throws `InvalidArgumentError` for a bad command and `NotFoundError` when `dir` does not exist.
 */
export async function broadcastFaultCommand(dir: string, input: unknown, options: BroadcastOptions = {}): Promise<{ command: FaultCommand; deliveries: FaultDelivery[] }> {
  const parsed = parseFaultCommand(input);
  const command: FaultCommand = parsed.op === 'add' && parsed.rule.id === undefined ? { op: 'add', rule: { ...parsed.rule, id: `ctl-${process.pid}-${Date.now().toString(36)}-${++nextRuleId}` } } : parsed;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(`no fault control folder ${dir}: open the device as fault:<uri>?fault-control=${dir} first (the opener creates the folder)`, { details: { field: 'dir', dir } });
  }
  if (command.op !== 'status') writeState(dir, nextState(readFaultControlState(dir), command));
  const sockets = readdirSync(dir).filter((name) => /^\d+-\d+\.sock$/.test(name));
  const deliveries = await Promise.all(sockets.map((name) => deliver(join(dir, name), command, options.timeoutMs ?? 2000)));
  return { command, deliveries };
}

/** The desired state after `command`. */
function nextState(state: FaultControlState, command: FaultCommand): FaultControlState {
  switch (command.op) {
    case 'add':
      return { ...state, rules: [...state.rules.filter((r) => r.id !== command.rule.id), command.rule] };
    case 'remove':
      return { ...state, rules: state.rules.filter((r) => r.id !== command.id) };
    case 'clear':
      return { ...state, rules: [] };
    case 'offline':
      return { ...state, offline: { reason: command.reason ?? 'fault control: offline', until: command.forMs === undefined ? null : Date.now() + command.forMs } };
    case 'online':
      return { ...state, offline: null };
    case 'status':
      return state;
  }
}

/** Written to a temporary file and renamed, so an opener never reads half a state. */
function writeState(dir: string, state: FaultControlState): void {
  const file = faultStateFile(dir);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temp, file);
}

/** Sends `command` to one socket and reads its answer. */
function deliver(socket: string, command: FaultCommand, timeoutMs: number): Promise<FaultDelivery> {
  const pid = Number(/(\d+)-\d+\.sock$/.exec(socket)?.[1] ?? -1);
  return new Promise<FaultDelivery>((resolve) => {
    const conn = connect(socket);
    let text = '';
    let settled = false;
    const done = (delivery: FaultDelivery): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      resolve(delivery);
    };
    const timer = setTimeout(() => done({ socket, pid, outcome: 'no-answer', error: { code: 'BLOCKRIG_E_TIMEOUT', message: `no answer in ${timeoutMs} ms (a stopped process applies the command when it runs again)` } }), timeoutMs);
    conn.on('connect', () => conn.write(`${JSON.stringify(command)}\n`));
    conn.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    conn.on('end', () => {
      try {
        const reply = JSON.parse(text) as FaultCommandReply;
        done(reply.ok ? { socket, pid, outcome: 'applied', status: reply.status } : { socket, pid, outcome: 'refused', error: reply.error });
      } catch {
        done({ socket, pid, outcome: 'refused', error: { code: 'BLOCKRIG_E_INTERNAL', message: `unreadable answer: ${text.slice(0, 200)}` } });
      }
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') {
        try {
          unlinkSync(socket);
        } catch {
          // removed meanwhile
        }
        done({ socket, pid, outcome: 'stale' });
      } else done({ socket, pid, outcome: 'refused', error: { code: 'BLOCKRIG_E_INTERNAL', message: err.message } });
    });
  });
}
