/** A real pseudo-terminal pair made by socat, for serial tests; stopped when the test file ends. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireCommand } from '../support/requirements.js';
import { startProcess, waitFor } from '../support/processes.js';

/** The two ends' paths. */
export interface PtyPair {
  host: string;
  device: string;
}

/** Starts `socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B` in `dir` and waits for both links. */
export async function startPtyPair(dir: string, name = 'tty'): Promise<PtyPair> {
  const socat = requireCommand('socat', 'socat');
  const host = join(dir, `${name}-host`);
  const device = join(dir, `${name}-device`);
  const proc = startProcess(socat, [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${device}`]);
  await waitFor(() => existsSync(host) && existsSync(device), 5000, `socat to create ${host} and ${device} (${proc.stderr()})`);
  return { host, device };
}
