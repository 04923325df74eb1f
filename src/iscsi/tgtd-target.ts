/**
 * A tgtd (Debian `tgt`) of our own, the iSCSI target blockrig's tests, benchmarks and rigs run against:
 * started on a free iSCSI port and its own control port, so that several test files, benchmarks, rigs and
 * other users' tgtd instances never meet; targets with LUNs on sparse files in a folder; teardown with
 * `tgtadm --op delete` of its targets, then SIGKILL of the pid we started (tgtd in the foreground ignores
 * SIGTERM). `crash()` and `start()` again simulate a target restart on one portal.
 *
 * Product code (no test framework): the tests' `useTgtd()` (test/iscsi/use-tgtd.ts) ties one to a test
 * file's life, `bench/iscsi.bench.ts` starts one per run. Needs root and the `tgt` package; without them
 * `launch()` fails with `BLOCKRIG_E_PERMISSION` or `BLOCKRIG_E_MISSING_DEPENDENCY` naming what to do.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { MissingDependencyError, PermissionError } from '../errors.js';

/** One LUN to create. */
export interface TgtdLunSpec {
  lun: number;
  sizeBytes: number;
  /** Turn on thin provisioning: LBPME, UNMAP in the Block Limits page, punch-hole discards. */
  thin?: boolean;
  /** Write-protect the LUN (MODE SENSE reports WP; writes fail with DATA PROTECT). */
  readOnly?: boolean;
  /** Back the LUN with this existing image instead of a new sparse file in the folder (`sizeBytes` unused). */
  image?: string;
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

/** A tgtd process we started, with the targets we created on it. */
export class Tgtd {
  #process: ChildProcess | undefined;
  #stderr = '';
  #targets: TgtdTargetSpec[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly controlPort: number,
  ) {}

  /** The log tgtd wrote to stderr (its last 4,000 characters). */
  get log(): string {
    return this.#stderr;
  }

  /** Starts tgtd on a free port. The caller stops it (`stop()`). */
  static async launch(dir: string): Promise<Tgtd> {
    if (process.getuid?.() !== 0) throw new PermissionError('tgtd needs root (it opens /var/run/tgtd and binds its portal): run as root');
    for (const command of ['tgtd', 'tgtadm']) findProgram(command, 'tgt');
    for (let attempt = 0; ; attempt++) {
      const tgtd = new Tgtd(dir, await freePort(), freeControlPort());
      try {
        await tgtd.start();
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
    const child = spawn('tgtd', ['-f', '-C', String(this.controlPort), '--iscsi', `portal=127.0.0.1:${this.port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#process = child;
    child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-4000)));
    child.on('error', (err) => (this.#stderr += String(err)));
    await until(() => {
      if (child.exitCode !== null) throw new Error(`tgtd exited at start: ${this.#stderr}`);
      return this.#tgtadmOk(['--mode', 'target', '--op', 'show']);
    }, `the tgtd control socket ${this.controlPort}`);
    await until(() => canConnect(this.port), `tgtd listening on 127.0.0.1:${this.port}`);
    const targets = this.#targets;
    this.#targets = [];
    for (const target of targets) this.addTarget(target, false);
  }

  /** Creates a target with its LUNs (files are created, or kept when `fresh` is false). */
  addTarget(spec: TgtdTargetSpec, fresh = true): void {
    const tid = String(this.#targets.length + 1);
    this.tgtadm(['--mode', 'target', '--op', 'new', '--tid', tid, '--targetname', spec.iqn]);
    for (const lun of spec.luns) {
      const file = lun.image ?? this.backingFile(spec.iqn, lun.lun);
      if (lun.image === undefined && (fresh || !existsSync(file))) {
        writeFileSync(file, '');
        truncateSync(file, lun.sizeBytes);
      }
      this.tgtadm(['--mode', 'logicalunit', '--op', 'new', '--tid', tid, '--lun', String(lun.lun), '--backing-store', file, '--bstype', 'rdwr']);
      if (lun.thin === true) this.tgtadm(['--mode', 'logicalunit', '--op', 'update', '--tid', tid, '--lun', String(lun.lun), '--params', 'thin_provisioning=1']);
      if (lun.readOnly === true) this.tgtadm(['--mode', 'logicalunit', '--op', 'update', '--tid', tid, '--lun', String(lun.lun), '--params', 'readonly=1']);
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
    const child = this.#process;
    this.#process = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    this.#removeControlFiles();
  }

  /** Deletes every target with tgtadm, then SIGKILLs the tgtd we started. */
  async stop(): Promise<void> {
    if (this.#process !== undefined && this.#process.exitCode === null) {
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

/** The path of `command` on PATH (or in /usr/sbin, /sbin, where tgt installs); `MissingDependencyError` when absent. */
function findProgram(command: string, debianPackage: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  }
  throw new MissingDependencyError(`the program "${command}"`, debianPackage);
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

/** Polls `check` every 50 ms for up to 10 s. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after 10 s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
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
