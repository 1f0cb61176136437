import { Kafka, logLevel } from 'kafkajs';
import { eventually, testInfra } from './support/infra.js';
import { apiCall, CONSOLE_TOKENS, ConsoleService, type TenantTrigger } from './support/console-service.js';

type Json = Record<string, unknown>;

describe("console JSON API (/api/): the control plane's tokens, scoping and dead-letter replay over HTTP", () => {
  const service = new ConsoleService();
  let aliceTrigger: TenantTrigger;
  let bobTrigger: TenantTrigger;
  const call = (token: string | undefined, method: 'GET' | 'POST', path: string, body?: unknown): ReturnType<typeof apiCall> =>
    apiCall(service.url, method, path, { ...(token !== undefined ? { token } : {}), ...(body !== undefined ? { body } : {}) });
  const pipelineTrigger = async (token: string, id: string): Promise<Json | undefined> =>
    ((await call(token, 'GET', '/api/pipeline')).body['triggers'] as Json[]).find((t) => t['id'] === id);

  beforeAll(async () => {
    await service.start();
    aliceTrigger = await service.createTrigger('alice', 'alice-orders', 'alice_shop');
    bobTrigger = await service.createTrigger('bob', 'bob-orders', 'bob_shop');
  });

  afterAll(async () => {
    await service.stop();
  });

  it('answers 401 without a token, with a wrong one, and with a token in the URL instead of the header', async () => {
    expect((await call(undefined, 'GET', '/api/triggers')).status).toBe(401);
    const wrong = await call('not-a-real-token', 'GET', '/api/triggers');
    expect(wrong).toEqual({ status: 401, body: { error: 'unknown token', code: 'UNAUTHENTICATED' } });
    expect((await call(undefined, 'GET', `/api/triggers?token=${CONSOLE_TOKENS.alice}`)).status).toBe(401);
    expect((await call(undefined, 'POST', `/api/triggers/${aliceTrigger.id}/disable`)).status).toBe(401);
  });

  it("lists a tenant's own triggers only, everyone's to an admin; 403 for another tenant's list, 404 for another tenant's trigger", async () => {
    const names = async (token: string): Promise<string[]> =>
      ((await call(token, 'GET', '/api/triggers')).body['triggers'] as Json[]).map((t) => String(t['name']));
    expect(await names(CONSOLE_TOKENS.alice)).toEqual(['alice-orders']);
    expect(await names(CONSOLE_TOKENS.bob)).toEqual(['bob-orders']);
    expect((await names(CONSOLE_TOKENS.admin)).sort()).toEqual(['alice-orders', 'bob-orders']);

    const otherList = await call(CONSOLE_TOKENS.alice, 'GET', '/api/triggers?user_id=bob');
    expect(otherList.status).toBe(403);
    expect(otherList.body['error']).toMatch(/only list your own triggers/);
    // Another tenant's trigger is not found, as over gRPC: a 403 would confirm that the id exists.
    for (const path of [`/api/triggers/${bobTrigger.id}/dead-letters`]) expect((await call(CONSOLE_TOKENS.alice, 'GET', path)).status).toBe(404);
    for (const path of ['disable', 'enable', 'dead-letters/redrive-all'])
      expect((await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${bobTrigger.id}/${path}`)).status).toBe(404);
    const pipeline = JSON.stringify((await call(CONSOLE_TOKENS.alice, 'GET', '/api/pipeline')).body);
    expect(pipeline).toContain('alice-orders');
    expect(pipeline).not.toContain('bob');
  });

  it('serves the built console at /console/ with a policy that lets only its own files run, and nothing outside it', async () => {
    const page = await fetch(`${service.url}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    expect(await page.text()).toContain('/console/app.js');
    expect((await fetch(`${service.url}/console/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
    for (const path of ['/console/..%2Fpackage.json', '/console/%2E%2E%2Fcli%2Fmain.js', '/console/app.ts', '/console/missing.js'])
      expect((await fetch(`${service.url}${path}`)).status).toBe(404);
  });

  it('validates params and bodies at the edge, naming the field', async () => {
    const badId = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${encodeURIComponent('x'.repeat(65))}/disable`);
    expect(badId.status).toBe(400);
    expect(badId.body['error']).toMatch(/^params\.id: /);
    const badBody = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive`, { partition: -1, offset: 'x' });
    expect(badBody.status).toBe(400);
    expect(badBody.body['error']).toMatch(/body\.partition: .*; body\.offset: /);
  });

  it('shows counts in the pipeline, lists a dead letter with its origin, stops on disable, and redrives one and all back to the trigger', async () => {
    await eventually(async () => (await pipelineTrigger(CONSOLE_TOKENS.alice, aliceTrigger.id))?.['state'] === 'running', 'alice-orders running', 20_000);
    await service.produce(aliceTrigger, 0, 10, [4]);
    await eventually(async () => (await pipelineTrigger(CONSOLE_TOKENS.alice, aliceTrigger.id))?.['deadLettered'] === 1, 'one dead letter counted', 40_000);
    expect(await pipelineTrigger(CONSOLE_TOKENS.alice, aliceTrigger.id)).toMatchObject({
      delivered: 9,
      ok: true,
      topic: aliceTrigger.topic,
      sinks: [{ name: 'out', kind: 'memory' }],
    });

    const page = (await call(CONSOLE_TOKENS.alice, 'GET', `/api/triggers/${aliceTrigger.id}/dead-letters`)).body;
    expect(page['total']).toBe(1);
    const [letter] = page['letters'] as Json[];
    expect(letter).toMatchObject({
      errorKind: 'function:runtime',
      origin: { topic: aliceTrigger.topic, partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) },
      redriven: false,
      replayedFrom: null,
    });
    expect(letter?.['error']).toMatch(/cannot price order 4/);
    expect((letter?.['event'] as Json)['fullDocument']).toMatchObject({ poison: true });

    const disabled = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/disable`);
    expect(disabled.status).toBe(200);
    expect((disabled.body['trigger'] as Json)['enabled']).toBe(false);
    await eventually(async () => (await pipelineTrigger(CONSOLE_TOKENS.alice, aliceTrigger.id))?.['state'] === 'disabled', 'alice-orders disabled', 20_000);
    await service.produce(aliceTrigger, 10, 12);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(aliceTrigger.bucket.records).toHaveLength(9);

    await service.fixFunction('alice', aliceTrigger);
    expect((await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/enable`)).status).toBe(200);
    await eventually(() => aliceTrigger.bucket.records.length === 11, 'the 2 events written while disabled', 30_000);

    const one = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive`, {
      partition: letter?.['partition'],
      offset: letter?.['offset'],
    });
    expect(one).toEqual({
      status: 200,
      body: { replayed: 1, byTopic: { [aliceTrigger.topic]: 1 }, deadLetterTopic: `${service.prefix}.__dlq.${letterKey(page)}` },
    });
    await eventually(() => aliceTrigger.bucket.records.some((r) => r.action?.['key'] === 'order:4'), 'order 4 delivered after the redrive', 30_000);
    expect((await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive`, { partition: 0, offset: '700' })).status).toBe(
      404,
    );

    // A selection: each chosen dead letter gets its own fate, a missing one does not stop the others.
    const before = aliceTrigger.bucket.records.filter((r) => r.action?.['key'] === 'order:4').length;
    const chosen = [
      { partition: letter?.['partition'], offset: letter?.['offset'] },
      { partition: 0, offset: '700' },
    ];
    const selected = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive-selected`, { letters: chosen });
    expect(selected.status).toBe(200);
    expect(selected.body).toMatchObject({
      replayed: 1,
      byTopic: { [aliceTrigger.topic]: 1 },
      letters: [
        { partition: letter?.['partition'], offset: letter?.['offset'], outcome: 'replayed', topic: aliceTrigger.topic },
        { partition: 0, offset: '700', outcome: 'not-found', reason: expect.stringContaining('no dead letter at partition 0, offset 700') },
      ],
    });
    await eventually(
      () => aliceTrigger.bucket.records.filter((r) => r.action?.['key'] === 'order:4').length === before + 1,
      'order 4 delivered again after the selection',
      30_000,
    );
    const empty = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive-selected`, { letters: [] });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(empty.body)).toContain('body.letters');
    expect(
      (await call(CONSOLE_TOKENS.bob, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive-selected`, { letters: chosen })).status,
    ).toBeGreaterThanOrEqual(403);

    const all = await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive-all`);
    expect(all.body).toMatchObject({ replayed: 1 });
    expect((await call(CONSOLE_TOKENS.alice, 'POST', `/api/triggers/${aliceTrigger.id}/dead-letters/redrive-all`)).body).toMatchObject({ replayed: 0 });
    const after = (await call(CONSOLE_TOKENS.alice, 'GET', `/api/triggers/${aliceTrigger.id}/dead-letters`)).body['letters'] as Json[];
    expect(after.map((l) => l['redriven'])).toEqual([true]);
    // Every read above (the list, each redrive's look-up) went through a throwaway group: none is left.
    expect(await readerGroupsLeft(service.prefix)).toEqual([]);
  });
});

/** The runtime key part of `<prefix>.__dlq.<key>`, as the dead-letter page names its topic. */
function letterKey(page: Json): string {
  return String(page['deadLetterTopic']).split('.__dlq.')[1] ?? '';
}

/** Consumer groups of the console's Kafka reads that still exist. */
async function readerGroupsLeft(prefix: string): Promise<string[]> {
  const admin = new Kafka({ brokers: [testInfra().kafka], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix) && /console-(read|browse)/.test(g));
  } finally {
    await admin.disconnect();
  }
}
