// Debian's Chromium driven by playwright-core, headless. .ci/run installs the `chromium` package
// when it is missing; without it the browser tests fail and say how to install it.
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { defer } from './harness.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots and other artefacts of the tests (gitignored). */
export const TEST_OUTPUT = new URL('../../test-output/', import.meta.url).pathname;

export async function launchBrowser(t: { after(fn: () => unknown): void }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
  defer(t, () => browser.close());
  return browser;
}

export function outputPath(name: string): string {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return `${TEST_OUTPUT}${name}`;
}
