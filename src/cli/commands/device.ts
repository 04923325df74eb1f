/** `blockrig device ...`: probe devices and list drivers. */
import { defaultRegistry, openDevice } from '../../../drivers/index.js';
import type { BlockDevice, DeviceDescription } from '../../../drivers/types.js';
import { detectDeviceSignature, type Signature } from '../../../drivers/signatures.js';
import { redactUri } from '../../../drivers/uri.js';
import { formatSize } from '../../units.js';
import { action, type CommandModule } from '../command.js';
import { addDeviceVerifyCommand } from './device-verify.js';
import { printFields, printJson, printTable } from '../output.js';

/** What `device probe` reports. */
export interface ProbeReport {
  uri: string;
  driver: string;
  size: number;
  logicalBlockSize: number;
  physicalBlockSize: number;
  available: boolean;
  capabilities: BlockDevice['capabilities'];
  /** The on-disk signature found (a filesystem, partition table, blockrig metadata), or null. */
  signature: Signature | null;
  /** What the driver adds through `describe()` (iSCSI: inquiry data, identifiers, capacity), when it does. */
  details?: DeviceDescription;
}

/** Opens a device read-only and describes it. Never writes. */
export async function probeDevice(uri: string): Promise<ProbeReport> {
  const dev = await openDevice(uri, { readOnly: true });
  try {
    return {
      uri: redactUri(dev.uri),
      driver: dev.driver,
      size: dev.size,
      logicalBlockSize: dev.logicalBlockSize,
      physicalBlockSize: dev.physicalBlockSize,
      available: dev.available,
      capabilities: dev.capabilities,
      // A device that cannot be read (offline, failing) is still described; its signature is then unknown.
      signature: dev.available ? ((await detectDeviceSignature(dev).catch(() => undefined)) ?? null) : null,
      ...(dev.describe && { details: dev.describe() }),
    };
  } finally {
    await dev.close();
  }
}

function capabilityList(caps: BlockDevice['capabilities']): string {
  const on = Object.entries(caps)
    .filter(([name, value]) => value && name !== 'readOnly')
    .map(([name]) => name);
  return on.length === 0 ? '-' : on.join(', ');
}

function signatureText(signature: Signature | null): string {
  if (signature === null) return 'none (blank or unrecognised)';
  if (signature.ours) return `${signature.description} (ours: writable)`;
  return `${signature.description} at offset ${signature.offset} (writes need --force)`;
}

export const deviceCommands: CommandModule = (program) => {
  const device = program.command('device').description('open, probe and list block devices');

  device
    .command('probe')
    .description('print size, block sizes, capabilities and availability of a device (opens it read-only)')
    .argument('<uri>', 'device path or URI: /dev/loop3, ./disk.img, memory:?size=64MiB, loop:///path/disk.img, nbd://host/export, iscsi://host/IQN/LUN')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  blockrig device probe /dev/loop0\n  blockrig device probe ./disk.img --json\n  blockrig device probe "memory:?size=1GiB"')
    .action(
      action(async (uri: string, options: { json?: boolean }) => {
        const report = await probeDevice(uri);
        if (options.json === true) printJson(report);
        else
          printFields({
            uri: report.uri,
            driver: report.driver,
            size: `${formatSize(report.size)} (${report.size} bytes)`,
            'block size': `${report.logicalBlockSize} logical, ${report.physicalBlockSize} physical`,
            access: report.capabilities.readOnly ? 'read-only' : 'read-write',
            capabilities: capabilityList(report.capabilities),
            availability: report.available ? 'available' : 'unavailable',
            signature: signatureText(report.signature),
            ...report.details,
          });
      }),
    );

  addDeviceVerifyCommand(device);

  device
    .command('drivers')
    .description('list the device drivers and their URI schemes')
    .option('--json', 'print JSON')
    .action(
      action(async (options: { json?: boolean }) => {
        const rows = defaultRegistry.drivers.map((d) => ({ name: d.name, schemes: d.schemes.join(', '), summary: d.summary }));
        if (options.json === true) printJson(rows);
        else printTable(rows, { DRIVER: (r) => r.name, SCHEMES: (r) => r.schemes, DESCRIPTION: (r) => r.summary });
        return Promise.resolve();
      }),
    );
};
