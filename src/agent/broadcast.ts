/**
 * Broadcast of stored changes to the cluster's other agents (claims 000/17-18: changes are stored, then
 * broadcast, and each agent transmits to its own server). Each agent listens on a Unix socket in the
 * cluster's data folder; after storing a change an agent writes one line to every other agent's socket.
 * The message only says "read the store": the store is the truth, so a lost message costs at most one
 * store poll interval, never a change.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';

/** Listens for and sends change notifications. */
export class ChangeBroadcast {
  readonly socketPath: string;
  #server: Server | null = null;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** Starts listening; `onNotice` runs for every notification received. */
  async listen(onNotice: (seq: number) => void): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true });
    rmSync(this.socketPath, { force: true });
    const server = createServer((socket) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > 4096) socket.destroy();
      });
      socket.on('end', () => {
        for (const line of text.split('\n')) {
          const seq = Number(/^changed (\d+)$/.exec(line.trim())?.[1] ?? NaN);
          if (Number.isFinite(seq)) onNotice(seq);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.#server = server;
  }

  /** Tells the agents listening on `sockets` that changes up to `seq` are stored. Never throws. */
  static async notify(sockets: readonly string[], seq: number): Promise<void> {
    await Promise.all(
      sockets.map(
        (path) =>
          new Promise<void>((resolve) => {
            const socket = createConnection(path);
            socket.setTimeout(1000, () => socket.destroy());
            socket.on('error', () => resolve());
            socket.on('close', () => resolve());
            socket.end(`changed ${seq}\n`);
          }),
      ),
    );
  }

  /** Stops listening and removes the socket. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
