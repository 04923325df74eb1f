/**
 * Real headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core, with a fresh
 * profile per launch, screenshots written under `test-artifacts/` (gitignored; CI keeps them).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { requireCommand } from '../support/requirements.js';

/** Chromium flags for a quiet, offline, sandbox-free headless run. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Where screenshots of a suite go. */
export function artifactsDir(suite: string): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', suite);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A launched browser with one page; `close()` ends Chromium and removes its profile. */
export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  shot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Launches `/usr/bin/chromium` (FAILS naming the package when missing) with a fresh profile. */
export async function launchBrowser(suite: string): Promise<TestBrowser> {
  const executablePath = requireCommand('chromium', 'chromium');
  const profile = mkdtempSync(join(tmpdir(), 'blockrig-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1400, height: 1000 } });
  const page = context.pages()[0] ?? (await context.newPage());
  const shots = artifactsDir(suite);
  return {
    context,
    page,
    shot: async (name) => {
      const path = join(shots, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
