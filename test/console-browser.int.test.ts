import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, screenshotPath } from './support/browser.js';
import { CONSOLE_TOKENS, ConsoleService, HOSTILE_NOTE, type TenantTrigger } from './support/console-service.js';
import { eventually } from './support/infra.js';

/** The one browser global the test reads (the test compiles without the DOM lib). */
interface BrowserWindow {
  getComputedStyle(node: unknown): { borderColor: string };
}

/**
 * The console in a real (headless) Chromium against the running service: sign-in, the pipeline's
 * counts, disable, redrive, a refused token and one tenant kept from another's triggers.
 * Needs /usr/bin/chromium: scripts/browser-setup.sh installs it.
 */
describe('web console in Chromium', () => {
  const service = new ConsoleService();
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let alice: Page;
  let aliceTrigger: TenantTrigger;

  const signIn = async (token: string): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${service.url}/console/`);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return page;
  };
  const text = async (page: Page, selector: string): Promise<string> =>
    (
      (await page
        .locator(selector)
        .first()
        .textContent({ timeout: 5_000 })
        .catch(() => '')) ?? ''
    ).trim();
  const delivered = async (page: Page): Promise<number> => Number(await text(page, '[data-trigger="alice-orders"] [data-field="delivered"]'));

  beforeAll(async () => {
    browser = await launchChromium();
    await service.start();
    aliceTrigger = await service.createTrigger('alice', 'alice-orders', 'alice_shop');
    await service.createTrigger('bob', 'bob-orders', 'bob_shop');
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await service.stop();
  });

  it('names the install script when Chromium is missing', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(
      /Chromium at \/nonexistent\/chromium, which is missing: run scripts\/browser-setup\.sh/,
    );
  });

  it('refuses a wrong token at sign-in and stays on the sign-in page', async () => {
    const page = await signIn('not-a-real-token');
    await eventually(async () => (await text(page, '[role="alert"]')).includes('unknown token'), 'the refusal shown', 10_000);
    expect(await page.locator('#nav').isHidden()).toBe(true);
    expect(await page.evaluate(`sessionStorage.getItem('changeflow.token')`)).toBeNull();
    await page.screenshot({ path: screenshotPath('sign-in-refused'), fullPage: true });
  });

  it("signs in with a tenant's token and sees the pipeline's counts move, a dead letter counted", async () => {
    alice = await signIn(CONSOLE_TOKENS.alice);
    await eventually(
      async () => (await text(alice, '[data-trigger="alice-orders"] [data-field="state"]')) === 'running',
      'alice-orders running on the Pipeline page',
      30_000,
    );
    expect(await alice.evaluate(`sessionStorage.getItem('changeflow.token')`)).toBe(CONSOLE_TOKENS.alice);
    expect(alice.url()).not.toContain(CONSOLE_TOKENS.alice);
    const before = await delivered(alice);
    await service.produce(aliceTrigger, 0, 20, [7]);
    await eventually(async () => (await delivered(alice)) === before + 19, 'delivered count moved by 19', 40_000);
    await eventually(async () => (await text(alice, '[data-trigger="alice-orders"] [data-field="dlq"]')) === '1', 'one dead letter counted', 40_000);
    // A failed component of alice's, as a source reports it through health (no real source runs in this test).
    service.app.context.health.fail('source:alice-feed', 'history lost: the change stream no longer holds the resume token; resnapshot', 'tenant:alice');
    const failed = alice.locator('[data-source="alice-feed"]');
    await eventually(async () => (await failed.count()) === 1, 'the failed source shown', 10_000);
    expect(await failed.getAttribute('class')).toBe('node failed');
    expect(await failed.locator('.failed-reason').textContent()).toContain('history lost');
    expect(await failed.evaluate((node) => (globalThis as unknown as BrowserWindow).getComputedStyle(node).borderColor)).toBe('rgb(220, 38, 38)');
    await alice.screenshot({ path: screenshotPath('pipeline'), fullPage: true });
  });

  it("shows tenant B only its own triggers, never tenant A's", async () => {
    const bob = await signIn(CONSOLE_TOKENS.bob);
    await eventually(async () => (await text(bob, '[data-trigger="bob-orders"] .name')) === 'bob-orders', "bob's pipeline", 20_000);
    await bob.goto(`${service.url}/console/#triggers`);
    await eventually(async () => (await bob.locator('table.triggers tbody tr').count()) === 1, "bob's trigger list", 10_000);
    expect(await bob.locator('body').textContent()).not.toContain('alice');
    await bob.screenshot({ path: screenshotPath('triggers-tenant-b'), fullPage: true });
  });

  it('disables a trigger from the Triggers page and sees it stop', async () => {
    await alice.goto(`${service.url}/console/#triggers`);
    const row = alice.locator('tr[data-trigger="alice-orders"]');
    await row.getByRole('button', { name: 'Disable' }).click();
    await eventually(async () => (await text(alice, 'tr[data-trigger="alice-orders"] [data-field="enabled"]')) === 'disabled', 'shown disabled', 10_000);
    await alice.screenshot({ path: screenshotPath('triggers'), fullPage: true });
    await alice.goto(`${service.url}/console/#pipeline`);
    await eventually(
      async () => (await text(alice, '[data-trigger="alice-orders"] [data-field="state"]')) === 'disabled',
      'pipeline shows it disabled',
      20_000,
    );
    const stoppedAt = await delivered(alice);
    await service.produce(aliceTrigger, 20, 25);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await delivered(alice)).toBe(stoppedAt);
    expect(aliceTrigger.bucket.records).toHaveLength(19);
  });

  it('redrives a dead letter back to the fixed trigger and sees it delivered; event text stays text', async () => {
    await service.fixFunction('alice', aliceTrigger);
    await alice.goto(`${service.url}/console/#triggers`);
    await alice.locator('tr[data-trigger="alice-orders"]').getByRole('button', { name: 'Enable' }).click();
    await eventually(() => aliceTrigger.bucket.records.length === 24, 'the 5 events written while disabled, after enable', 30_000);

    await alice.locator('tr[data-trigger="alice-orders"]').getByRole('link', { name: 'Dead letters' }).click();
    const letter = alice.locator('table.dead-letters tbody tr');
    await eventually(async () => (await letter.count()) === 1, 'one dead letter listed', 30_000);
    expect(await letter.locator('.message').textContent()).toMatch(/cannot price order 7/);
    expect(await letter.locator('pre.event').textContent()).toContain(JSON.stringify(HOSTILE_NOTE));
    expect(await alice.locator('table.dead-letters img, table.dead-letters script').count()).toBe(0);
    expect(await alice.evaluate('window.__pwned')).toBeUndefined();

    await letter.getByRole('button', { name: 'Redrive' }).click();
    await eventually(async () => (await text(alice, '#redrive-result')).startsWith('redriven 1 dead letter'), 'the redrive result shown', 30_000);
    await eventually(() => aliceTrigger.bucket.records.some((r) => r.action?.['key'] === 'order:7'), 'order 7 delivered after the redrive', 30_000);
    expect(await text(alice, 'table.dead-letters [data-field="fate"]')).toBe('redriven');
    await alice.screenshot({ path: screenshotPath('dead-letters'), fullPage: true });

    await alice.goto(`${service.url}/console/#pipeline`);
    await eventually(async () => (await delivered(alice)) === 25, 'pipeline counts the redriven event delivered', 30_000);

    // A selection: the box of the row, then "Redrive selected"; the event is delivered once more.
    await alice.goto(`${service.url}/console/#triggers`);
    await alice.locator('tr[data-trigger="alice-orders"]').getByRole('link', { name: 'Dead letters' }).click();
    await eventually(async () => (await letter.count()) === 1, 'the dead letter listed again', 30_000);
    await letter.locator('input.select').check();
    await alice.locator('#redrive-selected').click();
    await eventually(async () => (await text(alice, '#redrive-result')).startsWith('redriven 1 dead letter'), 'the selection redriven', 30_000);
    await eventually(() => aliceTrigger.bucket.records.filter((r) => r.action?.['key'] === 'order:7').length === 2, 'order 7 delivered again', 30_000);
  });
});
