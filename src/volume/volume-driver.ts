/**
 * The volume driver: `volume://NAME?meta=URI` assembles volume NAME from the volume table on the metadata
 * device URI (percent-encoded when it has its own query), so anything that opens devices by URI opens a
 * volume: `blockrig nbd serve`, `device probe`, and the controllers' task targets (fill, verify, checksum).
 *
 * It opens the volume as stored, with its member states, and does not write the table: a member that fails
 * while it is open is failed for this handle only. Use `blockrig volume serve` for a volume that clients
 * write while members may fail or be replaced; open it here read-only (or while nobody serves it).
 */
import type { DriverDescriptor } from '../../drivers/registry.js';
import type { BlockDevice, OpenOptions } from '../../drivers/types.js';
import type { DeviceUri } from '../../drivers/uri.js';
import { InvalidUriError, VolumeFailedError } from '../errors.js';
import { ParityVolume } from './parity-volume.js';
import { Raid1Volume } from './raid1.js';
import type { VolumeOptions } from './volume.js';
import { startStoredCopies } from './stored-copies.js';
import { VolumeTable } from './volume-table.js';

async function openVolumeUri(uri: DeviceUri, options: OpenOptions, openInner: (uri: string, options?: OpenOptions) => Promise<BlockDevice>): Promise<BlockDevice> {
  const name = decodeURIComponent(uri.url?.hostname ?? '');
  const meta = uri.params.get('meta');
  if (name === '' || meta === null || meta === '') throw new InvalidUriError(uri.text, 'a volume URI names the volume and its metadata device, as in volume://v5?meta=/dev/loop0');
  const metaDevice = await openInner(meta, { readOnly: true });
  let stored;
  try {
    stored = await new VolumeTable(metaDevice).get(name);
  } finally {
    await metaDevice.close();
  }
  const { config, members } = stored.entry;
  const readOnly = options.readOnly === true;
  const opened = await Promise.allSettled(config.members.map((m, i) => (members[i]?.state === 'failed' ? Promise.reject(new Error('failed')) : openInner(m, { readOnly }))));
  const devices = opened.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  const volumeOptions: VolumeOptions = {
    name,
    level: config.level,
    chunkSize: config.chunkSize,
    members: devices,
    memberStates: members.map((m, i) => (devices[i] === undefined ? undefined : { ...m })),
    errorThreshold: config.errorThreshold,
    readOnly,
    uri: uri.text,
  };
  try {
    const volume = config.level === 'raid1' ? new Raid1Volume(volumeOptions) : new ParityVolume(volumeOptions);
    if (volume.volumeState === 'failed') throw new VolumeFailedError(`volume ${name} has more failed or missing members than ${config.level} tolerates`, { details: { volume: name } });
    // Writes through this handle must reach a member's copy in progress too.
    if (!readOnly) await startStoredCopies(volume, stored.entry, (u) => openInner(u, {})).catch(async (err: unknown) => {
      await volume.close();
      throw err;
    });
    return volume;
  } catch (err) {
    await Promise.allSettled(devices.filter((d): d is BlockDevice => d !== undefined).map((d) => d.close()));
    throw err;
  }
}

/** Registry entry of the volume driver. */
export const volumeDriver: DriverDescriptor = {
  name: 'volume',
  schemes: ['volume'],
  summary: 'a raid1/raid5/raid6 volume from the volume table of a metadata device; volume://NAME?meta=URI',
  open: openVolumeUri,
};
