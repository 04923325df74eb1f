/**
 * Where an NBD export lives, from the NBD URI standard (`doc/uri.md` of NetworkBlockDevice/nbd):
 * `nbd://host[:port]/export` over TCP (port 10809 by default) and `nbd+unix:///export?socket=PATH` over a
 * unix socket. The export name is the path without its leading slash, percent-decoded; an empty name is the
 * server's default export. The `--listen` argument of `blockrig nbd serve` uses `HOST:PORT` or `unix:PATH`.
 */
import { InvalidArgumentError, InvalidUriError } from '../errors.js';

/** The IANA port of NBD. */
export const NBD_DEFAULT_PORT = 10809;

/** A TCP or unix socket endpoint. */
export type NbdEndpoint = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/** An export on an endpoint. */
export interface NbdAddress {
  readonly endpoint: NbdEndpoint;
  readonly exportName: string;
}

/** Parses an `nbd://` or `nbd+unix://` URI. Throws `InvalidUriError` naming the problem. */
export function parseNbdUri(text: string): NbdAddress & { readonly params: URLSearchParams } {
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new InvalidUriError(text, 'it is not a valid URI; use nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH', { cause: err });
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (scheme === 'nbd') {
    if (url.hostname === '') throw new InvalidUriError(text, 'an nbd:// URI needs a host, as in nbd://localhost/disk0');
    const port = url.port === '' ? NBD_DEFAULT_PORT : Number(url.port);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { endpoint: { kind: 'tcp', host, port }, exportName, params: url.searchParams };
  }
  if (scheme === 'nbd+unix') {
    const path = url.searchParams.get('socket');
    if (path === null || path === '') throw new InvalidUriError(text, 'an nbd+unix URI needs ?socket=PATH, as in nbd+unix:///disk0?socket=/run/nbd.sock');
    if (url.hostname !== '') throw new InvalidUriError(text, 'an nbd+unix URI has no host: write nbd+unix:///EXPORT?socket=PATH');
    return { endpoint: { kind: 'unix', path }, exportName, params: url.searchParams };
  }
  if (scheme === 'nbds' || scheme === 'nbds+unix') throw new InvalidUriError(text, 'NBD over TLS (nbds) is not supported; use nbd:// or nbd+unix://');
  throw new InvalidUriError(text, `scheme "${scheme}" is not an NBD scheme; use nbd:// or nbd+unix://`);
}

/** Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `unix:PATH` (a `--listen` value). */
export function parseListenAddress(text: string): NbdEndpoint {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (path === '') throw new InvalidArgumentError(`--listen ${text}: give a socket path, as in unix:/run/blockrig-nbd.sock`, { details: { field: 'listen' } });
    return { kind: 'unix', path };
  }
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`--listen ${text}: expected HOST:PORT (port 0 picks a free one) or unix:PATH`, { details: { field: 'listen', value: text } });
  }
  const host = match[1] ?? match[2] ?? '';
  return { kind: 'tcp', host: host === '' ? '127.0.0.1' : host, port };
}

/** The URI a client would use for `exportName` on `endpoint`. */
export function formatNbdUri(endpoint: NbdEndpoint, exportName: string): string {
  const name = encodeURIComponent(exportName).replace(/%2F/g, '/');
  if (endpoint.kind === 'unix') return `nbd+unix:///${name}?socket=${encodeURIComponent(endpoint.path).replace(/%2F/g, '/')}`;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `nbd://${host}:${endpoint.port}/${name}`;
}

/** Parses a duration query parameter such as `30s`, `500ms`, `2m` or a plain number of seconds. */
export function parseDurationParam(uriText: string, name: string, value: string | null, fallbackMs: number): number {
  if (value === null) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidUriError(uriText, `parameter ${name}=${value} must be a duration such as 30s, 500ms or 2m`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}
