/**
 * Socket writes that leave together: the socket is corked from the first write of an event-loop turn
 * until that turn's check phase (`setImmediate`), so everything written meanwhile goes out in one writev
 * instead of a system call each. The NBD server's replies and the iSCSI initiator's command PDUs are
 * produced in bursts (many requests complete in one turn at a deep queue), where this saves most of the
 * per-message socket cost; a lone message waits only for the rest of its turn.
 */
import type { Socket } from 'node:net';

/** Batches writes to one socket; see the module comment. */
export class BatchedSocketWrites {
  readonly #socket: Socket;
  #corked = false;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Queues `bytes`; `written` runs once the socket no longer needs them (or failed). */
  write(bytes: Uint8Array, written?: () => void): void {
    const socket = this.#socket;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      setImmediate(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes, written);
  }
}
