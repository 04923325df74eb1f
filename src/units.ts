/** Parsing and printing of byte sizes ("64MiB", "1G", "4096") and rates. */
import { InvalidArgumentError } from './errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a size: a non-negative integer with an optional unit (K, M, G, T are binary, as in dd and
 * qemu-img; KB, MB, GB, TB are decimal; KiB, MiB, GiB, TiB binary). `field` names the value in errors.
 */
export function parseSize(text: string | number, field = 'size'): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
    throw new InvalidArgumentError(`${field} must be a non-negative integer number of bytes, got ${text}`, { details: { field } });
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new InvalidArgumentError(`${field} "${text}" is not a size: write a number with an optional unit such as 4096, 64KiB, 1G`, {
      details: { field, value: text },
    });
  }
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes)) {
    throw new InvalidArgumentError(`${field} "${text}" is not a whole number of bytes below 2^53`, { details: { field, value: text } });
  }
  return bytes;
}

/** Prints a byte count with a binary unit: 1536 -> "1.5 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[i]}`;
}

/** Prints a rate in bytes per second: "512 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(Math.round(bytesPerSecond))}/s`;
}
