/**
 * Positional I/O on a file descriptor for the file driver: whole-request reads and writes that continue
 * after short transfers. They use the callback API on the FileHandle's descriptor: the FileHandle owns
 * the fd (and closes it), but its promise methods cost about a quarter more per request, which shows on
 * 4 KiB I/O. Errors are Node system errors; the driver maps them with `fromSystemError`.
 */
import { read as fsRead, write as fsWrite } from 'node:fs';

function preadAt(fd: number, buffer: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buffer, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function pwriteAt(fd: number, buffer: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, buffer, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Fills `buffer` from `position`; returns how many bytes were read (fewer only at end of file). */
export async function readFully(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < buffer.length) {
    const n = await preadAt(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `data` at `position`. A write that makes no progress fails with EIO. */
export async function writeFully(fd: number, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const n = await pwriteAt(fd, data, done, data.length - done, position + done);
    if (n === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += n;
  }
}
