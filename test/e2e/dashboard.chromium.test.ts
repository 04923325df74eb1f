/**
 * The dashboard end to end in real headless Chromium against real processes: two servers, two clusters
 * with one agent per server each (`blockrig cluster up`). Log in (a wrong password is refused beside the
 * field), see each cluster's devices, issue a real volume scrub from the form and watch it reach COMPLETE
 * by push without a reload (then repair and initialize, after confirmation), see bad fields refused beside
 * them, pause / resume / cancel (with confirmation), see a volume (raid1 over cluster c2's devices) and fail
 * a member after confirmation to see it degraded, see a device go unavailable, then kill server A: the page follows
 * server B by itself, still logged in, and work carries on from B. Screenshots in test-artifacts/e2e/.
 *
 * Cluster c1 is real: a metadata region, a controller process, a raid5 volume in its volume table and the
 * agents' real driver process (`blockrig driver run`). Cluster c2's driver is a stand-in shell command
 * (like the agent/server suites use) that works `--seconds` and prints a completion status with
 * per-partition states, so the pause / resume / cancel and failover steps control how long a task runs.
 */
import { closeSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import { runCli } from '../support/cli.js';
import { stopProcess, waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import type { AgentView } from '../../src/wire/index.js';
import { clusterUp, startServer, TEST_PASSWORD, writeRig, type ServerHandle } from '../cluster/rig.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { STAND_IN_DRIVER } from './stand-in-driver.js';

const dir = tempDir('blockrig-e2e-');
let serverA: ServerHandle;
let serverB: ServerHandle;
let browser: TestBrowser;

async function login(page: Page, password: string): Promise<void> {
  await page.fill('input[name=user]', 'admin');
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

const FORM = 'form[aria-label="issue a task"]';

/** Fills the form for a stand-in task (a pattern kind: partitions and name=value arguments) and issues it. */
async function issue(page: Page, cluster: string, kind: string, partitions: string, extra = ''): Promise<void> {
  await page.selectOption(`${FORM} select[name=cluster]`, cluster);
  await page.selectOption(`${FORM} select[name=kind]`, kind);
  await page.fill(`${FORM} input[name=partitions]`, partitions);
  await page.fill(`${FORM} input[name=args]`, extra);
  // A seed typed for an earlier task stays in the form: clear it (the stand-in driver needs none).
  if ((await page.locator(`${FORM} input[name=seed]`).count()) > 0) await page.fill(`${FORM} input[name=seed]`, '');
  await page.click(`${FORM} button[type=submit]`);
}

/** Fills the form for a volume scrub and issues it. */
async function issueScrub(page: Page, volume: string, mode: 'check' | 'repair', partitions: string): Promise<void> {
  await page.selectOption(`${FORM} select[name=cluster]`, 'c1');
  await page.selectOption(`${FORM} select[name=kind]`, 'volume-scrub');
  await page.selectOption(`${FORM} select[name=volume]`, volume);
  await page.selectOption(`${FORM} select[name=mode]`, mode);
  await page.fill(`${FORM} input[name=partitions]`, partitions);
  await page.click(`${FORM} button[type=submit]`);
}

/** The task ids the page lists. */
async function listedTasks(page: Page): Promise<string[]> {
  const ids: string[] = [];
  for (const row of await page.locator('tr[data-task]').all()) ids.push((await row.getAttribute('data-task')) ?? '');
  return ids;
}

/** Issues through the form (`fillForm`) and returns the new task's id: the highlighted row not listed before. */
async function issuedBy(page: Page, fillForm: () => Promise<void>, confirm?: { label: string; says: string }): Promise<string> {
  const before = new Set(await listedTasks(page));
  await fillForm();
  if (confirm !== undefined) {
    expect(await page.textContent('[role=dialog]')).toContain(confirm.says);
    await page.click(`[role=dialog] button:has-text("${confirm.label}")`);
  }
  let id = '';
  await waitFor(async () => {
    id = (await page.getAttribute('tr.highlight[data-task]', 'data-task').catch(() => null)) ?? '';
    return id !== '' && !before.has(id);
  }, 15_000, 'the issued task to be listed');
  return id;
}

/** Issues a stand-in task through the form and returns its id. */
function issueNew(page: Page, cluster: string, kind: string, partitions: string, extra = '', confirmLabel?: string): Promise<string> {
  return issuedBy(page, () => issue(page, cluster, kind, partitions, extra), confirmLabel === undefined ? undefined : { label: confirmLabel, says: 'Data there is lost' });
}

function image(path: string, size: number): void {
  writeFileSync(path, '');
  truncateSync(path, size);
}

beforeAll(async () => {
  for (const name of ['c1-d0', 'c1-d1', 'c1-d2', 'c2-d0', 'c2-d1']) image(join(dir, `${name}.img`), 4 << 20);
  // Cluster c1: a metadata region for its controller and tasks, and a raid5 over its three devices whose
  // member d2 holds a stale parity sector in row 10 (a check scrub finds it, a repair fixes it).
  const meta = join(dir, 'c1-meta.img');
  image(meta, 32 << 20);
  const region = await openDevice(meta);
  await formatRegion(region, { force: true, timing: { heartbeatIntervalMs: 200 } });
  await region.close();
  const c1Table = join(dir, 'c1-volumes.img');
  image(c1Table, 1 << 20);
  const raid5 = runCli(['volume', 'create', 'v5', '--meta', c1Table, '--level', 'raid5', '--chunk', '64KiB', '--assume-clean', ...[0, 1, 2].flatMap((i) => ['--member', join(dir, `c1-d${i}.img`)])]);
  expect(raid5.status, raid5.stderr).toBe(0);
  const fd = openSync(join(dir, 'c1-d2.img'), 'r+');
  writeSync(fd, Buffer.from('stale parity'), 0, 12, 10 * 65536 + 512);
  closeSync(fd);
  // A raid1 volume over c2's two devices, in a volume table the c2 agents read.
  const volumeTable = join(dir, 'c2-volumes.img');
  writeFileSync(volumeTable, '');
  truncateSync(volumeTable, 1 << 20);
  const created = runCli(['volume', 'create', 'mirror', '--meta', volumeTable, '--level', 'raid1', '--member', join(dir, 'c2-d0.img'), '--member', join(dir, 'c2-d1.img'), '--assume-clean', '--json']);
  expect(created.status, created.stderr).toBe(0);
  const devices = (c: string, n: number) => Array.from({ length: n }, (_, i) => ({ name: `d${i}`, uri: join(dir, `${c}-d${i}.img`) }));
  const config = writeRig(dir, {
    servers: [
      { id: 'A', cluster: 'c1' },
      { id: 'B', cluster: 'c2' },
    ],
    clusters: [
      { id: 'c1', devices: devices('c1', 3), meta, volumes: c1Table, controllers: 1 },
      { id: 'c2', devices: devices('c2', 2), driverCommand: STAND_IN_DRIVER, volumes: volumeTable },
    ],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  await Promise.all([clusterUp(config, 'c1', 2), clusterUp(config, 'c2', 2)]);
  await waitFor(async () => {
    const [a, b] = await Promise.all([serverA.get<{ agents: AgentView[] }>('/api/v1/agents'), serverB.get<{ agents: AgentView[] }>('/api/v1/agents')]);
    return a.agents.filter((x) => x.alive).length === 2 && b.agents.filter((x) => x.alive).length === 2;
  }, 20_000, 'four agents registered');
  browser = await launchBrowser('e2e');
});

afterAll(async () => {
  await browser?.close();
});

describe('dashboard in Chromium', () => {
  it('refuses a wrong password beside the field, then logs in', async () => {
    const { page } = browser;
    await page.goto(serverA.url);
    await page.waitForSelector('form[aria-label=login]');
    await login(page, 'not-the-password');
    await expect.poll(() => page.textContent('.field-error[data-field=password]')).toContain('wrong user name or password');
    await browser.shot('01-login-refused');
    await login(page, TEST_PASSWORD);
    await page.waitForSelector('[data-connection=live]');
    expect(await page.textContent('header')).toContain('admin');
  });

  it("shows both clusters' devices with URI and availability", async () => {
    const { page } = browser;
    await page.waitForSelector('[data-cluster=c1] tr[data-device=d2]');
    await page.waitForSelector('[data-cluster=c2] tr[data-device=d1]');
    const row = await page.textContent('[data-cluster=c1] tr[data-device=d0]');
    expect(row).toContain(join(dir, 'c1-d0.img'));
    expect(row).toContain('available');
    expect(await page.textContent('[data-cluster=c1] h2')).toContain('3/3 devices available');
    expect(await page.locator('tr[data-agent]').count()).toBe(2);
    expect(await page.textContent('tr[data-server=B]')).toContain('reachable');
    await browser.shot('02-devices');
  });

  it('issues a real volume scrub from the form and watches it reach COMPLETE by push, without reloading', async () => {
    const { page } = browser;
    await page.waitForSelector('[data-cluster=c1] [data-volume=v5][data-state=clean]', { timeout: 20_000 });
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));
    const id = await issuedBy(page, () => issueScrub(page, 'v5', 'check', '8'));
    expect(id).toMatch(/^t-/);
    const row = `tr[data-task="${id}"]`;
    await page.waitForSelector(`${row}[data-state=succeeded]`, { timeout: 60_000 });
    const cells = page.locator(`${row} .cell`);
    expect(await cells.count()).toBe(8);
    expect(await page.locator(`${row} .cell[data-state=COMPLETE]`).count()).toBe(8);
    expect(await cells.first().getAttribute('title')).toMatch(/partition 0: COMPLETE.*controller slot/s);
    // 64 rows in 8 partitions of 8: the stale sector in row 10 is in partition 1, member bytes 512 KiB + 512 KiB.
    expect(await page.textContent(`${row} [data-role=result]`)).toBe('1 mismatched sector at member bytes 524288+524288');
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    // Every state change arrived by push: the event log saw it running before it succeeded.
    const log = (await page.textContent('section[aria-label="event log"]')) ?? '';
    expect(log).toContain(`task ${id} (volume-scrub) running`);
    expect(log).toContain(`task ${id} (volume-scrub) succeeded`);
    const viaApi = await serverA.task(id);
    expect(viaApi?.state).toBe('succeeded');
    expect(viaApi?.args).toEqual({ volume: 'v5', partitions: 8 });
    await browser.shot('03-volume-scrub-complete');
  });

  it('repairs after confirmation; a check scrub then finds nothing', async () => {
    const { page } = browser;
    const repair = await issuedBy(page, () => issueScrub(page, 'v5', 'repair', '4'), { label: 'Scrub and repair', says: 'rewrites every parity or mirror block of v5' });
    await page.waitForSelector(`tr[data-task="${repair}"][data-state=succeeded]`, { timeout: 60_000 });
    expect(await page.textContent(`tr[data-task="${repair}"] [data-role=result]`)).toContain('1 mismatched sector (repaired)');
    const check = await issuedBy(page, () => issueScrub(page, 'v5', 'check', '4'));
    await page.waitForSelector(`tr[data-task="${check}"][data-state=succeeded]`, { timeout: 60_000 });
    expect(await page.textContent(`tr[data-task="${check}"] [data-role=result]`)).toBe('0 mismatched sectors');
    await browser.shot('04-volume-scrub-repaired');
  });

  it('initializes a volume from the form after confirmation', async () => {
    const { page } = browser;
    const id = await issuedBy(
      page,
      async () => {
        await page.selectOption(`${FORM} select[name=kind]`, 'volume-initialize');
        await page.selectOption(`${FORM} select[name=volume]`, 'v5');
        await page.fill(`${FORM} input[name=partitions]`, '2');
        await page.click(`${FORM} button[type=submit]`);
      },
      { label: 'Initialize', says: 'Every row of v5 gets its parity recomputed' },
    );
    await page.waitForSelector(`tr[data-task="${id}"][data-state=succeeded]`, { timeout: 60_000 });
    expect(await page.textContent(`tr[data-task="${id}"] [data-role=result]`)).toBe('0 sectors rewritten');
    expect(await page.locator(`tr[data-task="${id}"] .cell[data-state=COMPLETE]`).count()).toBe(2);
  });

  it('shows validation errors beside the field', async () => {
    const { page } = browser;
    await issue(page, 'c2', 'checksum', 'many');
    expect(await page.textContent(`${FORM} .field-error[data-field=partitions]`)).toContain('whole number');
    await issue(page, 'c2', 'checksum', '2', 'novalue');
    expect(await page.textContent(`${FORM} .field-error[data-field=args]`)).toContain('"novalue" is not name=value');
    await issue(page, '', 'checksum', '2');
    expect(await page.textContent(`${FORM} .field-error[data-field=cluster]`)).not.toBe('');
    await page.selectOption(`${FORM} select[name=cluster]`, 'c1');
    await page.selectOption(`${FORM} select[name=kind]`, 'volume-scrub');
    await page.selectOption(`${FORM} select[name=volume]`, '');
    await page.click(`${FORM} button[type=submit]`);
    expect(await page.textContent(`${FORM} .field-error[data-field=volume]`)).toContain('name the volume');
    await page.selectOption(`${FORM} select[name=kind]`, 'verify');
    await page.fill(`${FORM} input[name=seed]`, 'not-hex');
    await page.click(`${FORM} button[type=submit]`);
    expect(await page.textContent(`${FORM} .field-error[data-field=seed]`)).toContain('1-8 hex digits');
    await browser.shot('05-validation');
  });

  it('pauses, resumes and, after confirmation, cancels a task', async () => {
    const { page } = browser;
    const id = await issueNew(page, 'c2', 'checksum', '4', 'seconds=60');
    const row = `tr[data-task="${id}"]`;
    await page.waitForSelector(`${row}[data-state=running]`, { timeout: 15_000 });
    await page.click(`${row} button:has-text("Pause")`);
    await page.waitForSelector(`${row}[data-state=paused]`, { timeout: 15_000 });
    await page.click(`${row} button:has-text("Resume")`);
    await page.waitForSelector(`${row}[data-state=running]`, { timeout: 15_000 });
    await page.click(`${row} button:has-text("Cancel")`);
    await page.waitForSelector('[role=dialog]');
    await browser.shot('06-confirm-cancel');
    await page.click('[role=dialog] button:has-text("Keep it")');
    expect(await page.locator('[role=dialog]').count()).toBe(0);
    expect(await page.getAttribute(row, 'data-state')).toBe('running');
    await page.click(`${row} button:has-text("Cancel")`);
    await page.click('[role=dialog] button:has-text("Cancel the task")');
    await page.waitForSelector(`${row}[data-state=cancelled]`, { timeout: 20_000 });
  });

  it('asks before a task that overwrites data', async () => {
    const { page } = browser;
    const id = await issueNew(page, 'c2', 'fill', '2', 'seconds=1', 'Run fill');
    await page.waitForSelector(`tr[data-task="${id}"][data-state=succeeded]`, { timeout: 20_000 });
  });

  it('shows a volume with its members and devices; fails a member after confirmation and sees it degraded', async () => {
    const { page } = browser;
    const volume = '[data-cluster=c2] [data-volume=mirror]';
    await page.waitForSelector(`${volume}[data-state=clean]`, { timeout: 20_000 });
    expect(await page.textContent(`${volume} tr[data-member="1"]`)).toContain('d1');
    expect(await page.textContent('[data-cluster=c2] tr[data-device=d1] [data-role=used-by]')).toBe('mirror member 1');
    // A replacement needs a device: refused beside the field before anything is sent.
    await page.click(`${volume} button:has-text("Replace member")`);
    await expect.poll(() => page.textContent(`${volume} .field-error[data-field=with]`)).toContain('name a device or URI');
    await page.selectOption(`${volume} select[name=member]`, '1');
    await page.click(`${volume} button:has-text("Fail member")`);
    expect(await page.textContent('[role=dialog]')).toContain('Fail member 1 of mirror?');
    await page.click('[role=dialog] button:has-text("Fail member")');
    await page.waitForSelector(`${volume}[data-state=degraded] tr[data-member="1"][data-state=failed]`, { timeout: 20_000 });
    expect((await serverB.cluster('c2')).volumes.find((v) => v.name === 'mirror')?.state).toBe('degraded');
    // Failing the last in-sync member would lose data: the library refuses, shown beside the member field.
    await page.selectOption(`${volume} select[name=member]`, '0');
    await page.click(`${volume} button:has-text("Fail member")`);
    await page.click('[role=dialog] button:has-text("Fail member")');
    await expect.poll(() => page.textContent(`${volume} .field-error[data-field=member]`)).toContain('would lose data');
    await browser.shot('07a-volume-degraded');
  });

  it('volume actions over the API: login required, bad fields named, unknown volumes 404', async () => {
    const path = '/api/v1/clusters/c2/volumes/mirror/fail';
    const anonymous = await fetch(`${serverB.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"member":0}' });
    expect(anonymous.status).toBe(401);
    type ErrorBody = { error: { code: string; details: { field?: string } } };
    const bad = await serverB.post<ErrorBody>(path, { member: 'one' });
    expect([bad.status, bad.body.error.details.field]).toEqual([400, 'member']);
    const noWith = await serverB.post<ErrorBody>('/api/v1/clusters/c2/volumes/mirror/replace', { member: 1, with: ' ' });
    expect([noWith.status, noWith.body.error.details.field]).toEqual([400, 'with']);
    const missing = await serverB.post<ErrorBody>('/api/v1/clusters/c2/volumes/nope/fail', { member: 0 });
    expect([missing.status, missing.body.error.code]).toEqual([404, 'BLOCKRIG_E_NOT_FOUND']);
    const listed = await serverB.get<{ volumes: { cluster: string; name: string; state: string }[] }>('/api/v1/volumes');
    expect(listed.volumes.map((v) => [v.cluster, v.name, v.state])).toEqual([
      ['c1', 'v5', 'clean'],
      ['c2', 'mirror', 'degraded'],
    ]);
    // The CLI shows the same (blockrig volumes), as a table and as JSON.
    const env = { BLOCKRIG_PASSWORD: TEST_PASSWORD, BLOCKRIG_SERVER: '' };
    const table = runCli(['volumes', '--server', serverB.url], { env });
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/c2\s+mirror \(raid1\)\s+degraded\s+1\s+d1\s+failed/);
    const json = runCli(['volumes', '--server', serverB.url, '--cluster', 'c2', '--json'], { env });
    expect((JSON.parse(json.stdout) as { volumes: { members: { state: string }[] }[] }).volumes[0]?.members.map((m) => m.state)).toEqual(['in-sync', 'failed']);
  });

  it('shows a device going unavailable by push', async () => {
    const { page } = browser;
    rmSync(join(dir, 'c1-d2.img'));
    await page.waitForSelector('[data-cluster=c1] tr[data-device=d2].row-bad', { timeout: 20_000 });
    expect(await page.textContent('[data-cluster=c1] h2')).toContain('2/3 devices available');
    await browser.shot('07-device-unavailable');
  });

  it('kill server A: the page follows server B by itself, still logged in, and work carries on from B', async () => {
    const { page } = browser;
    const id = await issueNew(page, 'c2', 'checksum', '3', 'seconds=4');
    await stopProcess(serverA.process.child);
    await page.waitForURL((url) => url.href.startsWith(serverB.url), { timeout: 30_000 });
    await page.waitForSelector('[data-notice=followed]', { timeout: 20_000 });
    expect(await page.textContent('[data-notice=followed]')).toContain('Server A stopped answering; the dashboard followed to server B, and you are still logged in.');
    expect(await page.locator('form[aria-label=login]').count()).toBe(0);
    expect(page.url()).not.toContain('handoff');
    await page.waitForSelector('[data-connection=live]');
    expect(await page.textContent('[data-connection=live]')).toContain('server B');
    // The task issued through A finishes and is reported through B.
    await page.waitForSelector(`tr[data-task="${id}"][data-state=succeeded]`, { timeout: 30_000 });
    // Server B's peer check notices A is gone; the page's periodic refresh shows it.
    await expect.poll(() => page.textContent('tr[data-server=A]'), { timeout: 20_000 }).toMatch(/unreachable|not checked/);
    await browser.shot('08-followed-to-server-B');
    const viaB = await issueNew(page, 'c2', 'checksum', '2', 'seconds=1');
    await page.waitForSelector(`tr[data-task="${viaB}"][data-state=succeeded]`, { timeout: 20_000 });
    expect((await serverB.task(viaB))?.issuedVia).toBe('B');
    await browser.shot('09-carried-on-from-B');
  });

  it('logs out: the page asks for a login again and the session no longer works', async () => {
    const { page } = browser;
    await page.click('header button:has-text("Log out")');
    await page.waitForSelector('form[aria-label=login]');
    const status = await page.evaluate(async () => (await fetch('/api/v1/whoami')).status);
    expect(status).toBe(401);
  });
});
