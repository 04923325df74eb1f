/**
 * A tgtd (Debian `tgt`) per test file: started on a free iSCSI port and its own control port, so that several
 * test files and other engineers' tgtd instances never meet; a target with LUNs on sparse files in a temp
 * folder; teardown with `tgtadm --op delete` of its targets, then SIGKILL of the pid we started (tgtd in the
 * foreground ignores SIGTERM). `crash()` and `start()` again simulate a target restart on the same portal.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { startProcess, waitFor, type TestProcess } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';

/** One LUN to create. */
export interface TgtdLunSpec {
  lun: number;
  sizeBytes: number;
  /** Turn on thin provisioning: LBPME, UNMAP in the Block Limits page, punch-hole discards. */
  thin?: boolean;
}

/** A target to create. */
export interface TgtdTargetSpec {
  iqn: string;
  luns: TgtdLunSpec[];
  /** Target parameters to set with `tgtadm --op update` (InitialR2T, ImmediateData, MaxRecvDataSegmentLength...). */
  params?: Record<string, string>;
  /** A CHAP account bound to the target (incoming). */
  chap?: { user: string; password: string };
}

const CONTROL_DIR = '/var/run/tgtd';

/** A tgtd process of this test file. */
export class Tgtd {
  #process: TestProcess | undefined;
  #targets: TgtdTargetSpec[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly controlPort: number,
  ) {}

  /** Starts tgtd on a free port; it is torn down when the test file ends. */
  static async launch(dir: string): Promise<Tgtd> {
    requireRoot('tgtd');
    requireCommand('tgtd', 'tgt');
    requireCommand('tgtadm', 'tgt');
    for (let attempt = 0; ; attempt++) {
      const tgtd = new Tgtd(dir, await freePort(), freeControlPort());
      try {
        await tgtd.start();
        afterAll(() => tgtd.stop());
        return tgtd;
      } catch (err) {
        await tgtd.stop();
        if (attempt >= 3) throw err;
      }
    }
  }

  /** The device URI of one LUN of a target. */
  uri(iqn: string, lun: number, userinfo = ''): string {
    return `iscsi://${userinfo}127.0.0.1:${this.port}/${iqn}/${lun}`;
  }

  /** The backing file of a LUN. */
  backingFile(iqn: string, lun: number): string {
    return join(this.dir, `${iqn.replace(/[^a-z0-9.-]/gi, '_')}-lun${lun}.img`);
  }

  /** Starts (or restarts, after `crash()`) tgtd and recreates the targets it had. */
  async start(): Promise<void> {
    this.#process = startProcess('tgtd', ['-f', '-C', String(this.controlPort), '--iscsi', `portal=127.0.0.1:${this.port}`]);
    const proc = this.#process;
    await waitFor(() => {
      if (proc.child.exitCode !== null) throw new Error(`tgtd exited at start: ${proc.stderr()}`);
      return this.#tgtadmOk(['--mode', 'target', '--op', 'show']);
    }, 10_000, 'tgtd control socket');
    await waitFor(() => canConnect(this.port), 10_000, `tgtd listening on 127.0.0.1:${this.port}`);
    const targets = this.#targets;
    this.#targets = [];
    for (const target of targets) this.addTarget(target, false);
  }

  /** Creates a target with its LUNs (files are created, or kept when `fresh` is false). */
  addTarget(spec: TgtdTargetSpec, fresh = true): void {
    const tid = String(this.#targets.length + 1);
    this.tgtadm(['--mode', 'target', '--op', 'new', '--tid', tid, '--targetname', spec.iqn]);
    for (const lun of spec.luns) {
      const file = this.backingFile(spec.iqn, lun.lun);
      if (fresh || !existsSync(file)) {
        writeFileSync(file, '');
        truncateSync(file, lun.sizeBytes);
      }
      this.tgtadm(['--mode', 'logicalunit', '--op', 'new', '--tid', tid, '--lun', String(lun.lun), '--backing-store', file, '--bstype', 'rdwr']);
      if (lun.thin === true) this.tgtadm(['--mode', 'logicalunit', '--op', 'update', '--tid', tid, '--lun', String(lun.lun), '--params', 'thin_provisioning=1']);
    }
    for (const [name, value] of Object.entries(spec.params ?? {})) this.tgtadm(['--mode', 'target', '--op', 'update', '--tid', tid, '--name', name, '--value', value]);
    if (spec.chap) {
      this.tgtadm(['--mode', 'account', '--op', 'new', '--user', spec.chap.user, '--password', spec.chap.password]);
      this.tgtadm(['--mode', 'account', '--op', 'bind', '--tid', tid, '--user', spec.chap.user]);
    }
    this.tgtadm(['--mode', 'target', '--op', 'bind', '--tid', tid, '--initiator-address', 'ALL']);
    this.#targets.push(spec);
  }

  /** Kills tgtd at once (SIGKILL of our pid), as a crashed or power-cycled target; `start()` brings it back. */
  async crash(): Promise<void> {
    const proc = this.#process;
    this.#process = undefined;
    if (proc === undefined || proc.child.exitCode !== null) return;
    proc.child.kill('SIGKILL');
    await proc.exited;
    this.#removeControlFiles();
  }

  /** Deletes every target with tgtadm, then SIGKILLs the tgtd we started. */
  async stop(): Promise<void> {
    if (this.#process !== undefined && this.#process.child.exitCode === null) {
      this.#targets.forEach((_, i) => this.#tgtadmOk(['--mode', 'target', '--op', 'delete', '--force', '--tid', String(i + 1)]));
    }
    await this.crash();
  }

  /** Runs tgtadm against this tgtd; throws with its output on failure. */
  tgtadm(args: readonly string[]): string {
    return execFileSync('tgtadm', ['-C', String(this.controlPort), '--lld', 'iscsi', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  }

  #tgtadmOk(args: readonly string[]): boolean {
    try {
      this.tgtadm(args);
      return true;
    } catch {
      return false;
    }
  }

  #removeControlFiles(): void {
    for (const suffix of ['', '.lock']) rmSync(join(CONTROL_DIR, `socket.${this.controlPort}${suffix}`), { force: true });
  }
}

/** A TCP port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A tgtd control port whose socket file does not exist (tgtd names it /var/run/tgtd/socket.N). */
function freeControlPort(): number {
  for (;;) {
    // tgtd accepts control ports up to 32767.
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
