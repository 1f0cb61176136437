import { Kafka, logLevel } from 'kafkajs';
import type { SinkDoc, TriggerDoc } from '../control/documents.js';
import { newId } from '../control/store.js';
import { insertOrder, startConsoleSource, writeAuditChain } from './support/console-source.js';
import { apiCall, CONSOLE_TOKENS, ConsoleService, type TenantTrigger } from './support/console-service.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

type Json = Record<string, unknown>;

describe('console browse API: sources, topics, audit', () => {
  const service = new ConsoleService();
  let aliceTrigger: TenantTrigger;
  let bobTrigger: TenantTrigger;
  let running: Awaited<ReturnType<typeof startConsoleSource>>;
  const call = (token: string | undefined, path: string): ReturnType<typeof apiCall> => apiCall(service.url, 'GET', path, token !== undefined ? { token } : {});
  const sourcesOf = async (token: string): Promise<Json[]> => (await call(token, '/api/sources')).body['sources'] as Json[];
  const records = (topic: string, query = ''): string => `/api/topics/${encodeURIComponent(topic)}/records${query}`;

  beforeAll(async () => {
    await service.start();
    aliceTrigger = await service.createTrigger('alice', 'alice-orders', 'alice_shop');
    bobTrigger = await service.createTrigger('bob', 'bob-orders', 'bob_shop');
    running = await startConsoleSource(service);
  });

  afterAll(async () => {
    await running?.stop();
    await service.stop();
  });

  it('answers 401 without a token on every browse endpoint', async () => {
    for (const path of ['/api/sources', '/api/sources/alice-orders', '/api/topics', records(aliceTrigger.topic), '/api/audit', '/api/audit/records'])
      expect((await call(undefined, path)).status).toBe(401);
  });

  it('shows an admin the source position and checkpoint age once a change was stored', async () => {
    const id = uniqueName('order');
    await insertOrder(running.mongo, id, 1);
    let source: Json | undefined;
    await eventually(
      async () => {
        source = (await sourcesOf(CONSOLE_TOKENS.admin)).find((s) => s['name'] === 'alice-orders');
        // The source first stores the cluster time it started at, then the resume token of the change once acknowledged.
        return typeof (source?.['position'] as Json | null | undefined)?.['resumeToken'] === 'string';
      },
      "the change's resume token stored for alice-orders",
      30_000,
    );
    expect(source).toMatchObject({ state: 'running', ok: true, historyLost: null, snapshot: null, checkpointAgeSeconds: expect.any(Number) });
    expect(source?.['position']).toMatchObject({ phase: 'stream', resumeToken: expect.stringContaining('_data'), savedAt: expect.any(String) });
    const one = await call(CONSOLE_TOKENS.admin, '/api/sources/alice-orders');
    expect(one.status).toBe(200);
    expect((one.body['source'] as Json)['name']).toBe('alice-orders');
    expect((await call(CONSOLE_TOKENS.admin, '/api/sources/no-such-source')).status).toBe(404);
  });

  it("shows a tenant only its own sources, with what to do when history is lost; another tenant's is 403", async () => {
    service.app.context.health.fail(
      'source:alice-feed',
      'source "alice-feed": cannot resume: the stored position (x) is no longer in the oplog (ChangeStreamHistoryLost).',
      'tenant:alice',
    );
    const alices = await sourcesOf(CONSOLE_TOKENS.alice);
    expect(alices.map((s) => s['name'])).toEqual(['alice-feed']);
    expect(alices[0]).toMatchObject({ ok: false, state: 'failed', historyLost: { remedy: expect.stringMatching(/onHistoryLost: snapshot/) } });
    expect(await sourcesOf(CONSOLE_TOKENS.bob)).toEqual([]);
    for (const name of ['alice-feed', 'alice-orders', 'no-such-source']) {
      const refused = await call(CONSOLE_TOKENS.bob, `/api/sources/${name}`);
      expect(refused.status).toBe(403);
      expect(refused.body['error']).toMatch(/^params\.name: .*not one of your sources/);
    }
  });

  it("tails a tenant's topic with the change written to MongoDB, filtered by op, namespace and key", async () => {
    const id = uniqueName('tail');
    await insertOrder(running.mongo, id, 2);
    let found: Json[] = [];
    await eventually(
      async () => {
        const answer = await call(CONSOLE_TOKENS.alice, records(aliceTrigger.topic, `?op=insert&ns=alice_shop.orders&key=${encodeURIComponent(id)}`));
        found = (answer.body['records'] as Json[] | undefined) ?? [];
        return found.length === 1;
      },
      'the inserted order in the topic browser',
      30_000,
    );
    expect(found[0]).toMatchObject({ op: 'insert', ns: 'alice_shop.orders', key: expect.stringContaining(id) });
    expect(((found[0]?.['event'] as Json)['fullDocument'] as Json)['_id']).toBe(id);
    expect((await call(CONSOLE_TOKENS.alice, records(aliceTrigger.topic, `?op=delete&key=${encodeURIComponent(id)}`))).body['records']).toEqual([]);
    const listed = (await call(CONSOLE_TOKENS.alice, '/api/topics')).body['topics'] as string[];
    expect(listed).toContain(aliceTrigger.topic);
    expect(listed.join(' ')).not.toMatch(/bob|__offsets|__dlq/);
    expect(((await call(CONSOLE_TOKENS.admin, '/api/topics')).body['topics'] as string[]).sort()).toEqual(expect.arrayContaining([aliceTrigger.topic]));
  });

  it("refuses tenant B tenant A's topic and the service's own topics; an admin may read them", async () => {
    for (const topic of [aliceTrigger.topic, `${service.prefix}.__offsets`, `${service.prefix}.audit`]) {
      const refused = await call(CONSOLE_TOKENS.bob, records(topic));
      expect(refused.status).toBe(403);
      expect(refused.body['error']).toMatch(/^params\.topic: .*not a topic your triggers read or write/);
    }
    expect((await call(CONSOLE_TOKENS.bob, records(bobTrigger.topic))).status).toBe(200);
    const offsets = await call(CONSOLE_TOKENS.admin, records(`${service.prefix}.__offsets`));
    expect(offsets.status).toBe(200);
    expect((offsets.body['records'] as Json[]).some((r) => r['key'] === 'alice-orders')).toBe(true);
    expect((await call(CONSOLE_TOKENS.admin, records('not-changeflow.orders'))).status).toBe(403);
  });

  it('grants a tenant no topic through a trigger the tenant rules would not run, such as one written straight into the store', async () => {
    // bob may not read alice-orders (its readers: alice), nor write changeflow's topics. Create refuses both;
    // a document inserted into the metadata store skips create's checks, and must not open alice's topic to bob.
    const now = new Date();
    const smuggled = (name: string, db: string, sinks: SinkDoc[]): TriggerDoc => ({
      _id: newId(),
      user_id: 'bob',
      name,
      trigger_type: 1,
      function_id: '',
      enabled: false,
      config: { database: { data_source: '', database: db, collection: 'orders', operation_types: [] } },
      sinks,
      created_at: now,
      updated_at: now,
    });
    const stored = service.app.context.metadata.db.collection<TriggerDoc>('triggers');
    for (const doc of [
      smuggled('reads-alice', 'alice_shop', [{ name: 'out', kind: 'memory', options: { bucket: 'x' } }]),
      smuggled('writes-alice', 'bob_shop', [{ name: 'k', kind: 'kafka', options: { topic: aliceTrigger.topic } }]),
    ]) {
      await stored.insertOne(doc);
      try {
        const refused = await call(CONSOLE_TOKENS.bob, records(aliceTrigger.topic));
        expect([doc.name, refused.status]).toEqual([doc.name, 403]);
        expect((await call(CONSOLE_TOKENS.bob, '/api/topics')).body['topics']).not.toContain(aliceTrigger.topic);
        // Nor through the Trigger page: it reads no topic, so there are no recent events to try a function on.
        const detail = await apiCall(service.url, 'GET', `/api/triggers/${doc._id}/detail`, { token: CONSOLE_TOKENS.bob });
        expect((detail.body['trigger'] as Json)['reads']).toEqual([]);
        const recent = await apiCall(service.url, 'POST', `/api/triggers/${doc._id}/execute`, { token: CONSOLE_TOKENS.bob, body: { recent: 5 } });
        expect([doc.name, recent.status]).toEqual([doc.name, 403]);
      } finally {
        await stored.deleteOne({ _id: doc._id });
      }
    }
    expect((await call(CONSOLE_TOKENS.bob, records(bobTrigger.topic))).status).toBe(200);
  });

  it('validates the query and params at the edge, naming the field', async () => {
    const cases: [string, RegExp][] = [
      [records(aliceTrigger.topic, '?limit=0'), /^query\.limit: /],
      [records(aliceTrigger.topic, '?limit=abc'), /^query\.limit: /],
      [records(aliceTrigger.topic, '?op=explode'), /^query\.op: /],
      [records(aliceTrigger.topic, '?ns=a%20b'), /^query\.ns: /],
      [records(aliceTrigger.topic, '?colour=red'), /colour/],
      [records('bad topic!'), /^params\.topic: /],
      ['/api/sources/bad%20name', /^params\.name: /],
    ];
    for (const [path, error] of cases) {
      const answer = await call(CONSOLE_TOKENS.alice, path);
      expect([path, answer.status]).toEqual([path, 400]);
      expect(answer.body['error']).toMatch(error);
    }
  });

  it("verifies a tenant's own audit chain and lists its records; another tenant's or the operator's log is 403; an admin sees a break", async () => {
    const db = service.app.context.metadata.db;
    await writeAuditChain(db, 'audit.alice', 'alice-orders/alice_shop', 3);
    await writeAuditChain(db, 'audit', 'ops-stream', 2);
    await db.collection<{ _id: string }>('audit').updateOne({ _id: 'ops-stream:1' }, { $set: { actor: 'someone else' } });

    const alice = await call(CONSOLE_TOKENS.alice, '/api/audit');
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({ collection: 'audit.alice', collections: ['audit.alice'], verify: { ok: true, streams: 1, records: 3, broken: [] } });
    const listed = (await call(CONSOLE_TOKENS.alice, '/api/audit/records?limit=2')).body['records'] as Json[];
    expect(listed.map((r) => r['seq'])).toEqual([3, 2]);
    expect(listed[0]).toMatchObject({ op: 'delete', actor: { user: 'clerk-3' }, stream: 'alice-orders/alice_shop' });

    for (const path of ['/api/audit?collection=audit', '/api/audit/records?collection=audit', '/api/audit/records?collection=audit.alice']) {
      const refused = await call(CONSOLE_TOKENS.bob, path);
      expect(refused.status).toBe(403);
      expect(refused.body['error']).toMatch(/^query\.collection: .*not your audit log/);
    }
    expect((await call(CONSOLE_TOKENS.bob, '/api/audit')).body).toMatchObject({ collection: 'audit.bob', verify: { ok: true, records: 0 } });

    const admin = await call(CONSOLE_TOKENS.admin, '/api/audit');
    expect(admin.body).toMatchObject({ collection: 'audit', verify: { ok: false, broken: [{ stream: 'ops-stream', seq: 1 }] } });
    expect(admin.body['collections']).toEqual(expect.arrayContaining(['audit', 'audit.alice']));
    expect((await call(CONSOLE_TOKENS.admin, '/api/audit?collection=audit.alice')).body).toMatchObject({ verify: { ok: true, records: 3 } });
    // Not an audit log: the metadata store's other collections are not readable through this page, even by an admin.
    expect((await call(CONSOLE_TOKENS.admin, '/api/audit/records?collection=tokens')).status).toBe(404);
  });

  it('validates the audit query, naming the field', async () => {
    for (const [path, error] of [
      ['/api/audit?collection=audit_heads', /^query\.collection: /],
      ['/api/audit/records?limit=0', /^query\.limit: /],
      ['/api/audit/records?collection=a%20b', /^query\.collection: /],
    ] as const) {
      const answer = await call(CONSOLE_TOKENS.alice, path);
      expect([path, answer.status]).toEqual([path, 400]);
      expect(answer.body['error']).toMatch(error);
    }
  });

  it('leaves no consumer group behind after browsing', async () => {
    const kafka = new Kafka({ brokers: [testInfra().kafka], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ours = async (): Promise<string[]> =>
        (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(service.prefix) && g.includes('console-browse'));
      await call(CONSOLE_TOKENS.alice, records(aliceTrigger.topic));
      await call(CONSOLE_TOKENS.admin, '/api/sources');
      expect(await ours()).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });
});
