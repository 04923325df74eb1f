/**
 * The fault control channel: a fault device's rules and offline state driven from outside the process that
 * holds it. Every process that opens `fault:<inner>?fault-control=DIR` listens on its own unix socket
 * `DIR/<pid>-<n>.sock` (removed on close) for one-line JSON commands; `fault-control-client.ts` sends a
 * command to every live socket of DIR, so that one operator command reaches every opener of a member (the
 * serving process and each controller process) before it returns. The client also keeps the desired state
 * in `DIR/state.json`, which an opener applies when it starts listening, so a process that opens the
 * device later starts with the rules already in force. See `docs/drivers.md`, "Fault control channel".
 *
 * Protocol, one exchange per connection: the client writes one JSON command and a newline; the device
 * applies it and answers one JSON line, `{ ok: true, status }` or `{ ok: false, error: { code, message } }`,
 * then closes. Commands are validated with zod here, at the boundary.
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, isBlockrigError } from '../src/errors.js';
import { faultRuleSchema, type FaultRule } from './fault-rules.js';

/** One command of the channel. */
export const faultCommandSchema = z.discriminatedUnion('op', [
  /** Adds a rule (replacing a rule with the same id); the client gives every broadcast rule an id. */
  z.strictObject({ op: z.literal('add'), rule: faultRuleSchema }),
  z.strictObject({ op: z.literal('remove'), id: z.string().min(1) }),
  /** Removes every rule; an offline state stays until `online`. */
  z.strictObject({ op: z.literal('clear') }),
  /** Takes the device offline, for `forMs` or until `online`. */
  z.strictObject({ op: z.literal('offline'), reason: z.string().min(1).optional(), forMs: z.number().positive().optional() }),
  z.strictObject({ op: z.literal('online') }),
  /** Changes nothing; answers the status. */
  z.strictObject({ op: z.literal('status') }),
]);

/** A validated command. */
export type FaultCommand = z.output<typeof faultCommandSchema>;

/** What an opener answers about its device. */
export interface FaultDeviceStatus {
  readonly pid: number;
  readonly uri: string;
  readonly available: boolean;
  readonly offline: boolean;
  readonly rules: readonly { rule: FaultRule; matched: number; fired: number }[];
}

/** An answer line. */
export type FaultCommandReply = { readonly ok: true; readonly status: FaultDeviceStatus } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** The desired state kept in `DIR/state.json` for later openers. */
export const faultControlStateSchema = z.strictObject({
  version: z.literal(1),
  rules: z.array(faultRuleSchema),
  /** Offline since a command; `until` is a wall-clock time in ms (null: until `online`). */
  offline: z.strictObject({ reason: z.string(), until: z.number().nullable() }).nullable(),
});
/** The stored desired state. */
export type FaultControlState = z.output<typeof faultControlStateSchema>;

/** The file holding the desired state of a control folder. */
export function faultStateFile(dir: string): string {
  return join(dir, 'state.json');
}

/** Reads `DIR/state.json`; no file is the empty state. A damaged file is an `InvalidArgumentError`. */
export function readFaultControlState(dir: string): FaultControlState {
  const file = faultStateFile(dir);
  if (!existsSync(file)) return { version: 1, rules: [], offline: null };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`${file} is not JSON: remove it (blockrig device fault clear ${dir} rewrites it)`, { cause: err, details: { field: 'state.json' } });
  }
  const parsed = faultControlStateSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`${file}: ${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { details: { field: 'state.json' } });
  return parsed.data;
}

/** Validates a command; a bad one throws `InvalidArgumentError` naming the field. */
export function parseFaultCommand(input: unknown): FaultCommand {
  const parsed = faultCommandSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new InvalidArgumentError(`fault command: ${field === '' ? '' : `${field}: `}${issue?.message ?? 'invalid'} (got ${JSON.stringify(input)})`, { details: { field: field === '' ? 'command' : field } });
}

/** What the listener needs of the device it drives (the fault device implements it). */
export interface FaultControlTarget {
  apply(command: FaultCommand): void;
  status(): FaultDeviceStatus;
}

/** Longest command line accepted; a rule is a few hundred bytes. */
const MAX_LINE = 64 * 1024;
/** `sun_path` is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
let socketsOpened = 0;

/** A device's listening socket in a control folder. */
export class FaultControlListener {
  /** The control folder. */
  readonly dir: string;
  /** This opener's socket in it. */
  readonly path: string;
  readonly #server: Server;

  private constructor(dir: string, path: string, server: Server) {
    this.dir = dir;
    this.path = path;
    this.#server = server;
  }

  /**
   * Creates DIR if needed, applies the desired state stored there, and listens on `DIR/<pid>-<n>.sock`.
   * The socket does not keep the process alive (it is unref'd): a device does not outlive its process.
   */
  static async listen(dir: string, target: FaultControlTarget): Promise<FaultControlListener> {
    const path = join(dir, `${process.pid}-${++socketsOpened}.sock`);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new InvalidArgumentError(`fault-control=${dir}: the socket path ${path} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket allows; use a shorter folder`, { details: { field: 'fault-control' } });
    }
    mkdirSync(dir, { recursive: true });
    const state = readFaultControlState(dir);
    for (const rule of state.rules) target.apply({ op: 'add', rule });
    if (state.offline !== null && (state.offline.until === null || state.offline.until > Date.now())) {
      target.apply({ op: 'offline', reason: state.offline.reason, ...(state.offline.until === null ? {} : { forMs: state.offline.until - Date.now() }) });
    }
    const server = createServer((socket) => serve(socket, target));
    // A socket left by a process with our pid (a pid reused after a kill -9) is stale by definition.
    if (existsSync(path)) unlinkSync(path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.unref();
    return new FaultControlListener(dir, path, server);
  }

  /** Stops listening and removes the socket file. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone: a client found it stale, or the folder was removed
    }
  }
}

/** Reads one command line, applies it and answers. */
function serve(socket: Socket, target: FaultControlTarget): void {
  let text = '';
  const answer = (reply: FaultCommandReply): void => {
    socket.end(`${JSON.stringify(reply)}\n`);
  };
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    const end = text.indexOf('\n');
    if (end < 0) {
      if (text.length > MAX_LINE) answer(failure(new InvalidArgumentError(`fault command longer than ${MAX_LINE} bytes`)));
      return;
    }
    socket.removeAllListeners('data');
    try {
      let input: unknown;
      try {
        input = JSON.parse(text.slice(0, end));
      } catch (err) {
        throw new InvalidArgumentError(`fault command is not JSON: ${(err as Error).message}`, { details: { field: 'command' } });
      }
      target.apply(parseFaultCommand(input));
      answer({ ok: true, status: target.status() });
    } catch (err) {
      answer(failure(err));
    }
  });
}

function failure(err: unknown): FaultCommandReply {
  return { ok: false, error: { code: isBlockrigError(err) ? err.code : 'BLOCKRIG_E_INTERNAL', message: (err as Error).message } };
}
