/**
 * A simulated controller firmware console on the far end of a serial line: a boot banner, a `fw> `
 * prompt, and a few commands (`version`, `drives`, `reset`, `echo TEXT`), enough to exercise expect-style
 * scripts the way a real bench's console would.
 */
import { onLines } from '../../src/serial/lines.js';
import type { SerialTransport } from '../../src/serial/transport.js';

/** Options of the simulated console. */
export interface FirmwareSimOptions {
  version?: string;
  /** Drive names `drives` lists, one per line. */
  drives?: () => string[];
}

/** A running simulated console. */
export interface FirmwareSim {
  /** How many times it booted (1 after start, +1 per `reset`). */
  readonly boots: number;
  stop(): Promise<void>;
}

/** Starts the simulated console on `transport` and prints the boot banner. */
export function startFirmwareConsole(transport: SerialTransport, options: FirmwareSimOptions = {}): FirmwareSim {
  const version = options.version ?? '1.4.2';
  let boots = 0;
  const send = (text: string): void => void transport.write(text).catch(() => undefined);
  const boot = (): void => {
    boots++;
    send(`\r\nblockrig-sim controller firmware ${version}\r\nPOST ok\r\nfw> `);
  };
  const run = (line: string): void => {
    const [cmd = '', ...rest] = line.trim().split(/\s+/);
    switch (cmd) {
      case '':
        send('fw> ');
        return;
      case 'version':
        send(`version ${version}\r\nfw> `);
        return;
      case 'drives':
        send(`${(options.drives?.() ?? []).map((d, i) => `drive ${i} ${d}\r\n`).join('')}fw> `);
        return;
      case 'echo':
        send(`${rest.join(' ')}\r\nfw> `);
        return;
      case 'reset':
        send('resetting...\r\n');
        setTimeout(boot, 20);
        return;
      default:
        send(`unknown command: ${cmd}\r\nfw> `);
    }
  };
  const unsubscribe = onLines(transport, run);
  boot();
  return {
    get boots() {
      return boots;
    },
    stop: async () => {
      unsubscribe();
      await transport.close();
    },
  };
}
