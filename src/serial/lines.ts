/** Line framing over a serial transport: CR LF or LF ends a line. */
import type { SerialTransport } from './transport.js';

/** Calls `handler` with each complete received line (without its ending); returns the unsubscribe function. */
export function onLines(transport: SerialTransport, handler: (line: string) => void): () => void {
  let pending = '';
  return transport.onData((chunk) => {
    pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.search(/\r?\n/)) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + (pending[newline] === '\r' ? 2 : 1));
      handler(line);
    }
  });
}
