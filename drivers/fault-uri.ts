/**
 * The fault driver's own URI parameters: `fault:<inner>` where the inner URI's query may carry
 * `fault-control=DIR` (the control channel's folder, `fault-control.ts`) and `fault-seed=N` (the PRNG seed).
 * They are taken out before the inner device is opened, so they work over any inner URI, with or without
 * a query of its own (`docs/drivers.md`, "fault").
 */
import { InvalidUriError } from '../src/errors.js';

/**
 * Splits the fault driver's own `fault-*` parameters off the inner URI's query: `fault-control`, `fault-seed`.
 * Any other `fault-` parameter is an error, so a typo is not passed silently to the inner driver.
 */
export function splitFaultUri(text: string): { inner: string; control: string | undefined; seed: number | undefined } {
  const innerText = text.slice(text.indexOf(':') + 1);
  const q = innerText.lastIndexOf('?');
  if (q < 0) return { inner: innerText, control: undefined, seed: undefined };
  const params = new URLSearchParams(innerText.slice(q + 1));
  const rest = new URLSearchParams();
  let control: string | undefined;
  let seed: number | undefined;
  for (const [name, value] of params) {
    if (name === 'fault-control') {
      if (value === '') throw new InvalidUriError(text, 'fault-control needs a folder, as in fault-control=/run/rig/d1');
      control = value;
    } else if (name === 'fault-seed') {
      if (!/^\d+$/.test(value)) throw new InvalidUriError(text, `fault-seed=${value} must be a non-negative integer`);
      seed = Number(value) >>> 0;
    } else if (name.startsWith('fault-')) {
      throw new InvalidUriError(text, `unknown fault driver parameter ${name}: the fault driver takes fault-control=DIR and fault-seed=N`);
    } else rest.append(name, value);
  }
  const query = rest.toString();
  return { inner: innerText.slice(0, q) + (query === '' ? '' : `?${query}`), control, seed };
}
