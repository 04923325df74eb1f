/**
 * JUnit XML of scenario runs, in the form CI systems (GitHub Actions test reporters, GitLab, Jenkins) read:
 * one `<testsuite>` per scenario with the seed as a property, one `<testcase>` per expectation and per
 * fault, a failing one carrying where (file:line) and why (expected, got), and a `rig` test case that
 * fails when the rig or run itself could not complete. The run log goes to `<system-out>`.
 */
import type { ScenarioRun } from '../run/runner.js';

/** Escapes text for XML attributes and content; drops characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** The JUnit XML document of `runs`. */
export function junitXml(runs: readonly ScenarioRun[]): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const cases = (r: ScenarioRun): number => r.expectations.length + 1;
  const failures = (r: ScenarioRun): number => r.expectations.filter((e) => !e.passed).length;
  const errors = (r: ScenarioRun): number => (r.error === undefined ? 0 : 1);
  const total = (f: (r: ScenarioRun) => number): number => runs.reduce((n, r) => n + f(r), 0);
  const seconds = (ms: number): string => (ms / 1000).toFixed(3);
  out.push(`<testsuites name="blockrig hil" tests="${total(cases)}" failures="${total(failures)}" errors="${total(errors)}" time="${seconds(runs.reduce((n, r) => n + r.durationMs, 0))}">`);
  for (const r of runs) {
    const a = (t: string): string => escapeXml(t);
    out.push(`  <testsuite name="${a(r.name)}" tests="${cases(r)}" failures="${failures(r)}" errors="${errors(r)}" time="${seconds(r.durationMs)}" timestamp="${a(r.startedAt)}" file="${a(r.file)}">`);
    out.push('    <properties>');
    out.push(`      <property name="seed" value="${r.seed}"/>`);
    out.push(`      <property name="replay" value="${a(`blockrig hil run ${r.file} --seed ${r.seed}`)}"/>`);
    if (r.volumeState !== undefined) out.push(`      <property name="volume.state" value="${a(r.volumeState)}"/>`);
    out.push('    </properties>');
    const rigTime = seconds(r.durationMs - (r.taskMs ?? 0));
    if (r.error === undefined) out.push(`    <testcase classname="${a(r.name)}" name="rig" time="${rigTime}"/>`);
    else {
      out.push(`    <testcase classname="${a(r.name)}" name="rig" time="${rigTime}">`);
      out.push(`      <error type="run" message="${a(r.error)}">${a(`${r.error}\nreplay: blockrig hil run ${r.file} --seed ${r.seed}`)}</error>`);
      out.push('    </testcase>');
    }
    for (const e of r.expectations) {
      const name = `${a(e.name)}`;
      if (e.passed) {
        out.push(`    <testcase classname="${a(r.name)}" name="${name}" time="0" file="${a(e.where.file)}" line="${e.where.line}"/>`);
        continue;
      }
      const why = `${e.where.file}:${e.where.line}:${e.where.column}: ${e.name}: expected ${e.expected}, got ${e.actual}`;
      out.push(`    <testcase classname="${a(r.name)}" name="${name}" time="0" file="${a(e.where.file)}" line="${e.where.line}">`);
      out.push(`      <failure type="expectation" message="${a(`expected ${e.expected}, got ${e.actual}`)}">${a(`${why}\nseed ${r.seed}; replay: blockrig hil run ${r.file} --seed ${r.seed}`)}</failure>`);
      out.push('    </testcase>');
    }
    out.push(`    <system-out>${escapeXml(r.logs[0]?.text ?? '')}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
