/**
 * The rig's relay through a real pseudo-terminal pair: the simulated board behind socat answers blockrig's
 * PowerRelay over the real serial port code, and switching a channel off takes the device on it offline
 * (the volume's view of a pulled drive) and on again brings it back.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createFaultDevice } from '../../drivers/fault.js';
import { createMemoryDevice } from '../../drivers/memory.js';
import { ProcessSupervisor } from '../../hil/rig/processes.js';
import { buildRelay } from '../../hil/rig/relay.js';
import { systemClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

describe('rig relay over a socat pty pair', () => {
  const dir = tempDir('blockrig-hil-relay-');

  it('maps a channel cut to the device going offline and back', async () => {
    requireCommand('socat', 'socat');
    const device = createFaultDevice(createMemoryDevice({ size: 1 << 20 }));
    const changes: boolean[] = [];
    device.onAvailabilityChange((c) => changes.push(c.available));
    const processes = new ProcessSupervisor();
    const relay = await buildRelay(
      { channels: 4 },
      { workDir: dir, processes, clock: systemClock, onPower: (channel, on) => (channel === 3 ? device.setOffline(!on, `relay channel ${channel} off`) : undefined) },
    );
    try {
      expect(existsSync(join(dir, 'relay-host'))).toBe(true);
      expect(processes.processes.map((p) => p.name)).toEqual(['socat:relay']);
      await relay.setPower(3, false);
      expect(await relay.relay.status()).toEqual({ 1: true, 2: true, 3: false, 4: true });
      expect(device.available).toBe(false);
      await expect(device.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable });
      // Two switches at once are queued on the one serial line, not interleaved.
      await Promise.all([relay.setPower(3, true), relay.setPower(2, false)]);
      expect(await relay.relay.status()).toEqual({ 1: true, 2: false, 3: true, 4: true });
      expect(device.available).toBe(true);
      expect((await device.read(0, 4096)).length).toBe(4096);
      expect(changes).toEqual([false, true]);
      await expect(relay.setPower(9, false)).rejects.toMatchObject({ code: ErrorCode.Serial });
    } finally {
      await relay.close();
      await processes.stopAll(systemClock);
      await device.close();
    }
    expect(processes.processes.every((p) => p.exited)).toBe(true);
  });
});
