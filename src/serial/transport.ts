/**
 * A byte stream to serial hardware. `openSerialPort` opens a real port by path with `serialport`
 * (a tty, a USB adapter, or a pseudo-terminal); `createLoopbackPair` is a real in-process pair for fast
 * unit tests. Everything above (console, relay, simulators) speaks only this interface.
 */
import { SerialPort } from 'serialport';
import { SerialError } from '../errors.js';

/** One end of a serial line. */
export interface SerialTransport {
  /** Human-readable name (the device path). */
  readonly name: string;
  /** Sends bytes; resolves when they were handed to the OS. Rejects with `SerialError` when closed. */
  write(data: string | Uint8Array): Promise<void>;
  /** Registers a listener for received bytes; returns a function that removes it. */
  onData(listener: (chunk: Buffer) => void): () => void;
  /** Closes the port; idempotent. */
  close(): Promise<void>;
}

/** Options for opening a real port. */
export interface SerialPortOptions {
  baudRate?: number;
}

/**
 * Opens a serial port by path. Ports are opened by path only: this machine class has no udev, so
 * enumeration (`SerialPort.list()`) is not used.
 */
export async function openSerialPort(path: string, options: SerialPortOptions = {}): Promise<SerialTransport> {
  const port = new SerialPort({ path, baudRate: options.baudRate ?? 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (err) reject(new SerialError(`cannot open serial port ${path}: ${err.message}; check the path and that nothing else holds it`, { cause: err }));
      else resolve();
    });
  });
  let closed = false;
  return {
    name: path,
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        if (closed) {
          reject(new SerialError(`serial port ${path} is closed`));
          return;
        }
        port.write(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data), (err) => {
          if (err) reject(new SerialError(`write to ${path} failed: ${err.message}`, { cause: err }));
          else port.drain(() => resolve());
        });
      }),
    onData: (listener) => {
      port.on('data', listener);
      return () => port.off('data', listener);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed || !port.isOpen) {
          closed = true;
          resolve();
          return;
        }
        closed = true;
        port.close(() => resolve());
      }),
  };
}

/** Two connected in-process ends: what one writes, the other receives (asynchronously, like a wire). */
export function createLoopbackPair(): [SerialTransport, SerialTransport] {
  const listeners: [Set<(chunk: Buffer) => void>, Set<(chunk: Buffer) => void>] = [new Set(), new Set()];
  const closed = [false, false];
  const end = (self: 0 | 1): SerialTransport => {
    const peer = self === 0 ? 1 : 0;
    return {
      name: `loopback-${self}`,
      write: (data) => {
        if (closed[self] === true) return Promise.reject(new SerialError(`loopback-${self} is closed`));
        const chunk = Buffer.from(typeof data === 'string' ? Buffer.from(data) : data);
        setImmediate(() => {
          if (closed[peer] !== true) for (const l of listeners[peer]) l(chunk);
        });
        return Promise.resolve();
      },
      onData: (listener) => {
        listeners[self].add(listener);
        return () => listeners[self].delete(listener);
      },
      close: () => {
        closed[self] = true;
        return Promise.resolve();
      },
    };
  };
  return [end(0), end(1)];
}
