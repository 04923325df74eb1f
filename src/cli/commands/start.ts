/**
 * `blockrig start`: the interim main job (`npm start`) until the full controller job exists. It does
 * real work on real devices: creates three file-backed member images in `.blockrig/start/`, drives each
 * through the file driver (and, as root, through a kernel loop device with O_DIRECT), writes a pattern,
 * flushes, reads it back and verifies every byte, probes each device, and prints a table with throughput.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDevice } from '../../../drivers/index.js';
import { systemClock, type Clock } from '../../clock.js';
import { InvalidArgumentError } from '../../errors.js';
import { formatRate, formatSize, parseSize } from '../../units.js';
import { action, type CommandModule } from '../command.js';
import { printJson, printTable } from '../output.js';
import { PATTERN_CHUNK, writeAndVerify } from '../pattern-check.js';
import { probeDevice } from './device.js';

/** One verified device in the start report. */
export interface StartRow {
  member: string;
  uri: string;
  driver: string;
  size: number;
  logicalBlockSize: number;
  physicalBlockSize: number;
  patternBytes: number;
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
  verified: boolean;
  signature: string | null;
}

const MEMBERS = 3;
const CHUNK = PATTERN_CHUNK;

/** Runs the start job in `dir`; returns one row per device exercised. */
export async function runStartJob(options: { dir: string; size: number; pattern: number; loop: boolean; clock?: Clock }): Promise<StartRow[]> {
  const clock = options.clock ?? systemClock;
  const work = join(options.dir, 'start');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const rows: StartRow[] = [];
  for (let member = 0; member < MEMBERS; member++) {
    const image = join(work, `member${member}.img`);
    const uris = [`file://${image}?create=1&size=${options.size}`];
    if (options.loop) uris.push(`loop://${image}?direct=1`);
    for (const [pass, uri] of uris.entries()) {
      const dev = await openDevice(uri);
      let speeds;
      try {
        speeds = await writeAndVerify(dev, { seed: member * 16 + pass + 1, bytes: patternBytes(options.pattern, dev.size), clock });
      } finally {
        await dev.close();
      }
      const probed = await probeDevice(uri.replace(/\?create=1&size=\d+$/, ''));
      rows.push({
        member: `member${member}`,
        uri: probed.uri,
        driver: probed.driver,
        size: probed.size,
        logicalBlockSize: probed.logicalBlockSize,
        physicalBlockSize: probed.physicalBlockSize,
        patternBytes: patternBytes(options.pattern, probed.size),
        writeBytesPerSecond: speeds.writeBytesPerSecond,
        readBytesPerSecond: speeds.readBytesPerSecond,
        verified: true,
        signature: probed.signature?.description ?? null,
      });
    }
  }
  return rows;
}

/** Whole 1 MiB chunks of pattern that fit on the device. */
function patternBytes(wanted: number, size: number): number {
  return Math.floor(Math.min(wanted, size) / CHUNK) * CHUNK;
}

/** True when this process may attach loop devices. */
function canUseLoop(): boolean {
  return process.getuid?.() === 0;
}

/** Registers `blockrig start`. */
export const startCommand: CommandModule = (program) => {
  program
    .command('start')
    .description('the main job (interim): create 3 member images, drive each through the file and loop drivers, verify a pattern, print throughput')
    .option('--dir <path>', 'working folder', '.blockrig')
    .option('--size <size>', 'size of each member image', '64MiB')
    .option('--pattern <size>', 'bytes of pattern written and verified per device', '32MiB')
    .option('--no-loop', 'skip the loop devices even when running as root')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  npm start\n  blockrig start --size 256MiB --pattern 128MiB\n  blockrig start --no-loop --json')
    .action(
      action(async (options: { dir: string; size: string; pattern: string; loop: boolean; json?: boolean }) => {
        const size = parseSize(options.size, '--size');
        const pattern = parseSize(options.pattern, '--pattern');
        if (pattern < CHUNK) throw new InvalidArgumentError(`--pattern ${options.pattern} is below 1 MiB: give at least 1MiB`, { details: { field: '--pattern', value: options.pattern } });
        const loop = options.loop && canUseLoop();
        const rows = await runStartJob({ dir: resolve(options.dir), size, pattern: Math.floor(pattern / CHUNK) * CHUNK, loop });
        if (options.json === true) {
          printJson({ workDir: resolve(options.dir, 'start'), loopDevices: loop, devices: rows });
          return;
        }
        printTable(rows, {
          MEMBER: (r) => r.member,
          DRIVER: (r) => r.driver,
          DEVICE: (r) => r.uri,
          SIZE: (r) => formatSize(r.size),
          BLOCKS: (r) => `${r.logicalBlockSize}/${r.physicalBlockSize}`,
          WRITE: (r) => formatRate(r.writeBytesPerSecond),
          READ: (r) => formatRate(r.readBytesPerSecond),
          VERIFIED: (r) => `${formatSize(r.patternBytes)} ok`,
          SIGNATURE: (r) => r.signature ?? '-',
        });
        if (!loop) process.stdout.write(`loop devices skipped (${options.loop ? 'not running as root' : '--no-loop'})\n`);
        process.stdout.write(`all ${rows.length} devices verified; images in ${resolve(options.dir, 'start')}\n`);
      }),
    );
};
