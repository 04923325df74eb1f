/** How the dashboard writes sizes, rates, durations and times (the CLI's units, in the browser). */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

/** Bytes per second, or "no estimate" while unknown. */
export function formatRate(rate: number | null): string {
  return rate === null ? 'no estimate' : `${formatBytes(rate)}/s`;
}

/** Seconds as "1m 05s", or "no estimate". */
export function formatEta(seconds: number | null): string {
  if (seconds === null) return 'no estimate';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** An ISO time as local "HH:MM:SS". */
export function formatClock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}
