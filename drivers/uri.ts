/**
 * Device URIs. Every device is named by one string: a path (`/dev/loop3`, `./disk.img`), or a URI whose
 * scheme picks the driver (`file:`, `memory:`, `loop:`, `fault:`, `nbd:`, `nbd+unix:`, `iscsi:`).
 * Query parameters carry driver options (`?direct=1`, `?size=64MiB`).
 */
import { InvalidUriError } from '../src/errors.js';

/** A parsed device URI. */
export interface DeviceUri {
  /** The original text. */
  readonly text: string;
  /** Lower-case scheme without the colon; `file` for plain paths. */
  readonly scheme: string;
  /** The WHATWG URL for URI forms; undefined for plain paths. */
  readonly url: URL | undefined;
  /** For `file:` URIs and plain paths: the filesystem path. */
  readonly path: string | undefined;
  /** Query parameters (empty for plain paths). */
  readonly params: URLSearchParams;
}

/** Parses a device URI or path. Throws `InvalidUriError` naming the problem. */
export function parseDeviceUri(text: string): DeviceUri {
  if (text.trim() === '') throw new InvalidUriError(text, 'it is empty; give a path such as /dev/loop3 or a URI such as memory:?size=64MiB');
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../') || !/^[a-z][a-z0-9+.-]*:/i.test(text)) {
    return { text, scheme: 'file', url: undefined, path: text, params: new URLSearchParams() };
  }
  const scheme = text.slice(0, text.indexOf(':')).toLowerCase();
  if (scheme === 'fault') {
    // fault:<inner-uri>; the inner URI keeps its own query, so we do not parse it here.
    return { text, scheme, url: undefined, path: undefined, params: new URLSearchParams() };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new InvalidUriError(text, 'it is not a valid URI', { cause: err });
  }
  const path = scheme === 'file' || scheme === 'loop' ? decodeURIComponent(url.pathname) : undefined;
  if ((scheme === 'file' || scheme === 'loop') && (path === undefined || path === '' || path === '/')) {
    throw new InvalidUriError(text, `a ${scheme}: URI needs a path, such as ${scheme}:///var/lib/blockrig/disk0.img`);
  }
  return { text, scheme, url, path, params: url.searchParams };
}

/** Reads a boolean query parameter: 1/true/yes/on and 0/false/no/off. */
export function booleanParam(uri: DeviceUri, name: string, fallback = false): boolean {
  const value = uri.params.get(name);
  if (value === null) return fallback;
  if (/^(1|true|yes|on|)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new InvalidUriError(uri.text, `parameter ${name}=${value} must be 1 or 0`);
}

/** The URI with any password replaced, safe for logs and `--json` output. */
export function redactUri(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@').replace(/^(iscsi:\/\/[^/@%]*)%[^/@]*@/i, '$1%***@');
}
