/**
 * Socket writes that leave together: the socket is corked from the first write until the work started by
 * the current I/O callback is done (its next-tick and promise queues ran), so every message that callback
 * produced goes out in one writev instead of a system call each. The NBD server's replies (page-cache reads
 * answered while the requests of one received chunk are parsed) and the iSCSI initiator's commands (issued
 * as the completions of one received chunk come in) arrive in such bursts. Uncorking on `process.nextTick`
 * rather than at the loop's check phase adds no wait: measured against tgtd, waiting for the check phase
 * held back the next commands of a sequential read while the loop was still receiving data.
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
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes, written);
  }
}
