/**
 * Real NBD peers for the tests: nbdkit, qemu-nbd and nbd-server started on unix sockets in a temp folder,
 * and blockrig's own server in-process. Each is stopped by the pid we started (or closed) when the test
 * file ends. A missing program fails the test with the Debian package to install.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { requireCommand } from '../support/requirements.js';
import { startProcess, waitFor, type TestProcess } from '../support/processes.js';
import { NbdServer } from '../../src/nbd/server.js';
import type { BlockDevice } from '../../drivers/types.js';
import type { ExportOptions } from '../../src/nbd/server-export.js';

/** Daemons that forked away from the process we started, by the pid they wrote; and in-process servers. */
const daemonPids = new Set<number>();
const servers = new Set<NbdServer>();

// Registered at import, so on the test file's root suite: runs once when the file ends.
afterAll(async () => {
  for (const pid of daemonPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await Promise.all([...servers].map((s) => s.close()));
});

/** A running peer and the URI of its export. */
export interface RunningPeer {
  readonly uri: string;
  readonly socketPath: string;
  readonly process?: TestProcess;
}

/** The URI of export `name` on a unix socket. */
export function unixUri(socketPath: string, name: string, query = ''): string {
  return `nbd+unix:///${encodeURIComponent(name)}?socket=${socketPath}${query === '' ? '' : `&${query}`}`;
}

async function waitForSocket(socketPath: string, peer: TestProcess, what: string): Promise<void> {
  await waitFor(() => existsSync(socketPath) || peer.child.exitCode !== null, 15_000, `${what} to listen on ${socketPath}`);
  if (!existsSync(socketPath)) throw new Error(`${what} exited before listening: ${peer.stderr()}`);
}

/** Starts `nbdkit PLUGIN ARGS...` on a unix socket (export name is ignored by nbdkit; we use ""). */
export async function startNbdkit(dir: string, tag: string, pluginArgs: readonly string[], extra: readonly string[] = []): Promise<RunningPeer> {
  const nbdkit = requireCommand('nbdkit', 'nbdkit');
  const socketPath = join(dir, `nbdkit-${tag}.sock`);
  rmSync(socketPath, { force: true }); // a killed nbdkit leaves its socket behind
  const peer = startProcess(nbdkit, ['-f', '--exit-with-parent', '-U', socketPath, ...extra, ...pluginArgs]);
  await waitForSocket(socketPath, peer, 'nbdkit');
  return { uri: unixUri(socketPath, ''), socketPath, process: peer };
}

/** Starts qemu-nbd on a raw image file, allowing several clients. */
export async function startQemuNbd(dir: string, tag: string, image: string, name = 'disk'): Promise<RunningPeer> {
  const qemuNbd = requireCommand('qemu-nbd', 'qemu-utils');
  const socketPath = join(dir, `qemu-nbd-${tag}.sock`);
  const peer = startProcess(qemuNbd, ['-k', socketPath, '-f', 'raw', '-x', name, '--persistent', '--shared=8', '--cache=writeback', '--discard=unmap', image]);
  await waitForSocket(socketPath, peer, 'qemu-nbd');
  return { uri: unixUri(socketPath, name), socketPath, process: peer };
}

/**
 * Starts nbd-server (the reference server) on a unix socket, exporting `image`. In the foreground (-d) it
 * serves a single client and exits, so it runs as the daemon it is and is stopped by the pid it writes.
 */
export async function startNbdServer(dir: string, tag: string, image: string, name = 'disk'): Promise<RunningPeer> {
  const nbdServer = requireCommand('nbd-server', 'nbd-server');
  const socketPath = join(dir, `nbd-server-${tag}.sock`);
  const config = join(dir, `nbd-server-${tag}.conf`);
  const pidFile = join(dir, `nbd-server-${tag}.pid`);
  writeFileSync(config, `[generic]\n  unixsock = ${socketPath}\n  allowlist = true\n[${name}]\n  exportname = ${image}\n  flush = true\n  fua = true\n  trim = true\n`);
  const starter = startProcess(nbdServer, ['-C', config, '-p', pidFile]);
  await waitFor(() => existsSync(socketPath) && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 15_000, `nbd-server to listen on ${socketPath}`).catch((err: unknown) => {
    throw new Error(`nbd-server did not start: ${starter.stderr()} (${String(err)})`);
  });
  daemonPids.add(Number(readFileSync(pidFile, 'utf8').trim()));
  return { uri: unixUri(socketPath, name), socketPath };
}

/** Starts blockrig's server in this process on a unix socket; closed when the test file ends. */
export async function startBlockrigServer(dir: string, tag: string, exports: readonly { name: string; device: BlockDevice; options?: ExportOptions }[]): Promise<{ server: NbdServer; socketPath: string }> {
  const socketPath = join(dir, `blockrig-${tag}.sock`);
  const server = new NbdServer();
  for (const e of exports) server.addExport(e.name, e.device, e.options);
  await server.listen({ kind: 'unix', path: socketPath });
  servers.add(server);
  return { server, socketPath };
}
