import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { createFileDevice } from '../../drivers/file.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from './contract.js';

const dir = tempDir('blockrig-file-');
const image = join(dir, 'disk.img');

for (const direct of [false, true]) {
  testDriver(`file (${direct ? 'O_DIRECT' : 'buffered'})`, {
    open: () => createFileDevice({ path: image, createSize: 8 * 1024 * 1024, direct }),
    reopenReadOnly: () => createFileDevice({ path: image, readOnly: true, direct }),
    cleanup: () => Promise.resolve(rmSync(image, { force: true })),
  });
}
