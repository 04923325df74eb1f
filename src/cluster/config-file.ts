/**
 * Loads the rig configuration file (YAML or JSON) and validates it with the wire schema. Relative paths
 * (`dataDir`, `addressFile`, `secretFile`) are taken relative to the file's folder. The secret is read
 * here and kept out of everything that is printed.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, NotFoundError, isBlockrigError } from '../errors.js';
import { parseAt, RigConfigSchema, type ClusterConfig, type RigConfig, type ServerConfig } from '../wire/index.js';

/** A loaded rig configuration with the secret resolved. */
export interface LoadedRig {
  readonly path: string;
  readonly config: RigConfig;
  /** The shared cluster secret. Never print it. */
  readonly secret: string;
}

/** Reads and validates a rig configuration file. Throws `ConfigError` naming the field. */
export function loadRigConfig(path: string): LoadedRig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the configuration file ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid YAML or JSON: ${(err as Error).message}`, { cause: err, details: { path } });
  }
  let config: RigConfig;
  try {
    config = parseAt(RigConfigSchema, raw, path);
  } catch (err) {
    if (isBlockrigError(err)) throw new ConfigError(err.message, { cause: err, details: { path, ...err.details } });
    throw err;
  }
  const base = dirname(resolve(path));
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  config = {
    ...config,
    secretFile: config.secretFile === undefined ? undefined : abs(config.secretFile),
    servers: config.servers.map((s) => ({ ...s, addressFile: s.addressFile === undefined ? undefined : abs(s.addressFile), dataDir: abs(s.dataDir ?? `server-${s.id}`) })),
    clusters: config.clusters.map((c) => ({ ...c, dataDir: abs(c.dataDir) })),
  };
  const ids = new Set<string>();
  for (const s of config.servers) {
    if (ids.has(s.id)) throw new ConfigError(`${path}: server id "${s.id}" appears twice`, { details: { path, field: 'servers.id' } });
    ids.add(s.id);
  }
  let secret = config.secret;
  if (secret === undefined && config.secretFile !== undefined) {
    try {
      secret = (readFileSync(config.secretFile, 'utf8').split('\n')[0] ?? '').trim();
    } catch (err) {
      throw new ConfigError(`cannot read secretFile ${config.secretFile}: ${(err as Error).message}`, { cause: err, details: { field: 'secretFile' } });
    }
  }
  if (secret === undefined || secret.length < 16) throw new ConfigError(`${path}: the cluster secret must have at least 16 characters`, { details: { field: 'secret' } });
  return { path, config, secret };
}

/** The configured server `id`, or `NotFoundError` listing the configured ones. */
export function serverConfig(rig: LoadedRig, id: string): ServerConfig {
  const found = rig.config.servers.find((s) => s.id === id);
  if (!found) throw new NotFoundError(`no server "${id}" in ${rig.path}; configured: ${rig.config.servers.map((s) => s.id).join(', ') || 'none'}`, { details: { server: id } });
  return found;
}

/** The configured cluster `id`, or `NotFoundError` listing the configured ones. */
export function clusterConfig(rig: LoadedRig, id: string): ClusterConfig {
  const found = rig.config.clusters.find((c) => c.id === id);
  if (!found) throw new NotFoundError(`no cluster "${id}" in ${rig.path}; configured: ${rig.config.clusters.map((c) => c.id).join(', ')}`, { details: { cluster: id } });
  return found;
}

/** The URL agents use to reach a server now: `url`, else the address its `addressFile` holds (or null). */
export function serverUrl(server: ServerConfig): string | null {
  if (server.url !== undefined) return server.url.replace(/\/$/, '');
  if (server.addressFile === undefined) return null;
  try {
    const text = readFileSync(server.addressFile, 'utf8').trim();
    return text === '' ? null : text;
  } catch {
    return null;
  }
}
