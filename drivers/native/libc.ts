/**
 * The few libc calls the file and loop drivers need and Node does not offer (ioctl, fallocate), bound
 * through koffi. libc is loaded on first use, so that importing a driver costs nothing on machines that
 * never open a file device. Each call returns the raw result; failures throw `NativeCallError`
 * carrying the errno name, which `fromSystemError` turns into a blockrig error like any Node fs error.
 *
 * Long calls (fallocate, BLKDISCARD, BLKZEROOUT) run on koffi's worker threads (`.async`) so that the
 * event loop keeps serving other I/O; koffi hands the worker's errno back with the result.
 */
import koffi, { type LibraryHandle } from 'koffi';
import { constants as osConstants } from 'node:os';

/** A failed libc call; `code` is the errno name (`EOPNOTSUPP`, `EINVAL`...), as on Node's own errors. */
export class NativeCallError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(call: string, errno: number) {
    const code = errnoName(errno);
    super(`${call} failed: ${code}`);
    this.code = code;
    this.errno = errno;
  }
}

/** The errno's symbolic name, or `E<number>` for one Node does not know. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `E${errno}`;
}

type KoffiFunction = ReturnType<LibraryHandle['func']>;

interface Bindings {
  ioctlValue: KoffiFunction;
  ioctlU64: KoffiFunction;
  ioctlInt: KoffiFunction;
  ioctlBuffer: KoffiFunction;
  fallocate: KoffiFunction;
}

let bindings: Bindings | undefined;

function libc(): Bindings {
  if (bindings) return bindings;
  const lib = koffi.load('libc.so.6');
  // ioctl is variadic in C; each argument shape gets its own non-variadic prototype, which has the same
  // calling convention on x86-64 and arm64 for one pointer or integer argument.
  bindings = {
    ioctlValue: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
    ioctlU64: lib.func('ioctl', 'int', ['int', 'unsigned long', koffi.out(koffi.pointer('uint64_t'))]),
    ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', koffi.out(koffi.pointer('int'))]),
    ioctlBuffer: lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
    fallocate: lib.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
  };
  return bindings;
}

function check(call: string, result: number): number {
  if (result < 0) throw new NativeCallError(call, koffi.errno());
  return result;
}

/** `ioctl(fd, request, &u64)`: reads a 64-bit value (BLKGETSIZE64). */
export function ioctlReadU64(fd: number, request: number, name: string): number {
  const out = [0];
  check(name, libc().ioctlU64(fd, request, out) as number);
  return Number(out[0]);
}

/** `ioctl(fd, request, &int)`: reads an int (BLKSSZGET, BLKPBSZGET, BLKROGET). */
export function ioctlReadInt(fd: number, request: number, name: string): number {
  const out = [0];
  check(name, libc().ioctlInt(fd, request, out) as number);
  return Number(out[0]);
}

/** `ioctl(fd, request, value)` with an integer argument (LOOP_CTL_GET_FREE, LOOP_SET_FD, LOOP_CLR_FD). */
export function ioctlValue(fd: number, request: number, value: number, name: string): number {
  return check(name, libc().ioctlValue(fd, request, value) as number);
}

/** `ioctl(fd, request, buffer)` with a struct passed by pointer (LOOP_CONFIGURE), synchronously. */
export function ioctlWithBuffer(fd: number, request: number, buffer: Buffer, name: string): number {
  return check(name, libc().ioctlBuffer(fd, request, buffer) as number);
}

/** `ioctl(fd, request, buffer)` on a worker thread (BLKDISCARD, BLKZEROOUT take a u64[2] range). */
export function ioctlWithBufferAsync(fd: number, request: number, buffer: Buffer, name: string): Promise<void> {
  return callAsync(libc().ioctlBuffer, name, [fd, request, buffer]);
}

/** `fallocate(fd, mode, offset, length)` on a worker thread. */
export function fallocateAsync(fd: number, mode: number, offset: number, length: number): Promise<void> {
  return callAsync(libc().fallocate, 'fallocate', [fd, mode, offset, length]);
}

function callAsync(fn: KoffiFunction, name: string, args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, result: number) => {
      if (err !== null && err !== undefined) reject(err instanceof Error ? err : new Error(`${name} failed: ${JSON.stringify(err)}`));
      else if (result < 0) reject(new NativeCallError(name, koffi.errno()));
      else resolve();
    });
  });
}

/** The address of a buffer's first byte, to check the alignment O_DIRECT needs. */
export function bufferAddress(buffer: Uint8Array): number {
  // A zero-length view may share no memory; its address is irrelevant then.
  if (buffer.byteLength === 0) return 0;
  return Number(koffi.address(buffer));
}
