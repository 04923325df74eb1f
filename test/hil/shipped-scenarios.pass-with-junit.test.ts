/**
 * Every scenario shipped in hil/scenarios runs for real through the built CLI (`blockrig hil run`), as CI
 * runs it, and its JUnit file says it passed: one suite with the seed, a passing test case for the rig,
 * for every expectation the scenario states and for every fault. The HTML report is written too, and the
 * rig leaves no loop device, process or work folder behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../hil/scenario/load.js';
import { runCliAsync } from '../support/cli.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { readJunit } from './junit-reader.js';

/** Command lines of running processes that mention `text`. */
function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmdline.includes(text) ? [cmdline] : [];
      } catch {
        return [];
      }
    });
}

const SCENARIOS = join(import.meta.dirname, '..', '..', 'hil', 'scenarios');
const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml')).sort();

describe('shipped HIL scenarios', () => {
  const dir = tempDir('blockrig-hil-shipped-');

  it('are all there', () => {
    expect(files).toEqual(expect.arrayContaining(['rebuild-under-controller-kill.yaml', 'rebuild-while-second-member-flaps.yaml', 'network-partition-between-clusters.yaml', 'scrub-repairs-silent-corruption.yaml', 'server-failover-mid-task.yaml', 'slow-member-during-rebuild.yaml', 'torn-member-write-during-rebuild.yaml', 'metadata-torn-write.yaml']));
  });

  for (const file of files) {
    it(`${file} passes and its JUnit file says so`, async () => {
      requireRoot('loop devices in HIL scenarios');
      for (const [cmd, pkg] of [['nbdkit', 'nbdkit'], ['qemu-nbd', 'qemu-utils'], ['socat', 'socat'], ['fio', 'fio'], ['tgtd', 'tgt'], ['tgtadm', 'tgt']] as const) requireCommand(cmd, pkg);
      const path = join(SCENARIOS, file);
      const scenario = loadScenario(path).scenario;
      if (scenario.servers?.hosts === true) requireCommand('ip', 'iproute2');
      const junit = join(dir, `${scenario.name}.xml`);
      const report = join(dir, `${scenario.name}-report`);
      const run = await runCliAsync(['hil', 'run', path, '--junit', junit, '--report', report, '--quiet'], { timeoutMs: 120_000, env: { TMPDIR: dir } });
      expect(run.stderr).toBe('');
      expect(run.status, run.stdout).toBe(0);

      const suites = readJunit(junit);
      expect(suites).toHaveLength(1);
      const suite = suites[0];
      if (suite === undefined) return;
      expect(suite.name).toBe(scenario.name);
      expect(suite.properties.seed).toBe(String(scenario.seed));
      expect({ failures: suite.failures, errors: suite.errors }).toEqual({ failures: 0, errors: 0 });
      const names = suite.cases.map((c) => c.name);
      const stated = Object.entries(scenario.expect).flatMap(([key, value]) => (key === 'members' || key === 'reported' || key === 'console' ? Object.keys(value as object).map((m) => `expect.${key}.${m}`) : [`expect.${key}`]));
      expect(names.sort()).toEqual(['rig', ...stated, ...scenario.faults.map((_, i) => `faults.${i}`)].sort());
      expect(suite.cases.filter((c) => c.failure !== undefined || c.error !== undefined)).toEqual([]);
      expect(suite.tests).toBe(suite.cases.length);
      for (const c of suite.cases.filter((x) => x.name !== 'rig')) expect(c.line).toBeGreaterThan(0);

      const page = readFileSync(join(report, `${scenario.name}.html`), 'utf8');
      expect(page).toContain(`${scenario.name}: <span class="pass">PASS</span>`);
      expect(page).toContain(`Seed <b>${scenario.seed}</b>`);
      expect(page).toContain('<svg');
      expect(existsSync(join(report, 'index.html'))).toBe(true);

      if (scenario.servers !== undefined) {
        // Both servers were there at the start; what the survivors reported is on the page.
        expect(page).toContain('Device states reported by the servers');
      }
      if (scenario.task.kind === 'region') {
        // Real controller processes worked the task over a region that meta format made, and meta check ran.
        expect(page).toContain(' meta format ');
        for (let id = 0; id < scenario.controllers.count; id++) expect(page).toMatch(new RegExp(`controller:${id} \\(pid \\d+\\)`));
        expect(page).toContain(`controller run --meta`);
        expect(page).toContain(' meta check ');
      }
      if (scenario.servers?.hosts === true) {
        // The run log names the namespaces it made; they are gone.
        const names = /namespaces (\S+) and (\S+),/.exec(page)?.slice(1) ?? [];
        expect(names).toHaveLength(2);
        const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
        for (const name of names) expect(left).not.toContain(name);
      }

      // Nothing of the rig is left: no work folder, no loop device on its images, no process.
      expect(readdirSync(dir).filter((f) => f.startsWith('blockrig-hil-'))).toEqual([]);
      expect(processesMentioning(dir)).toEqual([]);
      // fio's verify state stays out of the caller's working directory.
      expect(existsSync(join(process.cwd(), 'local-hil-0-verify.state'))).toBe(false);
      expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(dir);
    }, 150_000);
  }
});
