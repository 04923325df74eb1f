/**
 * `blockrig hil validate|run`: the hardware-in-the-loop harness (`docs/hil.md`). `validate` checks
 * scenario files and prints every problem as file:line:column; `run` validates all of them first, then
 * runs each in turn, printing the run log on stderr, and writes JUnit XML and an HTML report. Exit
 * status: 0 every scenario passed, 1 one failed, 2 a scenario is invalid, 130 interrupted (Ctrl-C; the
 * rig is torn down first, a second Ctrl-C exits at once).
 */
import type { Command } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { checkScenarioText, formatProblem, loadScenario, type LoadedScenario, type ScenarioProblem } from '../../../hil/scenario/load.js';
import { writeHtmlReport } from '../../../hil/report/html.js';
import { junitXml } from '../../../hil/report/junit.js';
import { runScenario, type ScenarioRun } from '../../../hil/run/runner.js';
import { ConfigError } from '../../errors.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { printJson, printTable } from '../output.js';

const RunArgs = z.object({
  seed: z.coerce.number().int().nonnegative().max(2 ** 32 - 1).optional(),
});

/** Reads and checks one file; an unreadable file is a problem at line 1. */
function check(file: string): { file: string; name?: string; problems: readonly ScenarioProblem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { file, problems: [{ file, line: 1, column: 1, field: '', message: `cannot read: ${(err as Error).message}` }] };
  }
  const result = checkScenarioText(text, file);
  return result.ok ? { file, name: result.loaded.scenario.name, problems: [] } : { file, problems: result.problems };
}

export const hilCommands: CommandModule = (program: Command) => {
  const hil = program.command('hil').description('hardware-in-the-loop scenarios: build a rig, run controllers, a workload and faults, check expectations (docs/hil.md)');

  hil
    .command('validate')
    .description('check scenario files without running them; problems are printed as file:line:column: field: message')
    .argument('<scenario...>', 'scenario YAML files')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  blockrig hil validate hil/scenarios/*.yaml')
    .action(
      action((files: string[], options: { json?: boolean }) => {
        const results = files.map(check);
        const bad = results.filter((r) => r.problems.length > 0);
        if (options.json === true) printJson({ scenarios: results.map((r) => ({ file: r.file, name: r.name ?? null, valid: r.problems.length === 0, problems: r.problems })) });
        else {
          for (const r of results) {
            if (r.problems.length === 0) process.stdout.write(`ok  ${r.file} (${r.name ?? ''})\n`);
            else for (const p of r.problems) process.stderr.write(`${formatProblem(p)}\n`);
          }
        }
        if (bad.length > 0) {
          if (options.json === true) return Promise.resolve(2);
          throw new ConfigError(`${bad.length} of ${files.length} scenarios are invalid (problems above)`, { details: { files: bad.map((b) => b.file) } });
        }
        return Promise.resolve(0);
      }),
    );

  hil
    .command('run')
    .description('run scenarios: build the rig, run, inject faults, check expectations, tear down, report')
    .argument('<scenario...>', 'scenario YAML files')
    .option('--junit <file>', 'write JUnit XML here')
    .option('--report <dir>', 'write the HTML report (index.html and one page per scenario) here')
    .option('--keep', 'keep each work folder (images, sockets) after the run')
    .option('--seed <n>', "override every scenario's seed (to replay a failure)")
    .option('--quiet', 'do not print the run log on stderr')
    .option('--json', 'print the results as JSON')
    .addHelpText('after', '\nExamples:\n  blockrig hil run hil/scenarios/*.yaml --junit results/hil.xml --report results/hil\n  blockrig hil run hil/scenarios/scrub-repairs-silent-corruption.yaml --seed 42 --keep')
    .action(
      action(async (files: string[], options: { junit?: string; report?: string; keep?: boolean; seed?: string; quiet?: boolean; json?: boolean }) => {
        const args = parseArgs(RunArgs, { seed: options.seed });
        // Every file is checked before anything is built, so a typo in the last one costs nothing.
        const loaded: LoadedScenario[] = files.map((f) => loadScenario(f));
        const interrupt = new AbortController();
        let interrupts = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          interrupts++;
          if (interrupts > 1) process.exit(130);
          process.stderr.write(`\nblockrig: ${signal}: tearing the rig down (again to exit at once)\n`);
          interrupt.abort(new Error(`interrupted by ${signal}`));
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        const runs: ScenarioRun[] = [];
        try {
          for (const l of loaded) {
            if (interrupt.signal.aborted) break;
            const run = await runScenario(l, {
              ...(args.seed === undefined ? {} : { seed: args.seed }),
              keep: options.keep === true,
              signal: interrupt.signal,
              onLog: options.quiet === true ? undefined : (line) => process.stderr.write(`${l.scenario.name} ${line}\n`),
            });
            runs.push(run);
            if (options.quiet !== true) process.stderr.write(`${run.passed ? 'PASS' : 'FAIL'} ${run.name} (seed ${run.seed})\n`);
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        if (options.junit !== undefined) {
          mkdirSync(dirname(resolve(options.junit)), { recursive: true });
          writeFileSync(options.junit, junitXml(runs));
        }
        const index = options.report === undefined ? undefined : writeHtmlReport(options.report, runs);
        if (options.json === true) {
          printJson({ runs: runs.map((r) => ({ name: r.name, file: r.file, passed: r.passed, seed: r.seed, error: r.error ?? null, durationMs: r.durationMs, taskMs: r.taskMs ?? null, expectations: r.expectations })), junit: options.junit ?? null, report: index ?? null });
        } else {
          printTable(runs, {
            SCENARIO: (r) => r.name,
            RESULT: (r) => (r.passed ? 'pass' : 'FAIL'),
            SEED: (r) => r.seed,
            TIME: (r) => `${(r.durationMs / 1000).toFixed(1)}s`,
            WHY: (r) => r.error ?? r.expectations.filter((e) => !e.passed).map((e) => `${e.where.file}:${e.where.line} ${e.name}: expected ${e.expected}, got ${e.actual}`).join('; '),
          });
          if (index !== undefined) process.stdout.write(`report: ${index}\n`);
        }
        if (interrupt.signal.aborted) return 130;
        return runs.every((r) => r.passed) ? 0 : 1;
      }),
    );
};
