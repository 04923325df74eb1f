/** Reads the parts of a JUnit XML file that the HIL tests check, the way a CI test reporter would. */
import { readFileSync } from 'node:fs';

/** One `<testcase>`. */
export interface JunitCase {
  name: string;
  file: string | undefined;
  line: number | undefined;
  failure: string | undefined;
  error: string | undefined;
}

/** One `<testsuite>`. */
export interface JunitSuite {
  name: string;
  tests: number;
  failures: number;
  errors: number;
  properties: Record<string, string>;
  cases: JunitCase[];
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m?.[1] === undefined ? undefined : unescape(m[1]);
}

/** Parses every testsuite of a JUnit file; throws when the file is not the shape JUnit readers expect. */
export function readJunit(file: string): JunitSuite[] {
  const xml = readFileSync(file, 'utf8');
  if (!xml.startsWith('<?xml') || !/<testsuites[\s>]/.test(xml) || !xml.trimEnd().endsWith('</testsuites>')) throw new Error(`${file} is not a JUnit document`);
  const suites: JunitSuite[] = [];
  for (const m of xml.matchAll(/<testsuite\s[^>]*>[\s\S]*?<\/testsuite>/g)) {
    const block = m[0];
    const head = /<testsuite\s[^>]*>/.exec(block)?.[0] ?? '';
    const properties: Record<string, string> = {};
    for (const p of block.matchAll(/<property\s[^>]*\/>/g)) properties[attr(p[0], 'name') ?? ''] = attr(p[0], 'value') ?? '';
    const cases: JunitCase[] = [];
    for (const c of block.matchAll(/<testcase\s[^>]*?(?:\/>|>[\s\S]*?<\/testcase>)/g)) {
      const tag = /<testcase\s[^>]*>/.exec(c[0])?.[0] ?? '';
      const failure = /<failure\s[^>]*>([\s\S]*?)<\/failure>/.exec(c[0]);
      const error = /<error\s[^>]*>([\s\S]*?)<\/error>/.exec(c[0]);
      const line = attr(tag, 'line');
      cases.push({
        name: attr(tag, 'name') ?? '',
        file: attr(tag, 'file'),
        line: line === undefined ? undefined : Number(line),
        failure: failure?.[1] === undefined ? undefined : unescape(failure[1]),
        error: error?.[1] === undefined ? undefined : unescape(error[1]),
      });
    }
    suites.push({ name: attr(head, 'name') ?? '', tests: Number(attr(head, 'tests')), failures: Number(attr(head, 'failures')), errors: Number(attr(head, 'errors')), properties, cases });
  }
  return suites;
}
