/**
 * The file driver's URI options: `file:///path?direct=1&create=1&size=64MiB&blockSize=4096`, and the same
 * query on a plain path (`/dev/loop3?direct=1`). See `docs/drivers.md` ("file").
 */
import type { FileDeviceOptions } from './file.js';
import type { OpenOptions } from './types.js';
import { booleanParam, type DeviceUri } from './uri.js';
import { InvalidArgumentError } from '../src/errors.js';
import { parseSize } from '../src/units.js';

/** Reads the file driver's options from a parsed URI; a bad option throws `InvalidArgumentError`. */
export function fileOptionsFromUri(uri: DeviceUri, options: OpenOptions): FileDeviceOptions {
  let path = uri.path ?? '';
  let params = uri.params;
  if (uri.url === undefined && path.includes('?')) {
    params = new URLSearchParams(path.slice(path.indexOf('?') + 1));
    path = path.slice(0, path.indexOf('?'));
  }
  const withParams: DeviceUri = { ...uri, params };
  const sizeText = params.get('size');
  const create = booleanParam(withParams, 'create');
  if (create && sizeText === null) {
    throw new InvalidArgumentError(`${uri.text}: create=1 needs a size, as in file:///path/disk.img?create=1&size=64MiB`, { details: { field: 'size' } });
  }
  const blockSizeText = params.get('blockSize');
  const blockSize = blockSizeText === null ? undefined : parseSize(blockSizeText, 'blockSize');
  if (blockSize !== undefined && (blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0)) {
    throw new InvalidArgumentError(`blockSize=${blockSizeText} must be a power of two from 512 to 65536`, { details: { field: 'blockSize', value: blockSizeText } });
  }
  return {
    path,
    uri: uri.text,
    readOnly: options.readOnly,
    force: options.force,
    direct: booleanParam(withParams, 'direct'),
    createSize: create && sizeText !== null ? parseSize(sizeText) : undefined,
    blockSize,
  };
}
