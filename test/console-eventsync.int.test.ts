import type { Browser, BrowserContext } from 'playwright-core';
import { launchChromium, screenshotPath, signedInPage } from './support/browser.js';
import { apiCall, CONSOLE_TOKENS, ConsoleService } from './support/console-service.js';
import { eventually, uniqueName } from './support/infra.js';

type Json = Record<string, unknown>;

/** The EventSync page: an admin's view of the services, their unexported events per key, trigger and reset. */
describe('console EventSync page', () => {
  const target = uniqueName('es-console');
  const service = new ConsoleService([
    {
      serviceName: 'checkout',
      trigger: { type: 'window', observationPeriod: 3600 },
      endpoints: [{ eventKey: 'cart' }, { eventKey: 'payment' }],
      target: { topic: target },
      auth: { type: 'bearer', token: 'es-secret-token-0123456789' },
    },
  ]);
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const call = (token: string | undefined, method: 'GET' | 'POST', path: string): ReturnType<typeof apiCall> =>
    apiCall(service.url, method, path, token !== undefined ? { token } : {});
  const post = (key: string, body: string): Promise<Response> =>
    fetch(`${service.url}/eventsync/checkout/event/${key}`, {
      method: 'POST',
      headers: { authorization: 'Bearer es-secret-token-0123456789', 'content-type': 'text/plain' },
      body,
    });
  const pendingOf = async (): Promise<Record<string, number>> => {
    const [checkout] = (await call(CONSOLE_TOKENS.admin, 'GET', '/api/eventsync')).body['services'] as Json[];
    return Object.fromEntries((checkout?.['endpoints'] as Json[]).map((e) => [String(e['eventKey']), Number(e['pending'])]));
  };

  beforeAll(async () => {
    browser = await launchChromium();
    await service.start();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await service.stop();
  });

  it('lists the services to an admin with endpoints and unexported events per key, never the credentials', async () => {
    expect((await post('cart', 'first cart')).status).toBe(200);
    expect((await post('cart', 'second cart')).status).toBe(200);
    const answer = await call(CONSOLE_TOKENS.admin, 'GET', '/api/eventsync');
    expect(answer.status).toBe(200);
    expect(answer.body['services']).toEqual([
      {
        serviceName: 'checkout',
        pathPrefix: '/eventsync/checkout',
        trigger: expect.objectContaining({ type: 'window' }),
        auth: 'bearer',
        targetTopic: target,
        endpoints: [
          { eventKey: 'cart', via: 'http', topic: null, pending: 2 },
          { eventKey: 'payment', via: 'http', topic: null, pending: 0 },
        ],
      },
    ]);
    expect(JSON.stringify(answer.body)).not.toContain('es-secret-token');
  });

  it("refuses tenants (the operator's services), no token, and unknown services, naming why", async () => {
    const tenant = await call(CONSOLE_TOKENS.alice, 'GET', '/api/eventsync');
    expect(tenant.status).toBe(403);
    expect(tenant.body['error']).toMatch(/EventSync services are the operator's/);
    expect((await call(CONSOLE_TOKENS.bob, 'POST', '/api/eventsync/checkout/reset')).status).toBe(403);
    expect((await call(undefined, 'GET', '/api/eventsync')).status).toBe(401);
    const unknown = await call(CONSOLE_TOKENS.admin, 'POST', '/api/eventsync/nope/trigger');
    expect(unknown.status).toBe(404);
    expect(unknown.body['error']).toMatch(/^params\.service: no EventSync service "nope".*"checkout"/);
    expect(await pendingOf()).toEqual({ cart: 2, payment: 0 });
  });

  it('in Chromium: shows the pending counts, triggers a message and resets', async () => {
    const page = await signedInPage(browser, contexts, service.url, CONSOLE_TOKENS.admin, `eventsync`, 700);
    const section = page.locator('section[data-service="checkout"]');
    const pending = (key: string) => section.locator(`tr[data-key="${key}"] [data-field="pending"]`).textContent();
    await section.waitFor({ timeout: 10_000 });
    expect(await pending('cart')).toBe('2');
    expect(await pending('payment')).toBe('0');

    // A manual trigger publishes what the window holds, both carts in one message.
    await section.getByRole('button', { name: 'Trigger now' }).click();
    await eventually(
      async () => ((await section.locator('[data-field="result"]').textContent()) ?? '').startsWith('published 2 events as message '),
      'the message published',
      15_000,
    );
    expect(await pending('cart')).toBe('0');
    const admin = service.app.context.kafka.admin();
    await admin.connect();
    const published = (await admin.topicOffsets(target)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    await admin.disconnect();
    expect(published).toBe(1);
    await page.screenshot({ path: screenshotPath('eventsync'), fullPage: true });

    expect((await post('payment', 'paid')).status).toBe(200);
    await page.reload();
    await section.waitFor({ timeout: 10_000 });
    expect(await pending('payment')).toBe('1');
    await section.getByRole('button', { name: 'Reset' }).click();
    await eventually(
      async () => ((await section.locator('[data-field="result"]').textContent()) ?? '').startsWith('reset: 1 unexported event'),
      'the reset reported',
      10_000,
    );
    expect(await pendingOf()).toEqual({ cart: 0, payment: 0 });
  });
});
