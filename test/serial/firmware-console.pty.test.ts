import { afterEach, describe, expect, it } from 'vitest';
import { startFirmwareConsole, type FirmwareSim } from '../../hil/sim/firmware-console.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { FirmwareConsole } from '../../src/serial/console.js';
import { createLoopbackPair, openSerialPort } from '../../src/serial/transport.js';
import { tempDir } from '../support/temp.js';
import { startPtyPair } from './pty.js';

const dir = tempDir();

describe('firmware console over a real pseudo-terminal', () => {
  let sim: FirmwareSim | undefined;
  let fw: FirmwareConsole | undefined;

  afterEach(async () => {
    await fw?.close();
    await sim?.stop();
  });

  it('waits for the banner, runs commands and sees a reset reboot the firmware', async () => {
    const pty = await startPtyPair(dir, 'console');
    fw = new FirmwareConsole(await openSerialPort(pty.host));
    sim = startFirmwareConsole(await openSerialPort(pty.device), { version: '9.8.7', drives: () => ['disk0 available', 'disk1 pulled'] });
    await fw.expect(/fw> /);
    const version = await fw.command('version', /version (\S+)\r\nfw> /);
    expect(version.match[1]).toBe('9.8.7');
    const drives = await fw.command('drives', 'fw> ');
    expect(drives.before).toContain('drive 1 disk1 pulled');
    await fw.command('reset', /firmware 9\.8\.7/);
    await fw.expect('fw> ');
    expect(sim.boots).toBe(2);
    expect(fw.transcript).toContain('POST ok');
  });
});

describe('firmware console expect timeouts', () => {
  it('rejects with BLOCKRIG_E_TIMEOUT naming the pattern and what arrived, on the injected clock', async () => {
    const clock = new ManualClock();
    const [host, device] = createLoopbackPair();
    const fw = new FirmwareConsole(host, { clock });
    await device.write('booting...\r\n');
    const waiting = fw.expect(/fw> /, 3000);
    const outcome = expect(waiting).rejects.toMatchObject({
      code: ErrorCode.Timeout,
      message: expect.stringMatching(/no \/fw> \/ .*within 3000 ms.*booting/) as unknown,
    });
    await new Promise((r) => setImmediate(r));
    await clock.advance(2999);
    await clock.advance(1);
    await outcome;
    await fw.close();
  });

  it('consumes text up to each match so the next expect sees only what follows', async () => {
    const [host, device] = createLoopbackPair();
    const fw = new FirmwareConsole(host);
    await device.write('a=1\r\na=2\r\n');
    expect((await fw.expect(/a=(\d)/)).match[1]).toBe('1');
    expect((await fw.expect(/a=(\d)/)).match[1]).toBe('2');
    await fw.close();
  });
});
