/**
 * The rig's iSCSI target: one tgtd (Debian `tgt`) per rig, on a free portal port and its own control
 * port so it never meets another tgtd on the machine, with one target per `kind: iscsi` device whose
 * LUN 1 is backed by the device's image file. tgtd in the foreground ignores SIGTERM, so teardown deletes
 * the targets with `tgtadm --op delete` and then SIGKILLs the pid it started (`DESIGN.md`, "Real
 * components"). The product's own version of the idea in `test/iscsi/tgtd.ts`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import type { Clock } from '../../src/clock.js';
import { findProgram, waitUntil, type ProcessSupervisor, type RigProcess } from './processes.js';
import type { Teardown } from './teardown.js';

const CONTROL_DIR = '/var/run/tgtd';

/** A running tgtd of the rig. */
export interface RigTgtd {
  readonly process: RigProcess;
  /** Adds a target for `name` with LUN 1 on `image`; returns the device URI. */
  addLun(name: string, image: string): string;
}

/** Starts tgtd and registers its teardown. */
export async function startTgtd(ctx: { processes: ProcessSupervisor; clock: Clock; teardown: Teardown; log: (line: string) => void }): Promise<RigTgtd> {
  const tgtd = findProgram('tgtd', 'tgt');
  const tgtadmPath = findProgram('tgtadm', 'tgt');
  const port = await freePort();
  const control = freeControlPort();
  const tgtadm = (args: readonly string[]): string =>
    execFileSync(tgtadmPath, ['-C', String(control), '--lld', 'iscsi', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  const proc = await ctx.processes.start('tgtd', tgtd, ['-f', '-C', String(control), '--iscsi', `portal=127.0.0.1:${port}`]);
  let targets = 0;
  ctx.teardown.push('stop tgtd', async () => {
    for (let tid = 1; tid <= targets && !proc.exited; tid++) {
      try {
        tgtadm(['--mode', 'target', '--op', 'delete', '--force', '--tid', String(tid)]);
      } catch {
        // Already gone; the SIGKILL below ends the rest.
      }
    }
    ctx.processes.signal(proc.pid, 'SIGKILL');
    await proc.exit;
    for (const suffix of ['', '.lock']) rmSync(join(CONTROL_DIR, `socket.${control}${suffix}`), { force: true });
  });
  let controlReady = false;
  let listening = false;
  await waitUntil(() => (controlReady && listening) || proc.exited, 10_000, `tgtd on 127.0.0.1:${port}`, ctx.clock, () => {
    if (!controlReady) {
      try {
        tgtadm(['--mode', 'target', '--op', 'show']);
        controlReady = true;
      } catch {
        // Not up yet.
      }
    }
    void canConnect(port).then((ok) => (listening = ok));
  });
  if (proc.exited) throw new Error(`tgtd exited at start:\n${proc.log()}`);
  ctx.log(`tgtd: portal 127.0.0.1:${port}, control port ${control}`);
  return {
    process: proc,
    addLun: (name, image) => {
      const tid = String(++targets);
      const iqn = `iqn.2026-11.org.blockrig.hil:${name}`;
      tgtadm(['--mode', 'target', '--op', 'new', '--tid', tid, '--targetname', iqn]);
      tgtadm(['--mode', 'logicalunit', '--op', 'new', '--tid', tid, '--lun', '1', '--backing-store', image, '--bstype', 'rdwr']);
      tgtadm(['--mode', 'target', '--op', 'bind', '--tid', tid, '--initiator-address', 'ALL']);
      return `iscsi://127.0.0.1:${port}/${iqn}/1`;
    },
  };
}

/** A TCP port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** A tgtd control port (up to 32767) whose socket file does not exist. */
function freeControlPort(): number {
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * 22000);
    if (!existsSync(join(CONTROL_DIR, `socket.${port}`)) && !existsSync(join(CONTROL_DIR, `socket.${port}.lock`))) return port;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
