#!/usr/bin/env node
// Installs what blockrig needs on a fresh machine, before anything else runs (plain Node, no dependencies):
//   node scripts/setup.mjs <start|test|bench>
// 1. `npm ci` when node_modules is missing or older than package-lock.json.
// 2. The Debian packages that mode uses: installed with apt-get when running as root; otherwise a clear
//    message naming each missing package (the tests that need one then fail with the same message).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian package -> a command (or file) whose presence shows the package is installed. */
const PACKAGES = {
  iproute2: 'ip',
  nbdkit: 'nbdkit',
  'libnbd-bin': 'nbdinfo',
  'qemu-utils': 'qemu-nbd',
  fio: 'fio',
  socat: 'socat',
  tgt: 'tgtd',
  'libiscsi-bin': 'iscsi-ls',
  'nbd-server': 'nbd-server',
  chromium: 'chromium',
  'util-linux': 'losetup',
  e2fsprogs: 'mkfs.ext4',
};

/** Which packages each mode needs. */
const MODES = {
  start: ['util-linux'],
  test: ['util-linux', 'e2fsprogs', 'nbdkit', 'libnbd-bin', 'qemu-utils', 'fio', 'socat', 'tgt', 'libiscsi-bin', 'nbd-server', 'iproute2', 'chromium'],
  bench: ['util-linux', 'nbdkit', 'libnbd-bin', 'qemu-utils', 'fio', 'tgt', 'libiscsi-bin'],
};

const mode = process.argv[2] ?? 'test';
if (!(mode in MODES)) {
  console.error(`setup: unknown mode "${mode}"; use one of ${Object.keys(MODES).join(', ')}`);
  process.exit(2);
}

function log(message) {
  console.error(`[blockrig setup] ${message}`);
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 9)) {
    log(`Node.js ${process.versions.node} is too old: blockrig needs Node.js 20.9 or newer.`);
    process.exit(1);
  }
}

function ensureNodeModules() {
  const lock = join(root, 'package-lock.json');
  const marker = join(root, 'node_modules', '.package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (!stale) return;
  log('installing node modules (npm ci)...');
  let result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    // npm 11 can refuse its own lock file ("Missing: @rollup/rollup-android-arm-eabi from lock file":
    // it leaves other platforms' optional packages out). `npm install` takes the same locked versions.
    log('npm ci refused; installing the locked versions with npm install instead...');
    result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  }
  if (result.status !== 0) {
    log('installing node modules failed: check the network access to the npm registry and run it again.');
    process.exit(result.status ?? 1);
  }
}

function hasCommand(command) {
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin']);
  return paths.some((dir) => dir !== '' && existsSync(join(dir, command)));
}

function ensureDebianPackages() {
  const missing = MODES[mode].filter((pkg) => !hasCommand(PACKAGES[pkg]));
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !hasCommand('apt-get')) {
    log(`missing Debian packages: ${missing.join(' ')}`);
    log(`install them as root with: apt-get install -y ${missing.join(' ')}`);
    log('the tests that need them will fail, naming the missing package.');
    return;
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env }).status === 0;
  // Package installs must not start services: block service starts for the install's duration.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) execFileSync('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod +x ${policy}`]);
  try {
    if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', '--no-install-recommends', ...missing])) {
      log(`apt-get could not install ${missing.join(' ')}; the tests that need them will fail, naming the package.`);
    }
  } finally {
    if (ownPolicy) execFileSync('rm', ['-f', policy]);
  }
}

checkNode();
ensureNodeModules();
ensureDebianPackages();
