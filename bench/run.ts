/**
 * `npm run bench [-- NAME...]`: runs every `bench/*.bench.ts` (or the named ones), writes JSON results
 * to `bench/results/` and the tables into `docs/benchmarks.md`, each between its own markers so that
 * running one benchmark leaves the others' figures in place.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderMarkdown, type Benchmark } from './harness.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, '..');
const docPath = join(root, 'docs', 'benchmarks.md');
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const scale = Number(process.env.BLOCKRIG_BENCH_SCALE ?? '1');

const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();

let doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n';
mkdirSync(join(benchDir, 'results'), { recursive: true });
let failed = 0;

for (const file of files) {
  const mod = (await import(pathToFileURL(join(benchDir, file)).href)) as { default: Benchmark };
  const bench = mod.default;
  if (wanted.length > 0 && !wanted.includes(bench.name)) continue;
  const workDir = mkdtempSync(join(tmpdir(), `blockrig-bench-${bench.name}-`));
  console.log(`== ${bench.title}`);
  try {
    const started = new Date();
    const result = await bench.run({ workDir, scale, log: (m) => console.log(`   ${m}`) });
    writeFileSync(join(benchDir, 'results', `${bench.name}.json`), JSON.stringify({ name: bench.name, at: started.toISOString(), ...result }, null, 2));
    const table = renderMarkdown(result);
    console.log(table);
    const section = [
      `<!-- bench:${bench.name}:start -->`,
      `## ${bench.title}`,
      '',
      `Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, with \`npm run bench -- ${bench.name}\`.`,
      '',
      table,
      `<!-- bench:${bench.name}:end -->`,
    ].join('\n');
    const pattern = new RegExp(`<!-- bench:${bench.name}:start -->[\\s\\S]*?<!-- bench:${bench.name}:end -->`);
    doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`;
    writeFileSync(docPath, doc);
  } catch (err) {
    failed++;
    console.error(`benchmark ${bench.name} failed:`, err);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
process.exitCode = failed === 0 ? 0 : 1;
