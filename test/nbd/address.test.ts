import { describe, expect, it } from 'vitest';
import { formatNbdUri, parseDurationParam, parseListenAddress, parseNbdUri } from '../../src/nbd/address.js';
import { ErrorCode } from '../../src/errors.js';

describe('NBD addresses', () => {
  it('parses the NBD URI forms, with the default port and a percent-encoded export name', () => {
    expect(parseNbdUri('nbd://example.org/disk0')).toMatchObject({ endpoint: { kind: 'tcp', host: 'example.org', port: 10809 }, exportName: 'disk0' });
    expect(parseNbdUri('nbd://[::1]:1234/a%20b')).toMatchObject({ endpoint: { kind: 'tcp', host: '::1', port: 1234 }, exportName: 'a b' });
    expect(parseNbdUri('nbd://host')).toMatchObject({ exportName: '' });
    expect(parseNbdUri('nbd+unix:///vol/1?socket=/run/x.sock')).toMatchObject({ endpoint: { kind: 'unix', path: '/run/x.sock' }, exportName: 'vol/1' });
  });

  it('rejects URIs that are not NBD URIs with BLOCKRIG_E_INVALID_URI', () => {
    for (const bad of ['nbd:///disk', 'nbd+unix://host/disk?socket=/x', 'nbds://host/disk', 'http://host/disk', 'not a uri']) {
      expect(() => parseNbdUri(bad)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidUri }) as Error);
    }
  });

  it('parses --listen values and refuses bad ones with BLOCKRIG_E_INVALID_ARGUMENT', () => {
    expect(parseListenAddress('0.0.0.0:10809')).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 10809 });
    expect(parseListenAddress(':0')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:99')).toEqual({ kind: 'tcp', host: '::1', port: 99 });
    expect(parseListenAddress('unix:/tmp/s.sock')).toEqual({ kind: 'unix', path: '/tmp/s.sock' });
    for (const bad of ['localhost', 'host:99999', 'unix:', 'host:-1']) {
      expect(() => parseListenAddress(bad)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }) as Error);
    }
  });

  it('formats URIs that parse back to the same place', () => {
    for (const [endpoint, name] of [
      [{ kind: 'tcp', host: '::1', port: 5 }, 'a b'],
      [{ kind: 'unix', path: '/tmp/x y.sock' }, 'vol/1'],
    ] as const) {
      const parsed = parseNbdUri(formatNbdUri(endpoint, name));
      expect(parsed.endpoint).toEqual(endpoint);
      expect(parsed.exportName).toBe(name);
    }
  });

  it('reads durations in ms, s and m', () => {
    expect(parseDurationParam('u', 'timeout', '250ms', 1)).toBe(250);
    expect(parseDurationParam('u', 'timeout', '1.5s', 1)).toBe(1500);
    expect(parseDurationParam('u', 'timeout', '2m', 1)).toBe(120_000);
    expect(parseDurationParam('u', 'timeout', '7', 1)).toBe(7000);
    expect(parseDurationParam('u', 'timeout', null, 42)).toBe(42);
    expect(() => parseDurationParam('u', 'timeout', 'soon', 1)).toThrow(/timeout=soon/);
  });
});
