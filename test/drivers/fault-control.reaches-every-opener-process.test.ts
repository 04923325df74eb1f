// The fault control channel across real OS processes: two `blockrig nbd serve` processes hold the same
// fault:<image>?fault-control=DIR device; `blockrig device fault`, run as a third process, changes the rules
// of both, which every read through each server shows. A later opener starts from the stored state, a
// killed opener's socket is removed, and bad commands get clear errors.
import { existsSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import type { BlockDevice } from '../../drivers/types.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-fault-ctl-');
const image = join(dir, 'd1.img');
const control = join(dir, 'ctl');
writeFileSync(image, '');
truncateSync(image, 1024 * 1024);
const uri = `fault:${image}?fault-control=${control}`;

interface Opener {
  process: TestProcess;
  client: BlockDevice;
}
const openers: Opener[] = [];
afterAll(async () => {
  for (const o of openers) await o.client.close().catch(() => undefined);
});

async function startOpener(n: number): Promise<Opener> {
  const socket = join(dir, `nbd-${n}.sock`);
  const process = startProcess(globalThis.process.execPath, [CLI_PATH, 'nbd', 'serve', uri, '--listen', `unix:${socket}`, '--name', 'd1']);
  await waitFor(() => existsSync(socket), 20_000, `nbd serve ${n} to listen (${process.stderr()})`);
  const client = await openDevice(`nbd+unix:///d1?socket=${socket}`);
  const opener = { process, client };
  openers.push(opener);
  return opener;
}

/** `blockrig device fault ... --json`, parsed. */
function fault(args: string[]): { status: number; json: { deliveries: { pid: number; outcome: string; status?: { offline: boolean; rules: { rule: { id: string } }[] } }[] } | undefined; stderr: string } {
  const r = runCli(['device', 'fault', ...args, '--json']);
  return { status: r.status, json: r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as never), stderr: r.stderr };
}

const sockets = (): string[] => readdirSync(control).filter((n) => n.endsWith('.sock'));

describe('fault control channel across processes', () => {
  it('a rule added from a third process takes effect in both openers, and removing it undoes it', async () => {
    const a = await startOpener(1);
    const b = await startOpener(2);
    expect(sockets()).toHaveLength(2);
    for (const o of [a, b]) expect((await o.client.read(0, 4096)).length).toBe(4096);

    const added = fault(['add', control, '--eio', '0-64KiB', '--id', 'bad']);
    expect(added.status).toBe(0);
    expect(added.json?.deliveries.map((d) => d.outcome)).toEqual(['applied', 'applied']);
    expect(added.json?.deliveries.every((d) => d.status?.rules.some((r) => r.rule.id === 'bad'))).toBe(true);
    for (const o of [a, b]) {
      await expect(o.client.read(0, 4096)).rejects.toMatchObject({ code: 'BLOCKRIG_E_IO' });
      expect((await o.client.read(128 * 1024, 4096)).length).toBe(4096);
    }

    expect(fault(['remove', control, 'bad']).status).toBe(0);
    for (const o of [a, b]) expect((await o.client.read(0, 4096)).length).toBe(4096);

    expect(fault(['offline', control, '--reason', 'pulled by the test']).json?.deliveries.every((d) => d.status?.offline === true)).toBe(true);
    for (const o of [a, b]) await expect(o.client.read(0, 4096)).rejects.toThrow();
    expect(fault(['online', control]).status).toBe(0);
    for (const o of [a, b]) expect((await o.client.read(0, 4096)).length).toBe(4096);
  });

  it('a process that opens the device later starts with the rules in force', async () => {
    expect(fault(['add', control, '--latency', '1ms', '--id', 'slow']).status).toBe(0);
    const c = await startOpener(3);
    const status = fault(['status', control]);
    const own = status.json?.deliveries.find((d) => d.pid === c.process.child.pid);
    expect(own?.status?.rules.map((r) => r.rule.id)).toEqual(['slow']);
    expect(fault(['clear', control]).json?.deliveries.every((d) => d.status?.rules.length === 0)).toBe(true);
  });

  it('a power cut mid-write in one opener (torn write with offline) takes the device offline in every opener', async () => {
    const [a, b] = openers;
    if (a === undefined || b === undefined) throw new Error('no openers');
    expect(fault(['add', control, '--rule', '{"kind":"torn-write","keepBytes":4096,"count":1,"offline":true}', '--id', 'power']).status).toBe(0);
    await expect(a.client.write(0, Buffer.alloc(16 * 1024, 7))).rejects.toThrow();
    // Only the first 4 KiB landed on the medium.
    const medium = await openDevice(image, { readOnly: true });
    expect((await medium.read(0, 8192)).subarray(4096).every((x) => x === 0)).toBe(true);
    expect((await medium.read(0, 4096)).every((x) => x === 7)).toBe(true);
    await medium.close();
    await waitFor(() => fault(['status', control]).json?.deliveries.every((d) => d.status?.offline === true) === true, 10_000, 'every opener to be offline');
    await expect(b.client.read(0, 4096)).rejects.toThrow();
    expect(fault(['clear', control]).status).toBe(0);
    expect(fault(['online', control]).status).toBe(0);
    for (const o of [a, b]) expect((await o.client.read(0, 4096)).length).toBe(4096);
  });

  it('the socket of a killed opener is removed by the next command', async () => {
    const victim = openers[0];
    if (victim === undefined) throw new Error('no opener');
    const pid = victim.process.child.pid;
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    const status = fault(['status', control]);
    expect(status.status).toBe(0);
    expect(status.json?.deliveries.find((d) => d.pid === pid)?.outcome).toBe('stale');
    expect(sockets().some((n) => n.startsWith(`${pid}-`))).toBe(false);
  });

  it('every subcommand answers --help with examples', () => {
    for (const sub of ['add', 'remove', 'clear', 'offline', 'online', 'status']) {
      const help = runCli(['device', 'fault', sub, '--help']);
      expect(help.status).toBe(0);
      expect(help.stdout).toContain('Examples:');
      expect(help.stdout).toContain(`blockrig device fault ${sub} /run/rig/d1`);
    }
  });

  it('bad commands get errors that name the problem', async () => {
    const none = runCli(['device', 'fault', 'add', control]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/exactly one of --rule JSON, --eio RANGE or --latency DURATION/);
    const badKind = runCli(['device', 'fault', 'add', control, '--rule', '{"kind":"melt"}']);
    expect(badKind.status).toBe(2);
    expect(badKind.stderr).toMatch(/kind/);
    const badRange = runCli(['device', 'fault', 'add', control, '--eio', '1MiB-0']);
    expect(badRange.status).toBe(2);
    expect(badRange.stderr).toMatch(/the end must be after the start/);
    const noDir = runCli(['device', 'fault', 'clear', join(dir, 'nowhere')]);
    expect(noDir.status).toBe(3);
    expect(noDir.stderr).toMatch(/no fault control folder .*fault-control=/);
    const badUri = runCli(['device', 'probe', `fault:${image}?fault-contrl=${control}`]);
    expect(badUri.stderr).toMatch(/unknown fault driver parameter fault-contrl/);

    // A client that is not blockrig's: the opener answers with the error and keeps serving.
    const socket = join(control, sockets()[0] ?? '');
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      const conn = connect(socket, () => conn.write('{"op":"add","rule":{"kind":"latency"}}\n'));
      conn.on('data', (c: Buffer) => (text += c.toString()));
      conn.on('end', () => resolve(text));
      conn.on('error', reject);
    });
    expect(JSON.parse(reply)).toMatchObject({ ok: false, error: { code: 'BLOCKRIG_E_INVALID_ARGUMENT', message: expect.stringMatching(/rule\.ms/) as unknown } });
    expect(fault(['status', control]).status).toBe(0);
  });
});
