import { afterEach, describe, expect, it } from 'vitest';
import { startRelayBoard, type RelayBoard } from '../../hil/sim/relay-board.js';
import { ErrorCode } from '../../src/errors.js';
import { PowerRelay } from '../../src/serial/relay.js';
import { openSerialPort } from '../../src/serial/transport.js';
import { tempDir } from '../support/temp.js';
import { startPtyPair } from './pty.js';

const dir = tempDir();

describe('power relay over a real pseudo-terminal', () => {
  let board: RelayBoard | undefined;
  let relay: PowerRelay | undefined;

  afterEach(async () => {
    await relay?.close();
    await board?.stop();
  });

  it('switches channels, reports status and tells the rig which channel lost power', async () => {
    const pty = await startPtyPair(dir, 'relay');
    const changes: string[] = [];
    board = startRelayBoard(await openSerialPort(pty.device), { channels: 4, onChange: (ch, on) => changes.push(`${ch}:${on ? 'on' : 'off'}`) });
    relay = new PowerRelay(await openSerialPort(pty.host));
    await relay.ping();
    expect(await relay.status()).toEqual({ 1: true, 2: true, 3: true, 4: true });
    await relay.setPower(2, false);
    expect(await relay.status()).toEqual({ 1: true, 2: false, 3: true, 4: true });
    await relay.powerCycle(3, 10);
    expect(changes).toEqual(['2:off', '3:off', '3:on']);
    expect(board.power).toEqual([true, false, true, true]);
  });

  it('turns a board refusal into BLOCKRIG_E_SERIAL and a bad channel into BLOCKRIG_E_INVALID_ARGUMENT', async () => {
    const pty = await startPtyPair(dir, 'relay-err');
    board = startRelayBoard(await openSerialPort(pty.device), { channels: 2 });
    relay = new PowerRelay(await openSerialPort(pty.host));
    await expect(relay.setPower(5, false)).rejects.toMatchObject({ code: ErrorCode.Serial, message: expect.stringContaining('no channel 5') as unknown });
    await expect(relay.setPower(0, true)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    // The line stays usable after an error.
    await relay.setPower(1, false);
    expect(board.power).toEqual([false, true]);
  });

  it('names the path when the port does not exist', async () => {
    await expect(openSerialPort(`${dir}/no-such-tty`)).rejects.toMatchObject({ code: ErrorCode.Serial, message: expect.stringContaining('no-such-tty') as unknown });
  });
});
