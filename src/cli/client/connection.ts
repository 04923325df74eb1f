/**
 * The connection options every server-talking command takes, and the client built from them:
 * `--server URL` (repeat it; or BLOCKRIG_SERVER="URL,URL"), `--user` (or BLOCKRIG_USER, default admin),
 * and the password from BLOCKRIG_PASSWORD or `--password-file FILE` (never a flag: it would show in `ps`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { ConfigError, InvalidArgumentError } from '../../errors.js';
import { ApiClient } from './api-client.js';

/** Collects a repeated option into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds the connection options to a command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--server <url>', 'server URL; repeat for failover (default: $BLOCKRIG_SERVER, comma-separated)', collect)
    .option('--user <name>', 'user name (default: $BLOCKRIG_USER or admin)')
    .option('--password-file <file>', 'file whose first line is the password (default: $BLOCKRIG_PASSWORD)');
}

const UrlSchema = z.url({ protocol: /^https?$/, error: 'a server URL such as http://127.0.0.1:8080' });

/** The connection settings from options and environment, validated. */
export function connectionSettings(opts: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): { servers: string[]; user: string; password: string } {
  const given = Array.isArray(opts.server) ? (opts.server as string[]) : [];
  const servers = (given.length > 0 ? given : (env.BLOCKRIG_SERVER ?? '').split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) {
    throw new InvalidArgumentError('--server: no server given: pass --server URL (repeat it for failover) or set BLOCKRIG_SERVER', { details: { field: 'server' } });
  }
  for (const url of servers) {
    if (!UrlSchema.safeParse(url).success) throw new InvalidArgumentError(`--server: "${url}" is not a server URL such as http://127.0.0.1:8080`, { details: { field: 'server', value: url } });
  }
  const user = typeof opts.user === 'string' ? opts.user : (env.BLOCKRIG_USER ?? 'admin');
  let password = env.BLOCKRIG_PASSWORD;
  if (typeof opts.passwordFile === 'string') {
    try {
      password = (readFileSync(opts.passwordFile, 'utf8').split('\n')[0] ?? '').trim();
    } catch (err) {
      throw new ConfigError(`--password-file: cannot read ${opts.passwordFile}: ${(err as Error).message}`, { cause: err, details: { field: 'password-file' } });
    }
  }
  if (password === undefined || password === '') {
    throw new InvalidArgumentError('no password: set BLOCKRIG_PASSWORD or pass --password-file FILE', { details: { field: 'password' } });
  }
  return { servers, user, password };
}

/** A client for a command's options; notes failovers on stderr. */
export function clientFor(command: Command): ApiClient {
  const settings = connectionSettings(command.optsWithGlobals());
  return new ApiClient({
    ...settings,
    onSwitch: (from, to) => {
      if (from !== null) process.stderr.write(`blockrig: server ${from} stopped answering; using ${to}\n`);
    },
  });
}
