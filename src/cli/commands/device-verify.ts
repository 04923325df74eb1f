/**
 * `blockrig device verify URI`: a destructive write-and-verify pass over a device, the operator's quick
 * check that a device (a new loop device, an NBD export, a disk in a rig) stores what it is given. It
 * refuses a device carrying foreign data (a filesystem, a partition table) unless `--force`.
 */
import type { Command } from 'commander';
import { openDevice } from '../../../drivers/index.js';
import { redactUri } from '../../../drivers/uri.js';
import { InvalidArgumentError } from '../../errors.js';
import { formatRate, formatSize, parseSize } from '../../units.js';
import { action } from '../command.js';
import { printFields, printJson } from '../output.js';
import { writeAndVerify } from '../pattern-check.js';

/** Adds `verify` under the `device` command. */
export function addDeviceVerifyCommand(device: Command): void {
  device
    .command('verify')
    .description('OVERWRITE part of a device with a pattern, flush, read it back and verify every byte')
    .argument('<uri>', 'device path or URI')
    .option('--bytes <size>', 'how much to write and verify (capped at the device size)', '64MiB')
    .option('--offset <size>', 'where to start', '0')
    .option('--seed <n>', 'pattern seed', '1')
    .option('--force', 'write even though the device carries data blockrig did not write (a filesystem, a partition table)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  blockrig device verify /dev/loop3\n  blockrig device verify "loop:///var/tmp/disk.img?direct=1" --bytes 1GiB\n  blockrig device verify ./old-disk.img --force --json',
    )
    .action(
      action(async (uri: string, options: { bytes: string; offset: string; seed: string; force?: boolean; json?: boolean }) => {
        const wanted = parseSize(options.bytes, '--bytes');
        const offset = parseSize(options.offset, '--offset');
        const seed = Number(options.seed);
        if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError(`--seed ${options.seed} must be a non-negative integer`, { details: { field: '--seed' } });
        const dev = await openDevice(uri, { force: options.force === true });
        try {
          const bs = dev.logicalBlockSize;
          if (offset % bs !== 0 || offset >= dev.size) {
            throw new InvalidArgumentError(`--offset ${options.offset} must be a multiple of the ${bs}-byte block size below the device size ${dev.size}`, { details: { field: '--offset' } });
          }
          const bytes = Math.floor(Math.min(wanted, dev.size - offset) / bs) * bs;
          const result = await writeAndVerify(dev, { seed, bytes, offset });
          const report = { uri: redactUri(dev.uri), driver: dev.driver, offset, ...result, verified: true };
          if (options.json === true) printJson(report);
          else
            printFields({
              uri: report.uri,
              driver: report.driver,
              verified: `${formatSize(bytes)} from offset ${offset}`,
              write: formatRate(result.writeBytesPerSecond),
              read: formatRate(result.readBytesPerSecond),
            });
        } finally {
          await dev.close();
        }
      }),
    );
}
