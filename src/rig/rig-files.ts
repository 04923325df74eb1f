/**
 * The embedded rig's working folder (`.blockrig/rig/` by default): sparse member images per cluster, the
 * metadata region and volume table images, a fresh secret and login, and the rig configuration file that
 * `blockrig server`, `cluster up` and `agent` read. Cluster c1 holds a raid5 (three members and a spare),
 * cluster c2 a raid1 (two members and a spare); server A runs on c1, server B on c2.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, ftruncateSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RigConfig } from '../wire/index.js';

/** One cluster of the embedded rig. */
export interface RigClusterPlan {
  id: string;
  /** The server running on this cluster's host. */
  server: string;
  volume: { name: string; level: 'raid1' | 'raid5'; members: string[]; spare: string };
  devices: { name: string; path: string }[];
  /** The metadata region, whose volume table holds the cluster's volume. */
  meta: string;
  controllers: number;
}

/** Everything the rig writes before starting processes. */
export interface RigPlan {
  dir: string;
  configPath: string;
  clusters: RigClusterPlan[];
  user: string;
  /** The login password: printed once for the person who ran `npm start`, stored mode 0600. */
  password: string;
  passwordFile: string;
}

/** Sizes of the images. */
export interface RigSizes {
  member: number;
  meta: number;
}

function sparseFile(path: string, size: number): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Plans and writes the working folder; `controllers`: controller processes per cluster. */
export function writeRigFiles(dir: string, sizes: RigSizes, options: { controllers: [number, number] }): RigPlan {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const clusters: RigClusterPlan[] = [
    { id: 'c1', server: 'A', level: 'raid5' as const, members: 3, volume: 'v5' },
    { id: 'c2', server: 'B', level: 'raid1' as const, members: 2, volume: 'v1' },
  ].map((c, i) => {
    const cdir = join(dir, c.id);
    mkdirSync(cdir, { recursive: true });
    const devices = Array.from({ length: c.members + 1 }, (_, d) => ({ name: `d${d}`, path: join(cdir, `d${d}.img`) }));
    for (const d of devices) sparseFile(d.path, sizes.member);
    const meta = join(cdir, 'meta.img');
    sparseFile(meta, sizes.meta);
    const members = devices.slice(0, c.members).map((d) => d.path);
    const spare = devices[c.members]?.path ?? '';
    return { id: c.id, server: c.server, volume: { name: c.volume, level: c.level, members, spare }, devices, meta, controllers: options.controllers[i] ?? 0 };
  });
  const password = randomBytes(9).toString('base64url');
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const config: RigConfig = {
    secret: randomBytes(24).toString('base64url'),
    servers: clusters.map((c) => ({ id: c.server, cluster: c.id, listen: { host: '127.0.0.1', port: 0 }, addressFile: join(dir, `server-${c.server}.addr`) })),
    clusters: clusters.map((c) => ({
      id: c.id,
      dataDir: join(dir, c.id, 'data'),
      devices: c.devices.map((d) => ({ name: d.name, uri: d.path })),
      meta: c.meta,
      controllers: c.controllers,
    })),
    users: [{ name: 'admin', password }],
    timing: { heartbeatMs: 500, agentExpiryMs: 2500, probeMs: 1000, storePollMs: 1000, retryMs: 500, takeoverMs: 3000, sessionTtlMs: 12 * 3600 * 1000 },
  };
  const configPath = join(dir, 'rig.yaml');
  writeFileSync(configPath, stringify(config), { mode: 0o600 });
  chmodSync(configPath, 0o600);
  return { dir, configPath, clusters, user: 'admin', password, passwordFile };
}
