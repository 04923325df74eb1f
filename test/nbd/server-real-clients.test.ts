/**
 * `blockrig nbd serve` (the built CLI, as a real process) used by the real NBD clients: nbdinfo (with --map
 * and --list), nbdcopy both ways with the data compared, qemu-img convert both ways, qemu-io, and fio's nbd
 * engine with verify=crc32c.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-nbd-clients-');
const MiB = 1024 * 1024;
let base = '';

function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

beforeAll(async () => {
  const image = join(dir, 'served.img');
  writeFileSync(image, Buffer.alloc(32 * MiB));
  const server = startProcess(process.execPath, [CLI_PATH, 'nbd', 'serve', image, 'memory:?size=64MiB', '--listen', '127.0.0.1:0', '--name', 'file', '--name', 'mem', '--json']);
  await waitFor(() => server.stdout().trim().endsWith('}') || server.child.exitCode !== null, 20_000, 'blockrig nbd serve to listen');
  const started = JSON.parse(server.stdout()) as { listening: { port: number } };
  base = `nbd://127.0.0.1:${started.listening.port}`;
});

describe('blockrig nbd serve with real clients', () => {
  it('is described by nbdinfo with the flags and block sizes it advertises', () => {
    const info = JSON.parse(run(requireCommand('nbdinfo', 'libnbd-bin'), ['--json', `${base}/file`])) as {
      protocol: string;
      exports: Record<string, unknown>[];
    };
    expect(info.protocol).toBe('newstyle-fixed');
    const e = info.exports[0] as Record<string, unknown>;
    expect(e['export-size']).toBe(32 * MiB);
    expect(e).toMatchObject({ can_flush: true, can_fua: true, can_zero: true, can_multi_conn: true, is_read_only: false, block_size_minimum: 512, block_size_maximum: 32 * MiB });
    expect(e.contexts).toContain('base:allocation');
  });

  it('lists both exports to nbdinfo --list', () => {
    const out = run(requireCommand('nbdinfo', 'libnbd-bin'), ['--list', '--json', `${base}/`]);
    const names = (JSON.parse(out) as { exports: { 'export-name': string }[] }).exports.map((e) => e['export-name']);
    expect(names).toEqual(['file', 'mem']);
  });

  it('copies data in and out with nbdcopy (1 and 4 connections) and the bytes match', () => {
    const nbdcopy = requireCommand('nbdcopy', 'libnbd-bin');
    const source = join(dir, 'source.img');
    const data = randomBytes(32 * MiB);
    writeFileSync(source, data);
    run(nbdcopy, [source, `${base}/file`]);
    const back = join(dir, 'back.img');
    run(nbdcopy, ['--connections=4', '--requests=32', `${base}/file`, back]);
    expect(readFileSync(back).equals(data)).toBe(true);
    run(nbdcopy, ['--connections=1', `${base}/file`, `${base}/mem`]);
    const back2 = join(dir, 'back2.img');
    run(nbdcopy, [`${base}/mem`, back2]);
    expect(readFileSync(back2).subarray(0, 32 * MiB).equals(data)).toBe(true);
  });

  it('maps data and zero ranges for nbdinfo --map', () => {
    const nbdcopy = requireCommand('nbdcopy', 'libnbd-bin');
    const source = join(dir, 'sparse.img');
    const data = Buffer.alloc(32 * MiB);
    data.fill(0xa5, 8 * MiB, 9 * MiB);
    writeFileSync(source, data);
    run(nbdcopy, [source, `${base}/file`]);
    const map = JSON.parse(run(requireCommand('nbdinfo', 'libnbd-bin'), ['--map', '--json', `${base}/file`])) as { offset: number; length: number; type: number }[];
    const at = (offset: number): number => (map.find((e) => e.offset <= offset && offset < e.offset + e.length) as { type: number }).type;
    expect(at(0) & 2).toBe(2); // zero
    expect(at(8 * MiB) & 2).toBe(0); // data
    expect(at(20 * MiB) & 2).toBe(2);
    expect(map.reduce((n, e) => n + e.length, 0)).toBe(32 * MiB);
  });

  it('converts with qemu-img both ways and the bytes match', () => {
    const qemuImg = requireCommand('qemu-img', 'qemu-utils');
    const source = join(dir, 'qemu-source.img');
    const data = randomBytes(16 * MiB);
    writeFileSync(source, data);
    run(qemuImg, ['convert', '-n', '-f', 'raw', '-O', 'raw', source, `${base}/mem`]);
    const out = join(dir, 'qemu-out.img');
    run(qemuImg, ['convert', '-f', 'raw', '-O', 'raw', `${base}/mem`, out]);
    expect(readFileSync(out).subarray(0, 16 * MiB).equals(data)).toBe(true);
  });

  it('serves qemu-io pattern writes, unaligned writes, zeroing and discard', () => {
    const qemuIo = requireCommand('qemu-io', 'qemu-utils');
    const out = run(qemuIo, [
      '-f', 'raw',
      '-c', 'write -P 0x5a 4k 64k', '-c', 'read -P 0x5a 4k 64k',
      '-c', 'write -P 0x11 1 100', '-c', 'read -P 0x11 1 100', '-c', 'read -P 0x5a 4k 100',
      '-c', 'write -z 1M 1M', '-c', 'read -P 0 1M 1M',
      '-c', 'discard 8M 1M', '-c', 'flush',
      `${base}/mem`,
    ]);
    expect(out).not.toMatch(/failed|error/i);
    expect(out.match(/^read /gm)?.length).toBe(4);
  });

  it("passes fio's nbd engine with verify=crc32c at queue depth 16", () => {
    const fio = requireCommand('fio', 'fio');
    const out = run(fio, [
      '--name=verify', '--ioengine=nbd', `--uri=${base}/mem`, '--rw=randwrite', '--bs=4k', '--size=16m',
      '--iodepth=16', '--verify=crc32c', '--do_verify=1', '--verify_state_save=0', '--output-format=json', `--directory=${dir}`,
    ]);
    const job = (JSON.parse(out.slice(out.indexOf('{'))) as { jobs: { error: number; write: { io_bytes: number }; read: { io_bytes: number } }[] }).jobs[0];
    expect(job?.error).toBe(0);
    expect(job?.write.io_bytes).toBe(16 * MiB);
    expect(job?.read.io_bytes).toBe(16 * MiB);
  });
});
