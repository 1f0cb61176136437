import type { Browser, BrowserContext } from 'playwright-core';
import { deadLetterRecord } from '../processors/dead-letters.js';
import { launchChromium, screenshotPath, signedInPage } from './support/browser.js';
import { apiCall, BUGGY_CODE, CONSOLE_TOKENS, ConsoleService, FIXED_CODE, type TenantTrigger } from './support/console-service.js';
import { eventually } from './support/infra.js';

type Json = Record<string, unknown>;

const order = (seq: number, poison = false): Json => ({ op: 'insert', fullDocument: { _id: seq, seq: { $numberInt: String(seq) }, poison } });

/** The Trigger page: definition, state and counts, the function read, edited and tried with `execute`. */
describe('console trigger page', () => {
  const service = new ConsoleService();
  let aliceTrigger: TenantTrigger;
  let bobTrigger: TenantTrigger;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const call = (token: string | undefined, method: 'GET' | 'POST', path: string, body?: unknown): ReturnType<typeof apiCall> =>
    apiCall(service.url, method, path, { ...(token !== undefined ? { token } : {}), ...(body !== undefined ? { body } : {}) });
  const at = (trigger: TenantTrigger, rest: string): string => `/api/triggers/${trigger.id}/${rest}`;

  beforeAll(async () => {
    browser = await launchChromium();
    await service.start();
    aliceTrigger = await service.createTrigger('alice', 'alice-orders', 'alice_shop');
    bobTrigger = await service.createTrigger('bob', 'bob-orders', 'bob_shop');
    await service.produce(aliceTrigger, 0, 5, [3]);
    await eventually(() => aliceTrigger.bucket.records.length >= 4, "alice's four good orders delivered", 40_000);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await service.stop();
  });

  it("shows a tenant its trigger's function, what it reads, its counts and its dead letters", async () => {
    let detail: Json = {};
    await eventually(
      async () => {
        detail = (await call(CONSOLE_TOKENS.alice, 'GET', at(aliceTrigger, 'detail'))).body;
        // The metric counts a batch once its offsets are committed, a moment after the sink holds its records.
        return (detail['deadLetters'] as Json | undefined)?.['stored'] === 1 && (detail['counts'] as Json)['delivered'] === 4;
      },
      'the poison order dead-lettered, the other four counted delivered',
      40_000,
    );
    expect(detail['trigger']).toMatchObject({ id: aliceTrigger.id, name: 'alice-orders', userId: 'alice', enabled: true, reads: [aliceTrigger.topic] });
    expect(detail['function']).toMatchObject({ id: aliceTrigger.functionId, language: 'javascript', javascript: BUGGY_CODE });
    const counts = detail['counts'] as Json;
    expect(counts['delivered']).toBe(4);
    expect(counts['batches']).toBeGreaterThanOrEqual(1);
    expect(Object.values(counts['errors'] as Json).reduce((a: number, b) => a + Number(b), 0)).toBeGreaterThanOrEqual(1);
    expect(detail['state']).toMatchObject({ state: 'running', ok: true });
  });

  it("keeps a tenant out of another tenant's trigger: detail, edit and execute", async () => {
    for (const [method, rest, body] of [
      ['GET', 'detail', undefined],
      ['POST', 'function', { javascript: FIXED_CODE }],
      ['POST', 'execute', { recent: 3 }],
    ] as const) {
      const answer = await call(CONSOLE_TOKENS.bob, method, at(aliceTrigger, rest), body);
      expect([rest, answer.status]).toEqual([rest, 404]);
    }
    expect((await call(undefined, 'GET', at(aliceTrigger, 'detail'))).status).toBe(401);
    expect((await call(CONSOLE_TOKENS.bob, 'GET', at(bobTrigger, 'detail'))).status).toBe(200);
  });

  it('runs the stored function on sample events and on the newest events of its topic, and edited code before it is saved', async () => {
    const sample = await call(CONSOLE_TOKENS.alice, 'POST', at(aliceTrigger, 'execute'), { events: [order(7)] });
    expect(sample.status).toBe(200);
    expect(sample.body).toMatchObject({ error: null, actions: [{ sink: 'out', op: 'set', key: 'order:7', value: { seq: 7 } }] });

    const failing = await call(CONSOLE_TOKENS.alice, 'POST', at(aliceTrigger, 'execute'), { events: [order(8, true)] });
    expect(failing.body['error']).toMatchObject({ message: expect.stringContaining('cannot price order 8') });

    const recent = await call(CONSOLE_TOKENS.alice, 'POST', at(aliceTrigger, 'execute'), { recent: 5, javascript: FIXED_CODE });
    expect(recent.status).toBe(200);
    // Orders 0…4 are all the topic holds (their order across partitions is not defined); the edited code prices the poison order 3 too.
    const ids = (recent.body['events'] as Json[]).map((e) => ((e['fullDocument'] as Json)['_id'] as Json)['$numberInt']);
    expect(ids.sort()).toEqual(['0', '1', '2', '3', '4']);
    expect(recent.body['error']).toBeNull();
    const actions = (recent.body['actions'] as Json[]).sort((a, b) => String(a['key']).localeCompare(String(b['key'])));
    expect(actions.map((a) => a['value'])).toEqual([{ seq: 0 }, { seq: 1 }, { seq: 2 }, { fixed: true }, { seq: 4 }]);
  });

  it('validates execute and edit requests at the edge, naming the field and the fix', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['execute', {}, /^body: give either events .* or recent/],
      ['execute', { events: [], recent: 2 }, /^body: give either events/],
      ['execute', { recent: 0 }, /^body\.recent: /],
      ['execute', { recent: 2, colour: 'red' }, /colour/],
      ['function', {}, /^body\.javascript: /],
      ['function', { javascript: 'export default function handle(events) { return events.map(' }, /does not compile/],
    ];
    for (const [rest, body, error] of cases) {
      const answer = await call(CONSOLE_TOKENS.alice, 'POST', at(aliceTrigger, rest), body);
      expect([rest, answer.status]).toEqual([rest, 400]);
      expect(answer.body['error']).toMatch(error);
    }
    expect((await call(CONSOLE_TOKENS.alice, 'GET', `/api/triggers/bad%20id/detail`)).status).toBe(400);
  });

  it('in Chromium: opens the trigger from the list, tries its function on the newest events, saves a fix that the trigger then runs', async () => {
    const page = await signedInPage(browser, contexts, service.url, CONSOLE_TOKENS.alice, `triggers`, 1100);
    await page.getByRole('link', { name: 'alice-orders' }).click();
    await page.getByRole('heading', { name: 'Trigger alice-orders' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#function-source').inputValue()).toBe(BUGGY_CODE);
    expect(await page.locator('[data-field="dead letters"]').textContent()).toMatch(/^1 in /);

    await page.getByRole('button', { name: 'Run on the 10 newest events' }).click();
    await page.locator('#execute-result .error').waitFor({ timeout: 20_000 });
    expect(await page.locator('#execute-result .error').textContent()).toContain('cannot price order 3');
    expect(await page.locator('#sample-events').inputValue()).toContain('"poison": true');

    await page.locator('#function-source').fill(FIXED_CODE);
    await page.getByRole('button', { name: 'Run on these events' }).click();
    await eventually(async () => ((await page.locator('#execute-actions').textContent()) ?? '').includes('"fixed": true'), 'the edited code run', 20_000);
    await page.getByRole('button', { name: 'Save function' }).click();
    await eventually(async () => ((await page.locator('#save-result').textContent()) ?? '').startsWith('saved'), 'the function saved', 20_000);
    await page.screenshot({ path: screenshotPath('trigger'), fullPage: true });

    // The saved fix is what the trigger runs now: a new poison order is priced instead of dead-lettered.
    await service.produce(aliceTrigger, 20, 21, [20]);
    const priced = (): unknown => aliceTrigger.bucket.records.find((r) => r.action?.['key'] === 'order:20')?.action;
    await eventually(() => priced() !== undefined, 'order 20 priced by the saved fix', 40_000);
    expect(priced()).toMatchObject({ value: { fixed: true } });
  });

  it('redrives the dead letters matching a filter, once: a second call finds them redriven', async () => {
    const list = (query: string): Promise<Json> => call(CONSOLE_TOKENS.alice, 'GET', `${at(aliceTrigger, 'dead-letters')}${query}`).then((a) => a.body);
    expect(await list('?errorKind=function:runtime&contains=PRICE%20ORDER%203')).toMatchObject({ total: 1, matching: 1 });
    expect(await list('?contains=no-such-text')).toMatchObject({ total: 1, matching: 0, letters: [] });
    expect((await call(CONSOLE_TOKENS.alice, 'GET', `${at(aliceTrigger, 'dead-letters')}?errorKind=Not%20A%20Kind`)).status).toBe(400);

    const matching = (filter: Json): ReturnType<typeof apiCall> =>
      call(CONSOLE_TOKENS.alice, 'POST', at(aliceTrigger, 'dead-letters/redrive-matching'), { filter });
    const first = await matching({ errorKind: 'function:runtime', contains: 'cannot price order 3' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ replayed: 1, matching: 1, remaining: 0, byTopic: { [aliceTrigger.topic]: 1 }, letters: [{ outcome: 'replayed' }] });
    // The function was fixed in the Chromium test: the redriven order is priced now.
    const order3 = (): number => aliceTrigger.bucket.records.filter((r) => r.action?.['key'] === 'order:3').length;
    await eventually(() => order3() === 1, 'order 3 delivered after the redrive', 40_000);

    expect((await matching({ contains: 'cannot price order 3' })).body).toMatchObject({ replayed: 0, matching: 0 });
    expect(((await list('')).letters as Json[]).map((l) => l['redriven'])).toEqual([true]);
    expect((await matching({ contains: 'cannot price order 3', includeRedriven: true })).body).toMatchObject({ replayed: 1 });
    await eventually(() => order3() === 2, 'order 3 delivered again when asked to include redriven letters', 40_000);

    const unfiltered = await matching({});
    expect(unfiltered.status).toBe(400);
    expect(unfiltered.body['error']).toMatch(/^body\.filter: give errorKind or contains/);
    expect((await call(CONSOLE_TOKENS.bob, 'POST', at(aliceTrigger, 'dead-letters/redrive-matching'), { filter: { contains: 'x' } })).status).toBe(404);
  });

  it('in Chromium: filters the dead letters, redrives the matching one and shows it failed again under the unfixed function', async () => {
    await service.produce(bobTrigger, 30, 33, [31, 32]);
    const letters = async (): Promise<Json[]> => (await call(CONSOLE_TOKENS.bob, 'GET', at(bobTrigger, 'dead-letters'))).body['letters'] as Json[];
    await eventually(async () => (await letters()).length === 2, "bob's two poison orders dead-lettered", 40_000);

    const page = await signedInPage(browser, contexts, service.url, CONSOLE_TOKENS.bob, `dead-letters/${bobTrigger.id}`, 900);
    await page.locator('#dead-letter-filter').waitFor({ timeout: 10_000 });
    expect(await page.locator('#redrive-matching').isDisabled()).toBe(true);
    await page.getByLabel('Contains').fill('cannot price order 31');
    await page.getByRole('button', { name: 'Show' }).click();
    await eventually(async () => ((await page.locator('#matching').textContent()) ?? '') === '1 matching the filter', 'one letter matching', 10_000);
    expect(await page.locator('tr[data-offset]').count()).toBe(1);
    await page.getByRole('button', { name: 'Redrive matching' }).click();
    await eventually(
      async () => ((await page.locator('#redrive-result').textContent()) ?? '').startsWith('redriven 1 dead letter'),
      'the redrive reported',
      20_000,
    );

    // bob's function still throws: order 31 comes back as a new dead letter naming the first one.
    await eventually(async () => (await letters()).some((l) => l['replayedFrom'] !== null), 'order 31 dead-lettered again', 40_000);
    const all = await letters();
    expect(all.filter((l) => String(l['error']).includes('order 31'))).toHaveLength(2);
    expect(all.find((l) => String(l['error']).includes('order 32'))?.['redriven']).toBe(false);
    await page.getByRole('button', { name: 'Show' }).click();
    await eventually(async () => (await page.locator('tr[data-offset]').count()) === 2, 'both failures of order 31 listed', 10_000);
    expect(await page.locator('body').textContent()).toContain('redriven, failed again');
    await page.screenshot({ path: screenshotPath('dead-letters-filter'), fullPage: true });
  });

  it("shows an admin the dead letters of a changeflow.yaml trigger and redrives them; a tenant is refused, enable is the file's", async () => {
    // A trigger of changeflow.yaml as this process runs it (its health) with one dead letter, as the processor writes them.
    const name = 'yaml-copy';
    const origin = `${service.prefix}.yaml_src.orders`;
    service.app.context.health.set(`processor:${name}`, true, 'running', { state: 'running' });
    const producer = service.app.context.kafka.producer();
    await producer.connect();
    const event = { v: 1, id: 'yaml_src.orders:1', op: 'insert', ns: { db: 'yaml_src', coll: 'orders' }, fullDocument: { _id: 1 } };
    const incoming = {
      topic: origin,
      partition: 0,
      offset: '0',
      key: Buffer.from('{"_id":1}'),
      value: Buffer.from(JSON.stringify(event)),
      headers: {},
      timestamp: Date.now(),
    };
    await producer.send([
      deadLetterRecord(service.app.context.topics.deadLetter(name), name, {
        record: incoming,
        error: 'sink "copy" refused it',
        errorKind: 'sink-rejected',
        attempts: 1,
      }),
    ]);
    await producer.disconnect();

    const id = `yaml:${name}`;
    const list = await call(CONSOLE_TOKENS.admin, 'GET', `/api/triggers/${id}/dead-letters`);
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ trigger: { id, name }, total: 1, letters: [{ errorKind: 'sink-rejected', origin: { topic: origin, offset: '0' } }] });
    const refused = await call(CONSOLE_TOKENS.alice, 'GET', `/api/triggers/${id}/dead-letters`);
    expect(refused.status).toBe(403);
    expect(refused.body['error']).toMatch(/changeflow\.yaml, the operator's/);
    expect((await call(CONSOLE_TOKENS.admin, 'GET', '/api/triggers/yaml:no-such/dead-letters')).status).toBe(404);
    const enable = await call(CONSOLE_TOKENS.admin, 'POST', `/api/triggers/${id}/disable`);
    expect(enable.status).toBe(409);
    expect(enable.body['error']).toMatch(/set its "enabled: false" there/);

    const letter = (list.body['letters'] as Json[])[0] as Json;
    const redriven = await call(CONSOLE_TOKENS.admin, 'POST', `/api/triggers/${id}/dead-letters/redrive-selected`, {
      letters: [{ partition: letter['partition'], offset: letter['offset'] }],
    });
    expect(redriven.body).toMatchObject({ replayed: 1, letters: [{ outcome: 'replayed', topic: origin }] });
    const admin = service.app.context.kafka.admin();
    await admin.connect();
    const held = (await admin.topicOffsets(origin)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    await admin.disconnect();
    expect(held).toBe(1);

    const page = await signedInPage(browser, contexts, service.url, CONSOLE_TOKENS.admin, `triggers`, 900);
    await page.locator('#config-triggers tr[data-trigger="yaml-copy"]').getByRole('link', { name: 'Dead letters' }).click();
    await page.getByRole('heading', { name: 'Dead letters of yaml-copy' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('tr[data-offset] [data-field="fate"]').textContent()).toBe('redriven');
  });

  it("samples each trigger's lag and rate into a trend the Pipeline page draws; a tenant gets only its own", async () => {
    const pipelineOf = async (token: string): Promise<Json[]> => (await call(token, 'GET', '/api/pipeline')).body['triggers'] as Json[];
    let mine: Json | undefined;
    await eventually(
      async () => {
        mine = (await pipelineOf(CONSOLE_TOKENS.alice)).find((t) => t['id'] === aliceTrigger.id);
        return ((mine?.['trend'] as Json[] | undefined) ?? []).length >= 3;
      },
      'three samples of alice-orders (every 500 ms in this test)',
      20_000,
      300,
    );
    const points = mine?.['trend'] as Json[];
    const times = points.map((p) => Date.parse(String(p['at'])));
    expect(times.every((t, i) => i === 0 || t - (times[i - 1] ?? 0) >= 500)).toBe(true);
    expect(points[0]).toEqual({ at: expect.any(String), eventsPerSecond: expect.any(Number), secondsBehind: expect.any(Number), lag: expect.any(Number) });
    const bobs = await pipelineOf(CONSOLE_TOKENS.bob);
    expect(bobs.map((t) => t['id'])).toEqual([bobTrigger.id]);

    const page = await signedInPage(browser, contexts, service.url, CONSOLE_TOKENS.alice, `pipeline`, 700);
    const lag = page.locator('[data-trigger="alice-orders"] svg.secondsBehind');
    await lag.waitFor({ timeout: 10_000 });
    expect(await lag.getAttribute('aria-label')).toMatch(/^lag: \d+\.\d s, (steady|rising|falling) over \d/);
    expect(await page.locator('[data-trigger="alice-orders"] svg.eventsPerSecond polyline').count()).toBe(1);
    await page.screenshot({ path: screenshotPath('pipeline-trend'), fullPage: true });
  });
});
