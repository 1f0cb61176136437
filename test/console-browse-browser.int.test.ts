import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, screenshotPath } from './support/browser.js';
import { CONSOLE_TOKENS, ConsoleService, HOSTILE_NOTE, type TenantTrigger } from './support/console-service.js';
import { insertOrder, startConsoleSource, writeAuditChain } from './support/console-source.js';
import { eventually, uniqueName } from './support/infra.js';

/** The Sources and Topics pages in headless Chromium against the running service with a real MongoDB source. */
describe('web console browse pages in Chromium', () => {
  const service = new ConsoleService();
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let aliceTrigger: TenantTrigger;
  let running: Awaited<ReturnType<typeof startConsoleSource>>;

  const signIn = async (token: string, hash: string): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${service.url}/console/#${hash}`);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return page;
  };

  beforeAll(async () => {
    browser = await launchChromium();
    await service.start();
    aliceTrigger = await service.createTrigger('alice', 'alice-orders', 'alice_shop');
    running = await startConsoleSource(service);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await running?.stop();
    await service.stop();
  });

  it('shows an admin the running source with its stored position and checkpoint age', async () => {
    await insertOrder(running.mongo, uniqueName('src'), 1);
    const admin = await signIn(CONSOLE_TOKENS.admin, 'sources');
    const card = admin.locator('[data-source="alice-orders"]');
    await eventually(
      async () =>
        /^after resume token .*_data/.test(
          (await card
            .locator('[data-field="position"]')
            .textContent({ timeout: 2_000 })
            .catch(() => '')) ?? '',
        ),
      "the change's resume token shown as the position",
      30_000,
    );
    expect(await card.locator('[data-field="state"]').textContent()).toBe('running');
    expect(await card.locator('[data-field="checkpoint-age"]').textContent()).toMatch(/^\d+\.\d s$/);
    await admin.screenshot({ path: screenshotPath('source'), fullPage: true });
  });

  it("shows a tenant its own failed source with what to do about lost history, and none of the operator's", async () => {
    service.app.context.health.fail(
      'source:alice-feed',
      'source "alice-feed": cannot resume: the stored position (x) is no longer in the oplog (ChangeStreamHistoryLost).',
      'tenant:alice',
    );
    const alice = await signIn(CONSOLE_TOKENS.alice, 'sources');
    const lost = alice.locator('[data-source="alice-feed"] [data-field="history-lost"]');
    await eventually(async () => (await lost.count()) === 1, 'the history-lost note', 15_000);
    expect(await lost.textContent()).toMatch(/Enlarge the oplog, or set onHistoryLost: snapshot/);
    expect(await alice.locator('[data-source="alice-orders"]').count()).toBe(0);
  });

  it('shows a change written to MongoDB in the topic browser, filtered by op and key, its contents as text', async () => {
    const id = uniqueName('browse');
    await running.mongo.db('alice_shop').collection<{ _id: string; note: string }>('orders').insertOne({ _id: id, note: HOSTILE_NOTE });
    const alice = await signIn(CONSOLE_TOKENS.alice, `topics/${encodeURIComponent(aliceTrigger.topic)}`);
    await eventually(async () => (await alice.locator('#topic option').count()) > 0, 'the topic list', 15_000);
    await alice.locator('#op').selectOption('insert');
    await alice.locator('#key').fill(id);
    const rows = alice.locator('table.records tbody tr');
    await eventually(
      async () => {
        await alice.getByRole('button', { name: 'Show' }).click();
        await alice.locator('#records-summary').waitFor({ timeout: 10_000 });
        return (await rows.count()) === 1;
      },
      'the inserted document shown',
      30_000,
      1_000,
    );
    expect(await rows.locator('[data-field="op"]').textContent()).toBe('insert');
    expect(await rows.locator('pre.event').textContent()).toContain(id);
    expect(await alice.locator('table.records img, table.records script').count()).toBe(0);
    expect(await alice.evaluate('window.__pwned')).toBeUndefined();
    await alice.screenshot({ path: screenshotPath('topics'), fullPage: true });
  });

  it("shows a tenant its audit chain intact with its records, and an admin the operator's log broken where it was changed", async () => {
    const db = service.app.context.metadata.db;
    await writeAuditChain(db, 'audit.alice', 'alice-orders/alice_shop', 3);
    await writeAuditChain(db, 'audit', 'ops-stream', 2);
    await db.collection<{ _id: string }>('audit').updateOne({ _id: 'ops-stream:2' }, { $set: { op: 'update' } });

    const alice = await signIn(CONSOLE_TOKENS.alice, 'audit');
    const status = alice.locator('#chain-status');
    await eventually(async () => (await status.count()) === 1, 'the chain status', 15_000);
    expect(await status.getAttribute('data-ok')).toBe('true');
    expect(await status.textContent()).toContain('3 records in 1 streams of audit.alice');
    expect(await alice.locator('table.audit-records [data-field="seq"]').allTextContents()).toEqual(['3', '2', '1']);
    await alice.screenshot({ path: screenshotPath('audit'), fullPage: true });

    const admin = await signIn(CONSOLE_TOKENS.admin, 'audit');
    const broken = admin.locator('#chain-status');
    await eventually(async () => (await broken.count()) === 1, "the operator's chain status", 15_000);
    expect(await broken.getAttribute('data-ok')).toBe('false');
    expect(await broken.textContent()).toMatch(/ops-stream at seq 2 .*content does not match its hash/);
  });
});
