/**
 * iSCSI device URIs in libiscsi's form: `iscsi://[user[%password]@]host[:port]/TARGET-IQN/LUN`.
 * `user:password@` is accepted too. Query parameters: `initiator=IQN` (our initiator name), `timeout=MS`
 * (per-command and login timeout) and `keepalive=MS` (ping an idle target after this long; 0: never).
 */
import { hostname } from 'node:os';
import { InvalidUriError } from '../errors.js';
import { redactUri, type DeviceUri } from '../../drivers/uri.js';

/** The IANA-registered iSCSI port. */
export const ISCSI_PORT = 3260;

/** What an `iscsi://` URI names. */
export interface IscsiTargetAddress {
  host: string;
  port: number;
  targetName: string;
  lun: number;
  chap?: { user: string; secret: string };
  initiatorName: string;
  timeoutMs: number;
  /** Ping the target after this long without hearing from it; 0 disables. */
  keepaliveMs: number;
}

/** Default initiator name: a stable IQN per host, so target ACLs can name it. */
export function defaultInitiatorName(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'localhost';
  return `iqn.2026-01.dev.blockrig:${host}`;
}

/** Parses an `iscsi://` URI; `InvalidUriError` names what is wrong. */
export function parseIscsiUri(uri: DeviceUri): IscsiTargetAddress {
  // Errors show the URI without its password.
  const shown = redactUri(uri.text);
  const url = uri.url;
  if (url === undefined) throw new InvalidUriError(shown, 'expected iscsi://[user[%password]@]host[:port]/TARGET-IQN/LUN');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new InvalidUriError(shown, 'it names no host; expected iscsi://host[:port]/TARGET-IQN/LUN');
  const parts = decodeURIComponent(url.pathname).split('/').filter((p) => p !== '');
  if (parts.length !== 2) throw new InvalidUriError(shown, 'the path must be /TARGET-IQN/LUN, as in iscsi://127.0.0.1/iqn.2026-01.org.example:disk1/1');
  const [targetName, lunText] = parts as [string, string];
  if (!/^\d+$/.test(lunText) || Number(lunText) > 16383) throw new InvalidUriError(shown, `LUN "${lunText}" must be a number from 0 to 16383`);
  const port = url.port === '' ? ISCSI_PORT : Number(url.port);
  const timeoutMs = milliseconds(uri, 'timeout', 30_000, 1);
  const keepaliveMs = milliseconds(uri, 'keepalive', 10_000, 0);
  const address: IscsiTargetAddress = {
    host,
    port,
    targetName,
    lun: Number(lunText),
    initiatorName: uri.params.get('initiator') ?? defaultInitiatorName(),
    timeoutMs,
    keepaliveMs,
  };
  const user = url.username;
  if (user !== '') {
    // libiscsi separates user and password with '%', taken literally (no percent-decoding of that '%').
    const cut = url.password === '' ? user.indexOf('%') : -1;
    const name = cut >= 0 ? user.slice(0, cut) : user;
    const secret = cut >= 0 ? user.slice(cut + 1) : url.password;
    if (secret === '') throw new InvalidUriError(shown, 'a user needs a password for CHAP: iscsi://user%password@host/TARGET-IQN/LUN');
    address.chap = { user: safeDecode(name), secret: safeDecode(secret) };
  }
  return address;
}

function milliseconds(uri: DeviceUri, name: string, fallback: number, min: number): number {
  const shown = redactUri(uri.text);
  const text = uri.params.get(name);
  if (text === null) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidUriError(shown, `${name}=${text} must be a whole number of milliseconds, at least ${min}`);
  }
  return value;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
