/**
 * The HTML report of scenario runs: one self-contained page per scenario (no scripts, no outside assets,
 * so it opens from a CI artifact) and an index. A page shows the verdict with the seed and the replay
 * command, the expectations with where (file:line) and why for each failure, a timeline chart in inline
 * SVG (task progress as a line; faults, their undo, controller kills, pauses and reclaims as marks), the
 * devices' end states, the fault list, and the log of the run and of every process it started.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioRun } from '../run/runner.js';
import { escapeXml as esc } from './junit.js';

const STYLE = `body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.pass{color:#176a1a}.fail{color:#b00020;font-weight:bold}tr.fail td{background:#fde8eb}
pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em;font-size:12px}code{background:#f0f0f0;padding:0 3px}`;

/** Writes `index.html` and one `<scenario>.html` per run into `dir`; returns the index path. */
export function writeHtmlReport(dir: string, runs: readonly ScenarioRun[]): string {
  mkdirSync(dir, { recursive: true });
  for (const r of runs) writeFileSync(join(dir, `${r.name}.html`), scenarioPage(r));
  const rows = runs
    .map((r) => `<tr class="${r.passed ? '' : 'fail'}"><td><a href="${esc(r.name)}.html">${esc(r.name)}</a></td><td class="${r.passed ? 'pass' : 'fail'}">${r.passed ? 'PASS' : 'FAIL'}</td><td>${r.seed}</td><td>${(r.durationMs / 1000).toFixed(1)} s</td><td>${esc(r.description)}</td></tr>`)
    .join('\n');
  const index = join(dir, 'index.html');
  writeFileSync(index, page('blockrig hil report', `<h1>blockrig hil report</h1><table><tr><th>scenario</th><th>result</th><th>seed</th><th>time</th><th>description</th></tr>${rows}</table>`));
  return index;
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>\n`;
}

/** The page of one run. */
export function scenarioPage(r: ScenarioRun): string {
  const verdict = r.passed ? '<span class="pass">PASS</span>' : '<span class="fail">FAIL</span>';
  const replay = `blockrig hil run ${r.file} --seed ${r.seed}`;
  const parts: string[] = [
    `<h1>${esc(r.name)}: ${verdict}</h1>`,
    `<p>${esc(r.description)}</p>`,
    `<p>Seed <b>${r.seed}</b>; replay with <code>${esc(replay)}</code>. Started ${esc(r.startedAt)}, ran ${(r.durationMs / 1000).toFixed(2)} s${r.taskMs === undefined ? '' : `, task ${(r.taskMs / 1000).toFixed(2)} s`}; volume ${esc(r.volumeState ?? 'not built')}.</p>`,
  ];
  if (r.error !== undefined) parts.push(`<p class="fail">The run could not complete: ${esc(r.error)}</p>`);
  parts.push('<h2>Expectations</h2><table><tr><th>expectation</th><th>result</th><th>expected</th><th>got</th><th>where</th></tr>');
  for (const e of r.expectations) {
    parts.push(`<tr class="${e.passed ? '' : 'fail'}"><td>${esc(e.name)}</td><td class="${e.passed ? 'pass' : 'fail'}">${e.passed ? 'pass' : 'FAIL'}</td><td>${esc(e.expected)}</td><td>${esc(e.actual)}</td><td>${esc(`${e.where.file}:${e.where.line}:${e.where.column}`)}</td></tr>`);
  }
  parts.push('</table>', '<h2>Timeline</h2>', timelineSvg(r));
  parts.push('<h2>Devices</h2><table><tr><th>device</th><th>kind</th><th>uri</th><th>available</th><th>role</th><th>member state</th><th>read errors</th><th>write errors</th><th>fault rules fired</th></tr>');
  for (const d of r.devices) {
    parts.push(`<tr><td>${esc(d.name)}</td><td>${esc(d.kind)}</td><td>${esc(d.uri)}</td><td>${d.available ? 'yes' : 'no'}</td><td>${esc(d.role)}</td><td>${esc(d.memberState)}</td><td>${d.readErrors}</td><td>${d.writeErrors}</td><td>${d.faultsFired}</td></tr>`);
  }
  parts.push('</table>');
  if (r.serverReports.length > 0) {
    parts.push('<h2>Device states reported by the servers</h2><table><tr><th>server</th><th>status</th><th>devices</th></tr>');
    for (const s of r.serverReports) {
      const devices = s.devices.map((d) => `${esc(d.name)}: ${d.available ? 'available' : '<b>unavailable</b>'} (${esc(d.reason)})`).join('<br>');
      parts.push(`<tr><td>${esc(s.server)}</td><td>${esc(s.status)}</td><td>${devices}</td></tr>`);
    }
  }
  parts.push('</table><h2>Faults</h2><table><tr><th>#</th><th>fault</th><th>fired</th><th>task progress then</th><th>undone</th><th>problem</th></tr>');
  for (const f of r.faults) {
    const fired = f.firedAtMs === undefined ? 'never' : `${f.firedAtMs} ms`;
    parts.push(`<tr class="${f.firedAtMs === undefined || f.error !== undefined ? 'fail' : ''}"><td>${f.index}</td><td>${esc(f.label)}</td><td>${fired}</td><td>${f.progressAtFire === undefined ? '' : `${(f.progressAtFire * 100).toFixed(0)}%`}</td><td>${f.undoneAtMs === undefined ? '' : `${f.undoneAtMs} ms`}</td><td>${esc(f.error ?? '')}</td></tr>`);
  }
  parts.push('</table>');
  if (r.workload !== undefined) {
    parts.push(`<h2>Workload</h2><p>${esc(r.workload.kind)}: ${r.workload.writesDuringTask} writes during the task; ${r.workload.verified ? `verified ${r.workload.bytesVerified} bytes` : `<span class="fail">not verified: ${esc(r.workload.problem ?? '')}</span>`}</p>`);
  }
  parts.push('<h2>Logs</h2>');
  for (const l of r.logs) parts.push(`<details${l.name === 'run' ? ' open' : ''}><summary>${esc(l.name)}</summary><pre>${esc(l.text)}</pre></details>`);
  return page(`${r.name}: ${r.passed ? 'PASS' : 'FAIL'}`, parts.join('\n'));
}

/** Task progress over time with the faults and controller events marked, as inline SVG. */
export function timelineSvg(r: ScenarioRun): string {
  const W = 900;
  const H = 260;
  const left = 50;
  const top = 20;
  const plotW = W - left - 50;
  const plotH = H - top - 60;
  const marks = [...r.faults.flatMap((f) => [f.firedAtMs, f.undoneAtMs]), ...r.controllerEvents.map((e) => e.atMs), ...r.progress.map((p) => p.atMs)].filter((x): x is number => x !== undefined);
  const end = Math.max(1, r.taskMs ?? 0, ...marks);
  const x = (ms: number): number => left + (ms / end) * plotW;
  const y = (fraction: number): number => top + plotH - fraction * plotH;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="task progress and faults over time">`];
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#999"/>`);
  for (const f of [0, 0.5, 1]) out.push(`<text x="${left - 6}" y="${y(f) + 4}" font-size="11" text-anchor="end">${f * 100}%</text>`);
  for (let i = 0; i <= 4; i++) out.push(`<text x="${x((end * i) / 4)}" y="${top + plotH + 14}" font-size="11" text-anchor="middle">${Math.round((end * i) / 4)} ms</text>`);
  const points = r.progress.map((p) => `${x(p.atMs).toFixed(1)},${y(p.progress).toFixed(1)}`).join(' ');
  if (points !== '') out.push(`<polyline points="${points}" fill="none" stroke="#1565c0" stroke-width="2"><title>task progress</title></polyline>`);
  r.faults.forEach((f, i) => {
    if (f.firedAtMs === undefined) return;
    const fx = x(f.firedAtMs);
    const row = top + plotH + 28 + (i % 2) * 13;
    out.push(`<line x1="${fx}" y1="${top}" x2="${fx}" y2="${row - 10}" stroke="#c62828" stroke-width="1.5"><title>${esc(f.label)}</title></line>`);
    out.push(`<text x="${fx + 3}" y="${row}" font-size="11" fill="#c62828">${esc(`#${f.index} ${f.fault.action}`)}</text>`);
    if (f.undoneAtMs !== undefined) {
      const ux = x(f.undoneAtMs);
      out.push(`<rect x="${fx}" y="${top}" width="${Math.max(1, ux - fx)}" height="${plotH}" fill="#c62828" fill-opacity="0.08"/>`);
      out.push(`<line x1="${ux}" y1="${top}" x2="${ux}" y2="${top + plotH}" stroke="#c62828" stroke-dasharray="4 3"><title>${esc(`fault ${f.index} undone`)}</title></line>`);
    }
  });
  for (const e of r.controllerEvents) {
    const colour = e.what === 'error' ? '#6a1b9a' : e.what === 'reclaim' ? '#2e7d32' : '#ef6c00';
    out.push(`<circle cx="${x(e.atMs)}" cy="${top + 8 + e.controller * 10}" r="4" fill="${colour}"><title>${esc(`${e.atMs} ms: controller ${e.controller} ${e.what}${e.detail === undefined ? '' : ` (${e.detail})`}`)}</title></circle>`);
  }
  out.push(`<text x="${left}" y="${H - 4}" font-size="11">blue: task progress; red: faults (shaded while active); dots: controller process kills/pauses (orange), reclaims of a dead or stalled holder's chunk (green), unexpected exits (purple), one row per controller</text>`);
  out.push('</svg>');
  return out.join('\n');
}
