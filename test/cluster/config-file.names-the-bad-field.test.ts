/** The rig configuration file: validated at load, errors name the field; relative paths resolve next to the file. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRigConfig } from '../../src/cluster/config-file.js';
import { isBlockrigError } from '../../src/errors.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-config-');

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function loadError(path: string): { code: string; field: unknown; message: string } {
  try {
    loadRigConfig(path);
  } catch (err) {
    if (isBlockrigError(err)) return { code: err.code, field: err.details.field, message: err.message };
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}

const valid = `secret: "0123456789abcdef0"
servers: [{ id: A, addressFile: a.addr }]
clusters: [{ id: c1, dataDir: data/c1, devices: [{ name: d0, uri: "memory:?size=1MiB" }] }]
`;

describe('rig configuration file', () => {
  it('loads a valid file, resolving paths next to it and filling default timing', () => {
    const rig = loadRigConfig(write('ok.yaml', valid));
    expect(rig.config.clusters[0]?.dataDir).toBe(join(dir, 'data/c1'));
    expect(rig.config.servers[0]?.addressFile).toBe(join(dir, 'a.addr'));
    expect(rig.config.servers[0]?.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(rig.config.timing.heartbeatMs).toBe(1000);
  });

  it('names a short secret', () => {
    const err = loadError(write('short.yaml', valid.replace('"0123456789abcdef0"', '"short"')));
    expect(err.code).toBe('BLOCKRIG_E_CONFIG');
    expect(err.field).toBe('secret');
    expect(err.message).not.toContain('short"');
  });

  it('names a bad cluster id and an unknown key', () => {
    expect(loadError(write('id.yaml', valid.replace('id: c1', 'id: "c 1"'))).field).toBe('clusters.0.id');
    expect(loadError(write('key.yaml', `${valid}colour: red\n`)).message).toContain('colour');
  });

  it('names a server agents cannot find', () => {
    expect(loadError(write('nourl.yaml', valid.replace('addressFile: a.addr', 'cluster: c1'))).field).toBe('servers.0.url');
  });

  it('the CLI exits 2 on a bad file and never prints the secret', () => {
    const path = write('dup.yaml', valid.replace('servers: [{ id: A, addressFile: a.addr }]', 'servers: [{ id: A, addressFile: a.addr }, { id: A, addressFile: b.addr }]'));
    const res = runCli(['server', '--config', path, '--id', 'A']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('server id "A" appears twice');
    expect(res.stderr + res.stdout).not.toContain('0123456789abcdef0');
  });
});
