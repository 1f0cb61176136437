import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a headless Chromium that reaches nothing but the servers the test names. */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Debian's Chromium, headless; fails naming the install script when it is missing. */
export async function launchChromium(executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `the console's browser tests need Chromium at ${executablePath}, which is missing: run scripts/browser-setup.sh (apt-get install chromium) first`,
    );
  }
  return chromium.launch({ executablePath, headless: true, args: FLAGS });
}

/**
 * Where the tests' screenshots go: `.changeflow/screenshots/` (ignored by git) on every run, and
 * docs/images/ (committed, shown by docs/console.md) when CHANGEFLOW_UPDATE_SCREENSHOTS=1, so a
 * test run leaves the checkout clean.
 */
export function screenshotPath(name: string): string {
  const into = process.env['CHANGEFLOW_UPDATE_SCREENSHOTS'] === '1' ? '../../docs/images/' : '../../.changeflow/screenshots/';
  const dir = new URL(into, import.meta.url);
  mkdirSync(dir, { recursive: true });
  return new URL(`console-${name}.png`, dir).pathname;
}

/** A new page of its own context (closed with the returned contexts), signed in with `token` at the console's `#hash`. */
export async function signedInPage(
  browser: Browser,
  contexts: { push(context: BrowserContext): unknown },
  consoleUrl: string,
  token: string,
  hash: string,
  height = 900,
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height } });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${consoleUrl}/console/#${hash}`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return page;
}
