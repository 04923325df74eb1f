/**
 * Serves the dashboard: `/` is a small HTML shell, `/ui/*` the browser bundle the project's build wrote
 * to `dist/ui/` (Preact included; nothing is fetched from elsewhere at run time). The page itself needs
 * no session; every API call it makes does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { BlockrigError, ErrorCode, NotFoundError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

/** The folder holding the built bundle: next to the running `dist/cli.js`, or `dist/ui` from the sources. */
export function findUiDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'ui'), resolve(here, '..', '..', 'dist', 'ui')];
  return candidates.find((dir) => existsSync(join(dir, 'main.js'))) ?? null;
}

/** The HTML shell that loads the bundle. */
export function dashboardHtml(serverId: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blockrig · server ${serverId.replace(/[^A-Za-z0-9_.-]/g, '')}</title>
<link rel="stylesheet" href="/ui/main.css">
<script type="module" src="/ui/main.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
}

/** Registers `/` and `/ui/*`. A missing build answers 500 with what to run. */
export function registerUiRoutes(app: FastifyInstance, serverId: string, uiDir: string | null = findUiDir()): void {
  const files = new Map<string, Buffer>();
  const load = (name: string): Buffer => {
    if (uiDir === null) throw new BlockrigError(ErrorCode.Internal, 'the dashboard is not built (dist/ui/main.js is missing): run npm run build');
    const cached = files.get(name);
    if (cached) return cached;
    const path = join(uiDir, name);
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || !existsSync(path)) throw new NotFoundError(`no dashboard file "${name}"`, { details: { field: 'path' } });
    const body = readFileSync(path);
    files.set(name, body);
    return body;
  };

  app.get('/', (_request, reply) => {
    load('main.js');
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(dashboardHtml(serverId));
  });

  app.get<{ Params: { name: string } }>('/ui/:name', (request, reply) => {
    const name = request.params.name;
    const body = load(name);
    const ext = name.slice(name.lastIndexOf('.'));
    return reply.type(TYPES[ext] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(body);
  });
}
