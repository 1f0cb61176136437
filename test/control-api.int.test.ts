import * as grpc from '@grpc/grpc-js';
import { MongoClient } from 'mongodb';
import { z } from 'zod';
import type { SinkKind } from '../sinks/sink.js';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { createLogger, silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { hashToken } from '../control/auth.js';
import { ControlClient } from '../control/client.js';
import { createControlPlane, type ControlPlane } from '../control/component.js';
import { RecordingTriggerController } from '../control/recording-controller.js';
import { triggerKey } from '../control/trigger-key.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { refused } from './support/grpc.js';

const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789ab', admin: 'admin-token-0123456789' };
const STORED_TOKEN = 'carol-token-in-the-store-0123';
const CODE_A =
  'export default function handle(events) { return events.map((e) => ({ sink: "cache", op: "set", key: "a:" + e.documentKey._id, value: e.fullDocument })); }';
const CODE_B = 'export default function handle(events) { return events.map((e) => ({ sink: "cache", op: "del", key: "b:" + e.documentKey._id })); }';
const SOURCE = 'mongodb://shop-user:hunter2@db.example.net:27017/?authSource=admin';

type Msg = Record<string, unknown>;

/** Sink kinds for this test: any options, except `strict`, which needs a `bucket`; `mongodb` marks `password` secret. */
const looseKind = (name: string): z.ZodType =>
  z.looseObject({
    name: z.string(),
    kind: z.literal(name),
    ...(name === 'mongodb' ? { password: z.string().optional().meta({ description: 'password', secret: true }) } : {}),
  });
const kind = (name: string, schema: z.ZodType = looseKind(name)): SinkKind => ({
  kind: name,
  description: name,
  configSchema: schema,
  create: () => {
    throw new Error('sinks are not created by the control plane');
  },
});
const SINK_KINDS = [
  kind('redis'),
  kind('audit'),
  kind('mongodb'),
  kind('strict', z.strictObject({ name: z.string(), kind: z.literal('strict'), bucket: z.string() })),
];
const code = (error: unknown): number | undefined => (error as grpc.ServiceError).code;
const details = (error: unknown): string => (error as grpc.ServiceError).details;

describe('control plane gRPC API (TriggerService, FunctionService) against the real metadata store', () => {
  const infra = testInfra();
  const dbName = uniqueName('ctl');
  const controller = new RecordingTriggerController();
  let app: RunningApp;
  let plane: ControlPlane;
  let alice: ControlClient;
  let bob: ControlClient;
  let admin: ControlClient;
  let carol: ControlClient;

  beforeAll(async () => {
    const config = compileConfig({
      kafka: { brokers: [infra.kafka] },
      mongodb: { uri: infra.mongodb, db: dbName },
      http: { port: 0 },
      grpc: { port: 0 },
      auth: {
        tokens: [
          { token: TOKENS.alice, userId: 'alice' },
          { token: TOKENS.bob, userId: 'bob' },
          { token: TOKENS.admin, userId: 'ops', admin: true },
        ],
      },
      // Granted by an admin: alice's triggers on SOURCE's shop.orders read this source's topic (not started here: no source component).
      sources: [{ name: 'shop-orders', uri: SOURCE, watch: { db: 'shop', coll: 'orders' }, readers: ['alice'] }],
    });
    plane = createControlPlane(config, { controller: () => controller, sinkKinds: () => SINK_KINDS, resyncMs: 60_000, scheduler: false, ensureSource: false });
    app = await startApp(config, [() => plane], {
      logger: process.env['CTL_DEBUG'] ? createLogger({ level: 'debug' }) : silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
    });
    await app.context.metadata.db.collection('tokens').insertOne({ _id: hashToken(STORED_TOKEN), user_id: 'carol' } as never);
    alice = new ControlClient(plane.address, TOKENS.alice);
    bob = new ControlClient(plane.address, TOKENS.bob);
    admin = new ControlClient(plane.address, TOKENS.admin);
    carol = new ControlClient(plane.address, STORED_TOKEN);
  });

  afterAll(async () => {
    for (const c of [alice, bob, admin, carol]) c?.close();
    const client = new MongoClient(infra.mongodb);
    await app?.stop();
    await client.connect();
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  const createFunction = async (as: ControlClient, name: string, javascript: string): Promise<Msg> =>
    (await as.call<{ function: Msg }>('functions', 'create', { function: { name, function_type: 2, javascript } })).function;

  const dbTrigger = (name: string, functionId: string, extra: Msg = {}): Msg => ({
    name,
    trigger_type: 1,
    database: { data_source: SOURCE, database: 'shop', collection: 'orders', operation_types: [1, 2] },
    function_id: functionId,
    enabled: true,
    sinks: [{ name: 'cache', kind: 'redis', options_json: '{"keyPrefix":"x"}' }],
    ...extra,
  });

  const createTrigger = async (as: ControlClient, trigger: Msg): Promise<Msg> => (await as.call<{ trigger: Msg }>('triggers', 'create', { trigger })).trigger;

  it('drives the trigger runtime through the whole lifecycle, each change applied within 5 s, other triggers untouched', async () => {
    const fnA = await createFunction(alice, 'life-a', CODE_A);
    const fnB = await createFunction(alice, 'life-b', CODE_B);
    const bystander = await createTrigger(alice, dbTrigger('bystander', String(fnA['id'])));
    const created = await createTrigger(
      alice,
      dbTrigger('life', String(fnA['id']), {
        batch: { max_size: 50, max_wait_ms: 20 },
        database: { data_source: SOURCE, database: 'shop', collection: 'orders', operation_types: [1, 2], match: '{"fullDocument.status":"paid"}' },
      }),
    );
    const key = String(created['runtime_key']);
    const otherKey = String(bystander['runtime_key']);
    expect(key).toBe(`api.alice.life.${String(created['id'])}`);

    await eventually(() => controller.definitions.get(key)?.enabled === true, 'create applied', 5_000);
    const def = controller.definitions.get(key);
    expect(def).toMatchObject({
      key,
      userId: 'alice',
      name: 'life',
      source: { db: 'shop', coll: 'orders' },
      operationTypes: ['insert', 'update'],
      match: { 'fullDocument.status': 'paid' },
      function: 'life-a',
      functionCode: { name: 'life-a', code: CODE_A, memoryMiB: 32, timeoutMs: 1000 },
      // alice is a tenant: her Redis sinks run in her own key namespace, before her keyPrefix (docs/security.md).
      sinks: [{ name: 'cache', kind: 'redis', keyPrefix: 'tenant:alice:x' }],
      batch: { maxSize: 50, maxWaitMs: 20 },
      enabled: true,
    });
    await eventually(() => controller.definitions.has(otherKey), 'bystander applied', 5_000);
    const bystanderCalls = controller.callsFor(otherKey);

    const disabled = await alice.call<{ trigger: Msg }>('triggers', 'disable', { id: created['id'] });
    expect(disabled.trigger['enabled']).toBe(false);
    await eventually(() => controller.definitions.get(key)?.enabled === false, 'disable applied', 5_000);
    expect(controller.running()).not.toContain(key);

    await alice.call('triggers', 'enable', { id: created['id'] });
    await eventually(() => controller.definitions.get(key)?.enabled === true, 'enable applied', 5_000);

    const updated = await alice.call<{ trigger: Msg }>('triggers', 'update', { id: created['id'], function_id: fnB['id'] });
    expect(updated.trigger['function_id']).toBe(fnB['id']);
    await eventually(() => controller.definitions.get(key)?.functionCode?.code === CODE_B, 'function switch applied', 5_000);

    // Changing the function's code restarts the triggers that use it.
    const CODE_B2 = CODE_B.replace('"b:"', '"b2:"');
    await alice.call('functions', 'update', { id: fnB['id'], javascript: CODE_B2 });
    await eventually(() => controller.definitions.get(key)?.functionCode?.code === CODE_B2, 'function code update applied', 5_000);

    // A write by another instance (here: straight to the collection) reaches this one through the change stream.
    await app.context.metadata.db.collection('triggers').updateOne({ _id: created['id'] } as never, { $set: { enabled: false } });
    await eventually(() => controller.definitions.get(key)?.enabled === false, 'direct write seen through the change stream', 5_000);
    await app.context.metadata.db.collection('functions').updateOne({ _id: fnB['id'] } as never, { $set: { 'func.javascript': CODE_B } });
    await eventually(() => controller.definitions.get(key)?.functionCode?.code === CODE_B, 'direct function write seen through the change stream', 5_000);

    await alice.call('triggers', 'delete', { id: created['id'] });
    await eventually(() => !controller.definitions.has(key), 'delete applied', 5_000);
    expect(controller.calls.some((c) => c.op === 'remove' && c.key === key)).toBe(true);

    await plane.settled();
    expect(controller.callsFor(otherKey)).toBe(bystanderCalls);
    expect(controller.definitions.get(otherKey)?.enabled).toBe(true);
  });

  it("keeps users apart: another user's ids are NOT_FOUND, queries show only your own, admins see all, URIs come back redacted", async () => {
    const fn = await createFunction(alice, 'tenancy-fn', CODE_A);
    const trigger = await createTrigger(
      alice,
      dbTrigger('tenancy', String(fn['id']), {
        sinks: [{ name: 'copy', kind: 'mongodb', options_json: JSON.stringify({ uri: 'mongodb://w:secret@copy-host/x', db: 'c', password: 'p' }) }],
      }),
    );
    const id = trigger['id'];
    expect(trigger['user_id']).toBe('alice');
    expect((trigger['database'] as Msg)['data_source']).toBe('mongodb://shop-user:***@db.example.net:27017/?authSource=admin');
    const sinkOptions = JSON.parse(String((trigger['sinks'] as Msg[])[0]?.['options_json'])) as Msg;
    expect(sinkOptions).toEqual({ uri: 'mongodb://w:***@copy-host/x', db: 'c', password: '***' });
    const got = (await alice.call<{ trigger: Msg }>('triggers', 'get', { id })).trigger;
    expect(JSON.stringify(got)).not.toContain('hunter2');
    expect(JSON.stringify(got)).not.toContain('secret');

    for (const [method, request] of [
      ['get', { id }],
      ['enable', { id }],
      ['disable', { id }],
      ['update', { id, clear_function: true }],
      ['delete', { id }],
    ] as const) {
      const error = await refused(bob.call('triggers', method, request));
      expect([method, code(error)]).toEqual([method, grpc.status.NOT_FOUND]);
    }
    for (const method of ['get', 'delete']) expect(code(await refused(bob.call('functions', method, { id: fn['id'] })))).toBe(grpc.status.NOT_FOUND);
    expect(code(await refused(bob.call('functions', 'update', { id: fn['id'], javascript: CODE_B })))).toBe(grpc.status.NOT_FOUND);
    expect(code(await refused(bob.call('functions', 'execute', { id: fn['id'], events_json: '[]' })))).toBe(grpc.status.NOT_FOUND);
    // Bob cannot point his trigger at Alice's function either.
    expect(code(await refused(createTrigger(bob, dbTrigger('steal', String(fn['id'])))))).toBe(grpc.status.FAILED_PRECONDITION);

    const bobsView = await bob.stream<Msg>('triggers', 'query', { query: {} });
    expect(bobsView.map((t) => t['user_id'])).not.toContain('alice');
    expect(await bob.stream<Msg>('triggers', 'query', { query: { user_id: 'alice' } })).toEqual([]);
    expect(await bob.stream<Msg>('functions', 'query', { query: { user_id: 'alice' } })).toEqual([]);
    const bobFn = await createFunction(bob, 'tenancy-fn', CODE_B); // same name, other user: allowed
    expect(bobFn['user_id']).toBe('bob');

    const all = await admin.stream<Msg>('triggers', 'query', { query: {} });
    expect(all.map((t) => t['id'])).toContain(id);
    expect(JSON.stringify(all)).not.toContain('hunter2');
    expect((await admin.call<{ trigger: Msg }>('triggers', 'get', { id })).trigger['name']).toBe('tenancy');

    // Unchanged (still redacted) values sent back by an update keep the stored secrets.
    await alice.call('triggers', 'update', { id, database: got['database'], sinks: { sinks: got['sinks'] } });
    const stored = await app.context.metadata.db.collection('triggers').findOne({ _id: id } as never);
    expect(stored?.['config'].database.data_source).toBe(SOURCE);
    expect(stored?.['sinks'][0].options).toEqual({ uri: 'mongodb://w:secret@copy-host/x', db: 'c', password: 'p' });
    // Stored as docs/control-plane.md "Metadata" describes the collection.
    expect(stored).toMatchObject({
      _id: id,
      user_id: 'alice',
      name: 'tenancy',
      trigger_type: 1,
      function_id: fn['id'],
      enabled: true,
      config: { database: { database: 'shop', collection: 'orders', operation_types: [1, 2] } },
    });
    const storedFn = await app.context.metadata.db.collection('functions').findOne({ _id: fn['id'] } as never);
    expect(storedFn).toMatchObject({ _id: fn['id'], user_id: 'alice', name: 'tenancy-fn', function_type: 2, func: { javascript: CODE_A } });
  });

  it('authenticates every call: no or unknown token is UNAUTHENTICATED; hashed tokens in the store work', async () => {
    const anonymous = new ControlClient(plane.address, undefined);
    const stranger = new ControlClient(plane.address, 'not-a-known-token-000000');
    try {
      expect(code(await refused(anonymous.call('triggers', 'get', { id: 'x' })))).toBe(grpc.status.UNAUTHENTICATED);
      expect(code(await refused(anonymous.stream('triggers', 'query', { query: {} })))).toBe(grpc.status.UNAUTHENTICATED);
      expect(code(await refused(stranger.call('functions', 'create', { function: { name: 'f', javascript: CODE_A } })))).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      anonymous.close();
      stranger.close();
    }
    const fn = await createFunction(carol, 'carol-fn', CODE_A);
    expect(fn['user_id']).toBe('carol');
    expect(code(await refused(alice.call('functions', 'get', { id: fn['id'] })))).toBe(grpc.status.NOT_FOUND);
  });

  it('answers each bad input with its status code and names the field', async () => {
    const fn = await createFunction(alice, 'bad-input-fn', CODE_A);
    const fid = String(fn['id']);

    let error = await refused(createTrigger(alice, dbTrigger('x'.repeat(65), fid)));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.name')]);
    error = await refused(createTrigger(alice, dbTrigger('has space', fid)));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.name')]);
    error = await refused(createTrigger(alice, dbTrigger('tab\u00e9', fid)));
    expect(code(error)).toBe(grpc.status.INVALID_ARGUMENT);
    error = await refused(createFunction(alice, 'bad.name', CODE_A));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('function.name')]);
    error = await refused(
      createTrigger(
        alice,
        dbTrigger('same-sinks', fid, {
          sinks: [
            { name: 's', kind: 'audit' },
            { name: 's', kind: 'redis' },
          ],
        }),
      ),
    );
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.sinks[1].name')]);
    // The original trigger API has no sinks: a trigger created without any records to the audit sink.
    expect((await createTrigger(alice, dbTrigger('no-sinks', '', { sinks: [] })))['sinks']).toEqual([{ name: 'audit', kind: 'audit', options_json: '{}' }]);
    error = await refused(createTrigger(alice, dbTrigger('bad-kind', fid, { sinks: [{ name: 's', kind: 'nope' }] })));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.sinks[0].kind: unknown sink kind "nope"')]);
    error = await refused(createTrigger(alice, dbTrigger('bad-opts', fid, { sinks: [{ name: 's', kind: 'strict', options_json: '{"bucket": 3}' }] })));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.sinks[0].options_json.bucket')]);
    error = await refused(createTrigger(alice, dbTrigger('bad-json', fid, { sinks: [{ name: 's', kind: 'audit', options_json: '{oops' }] })));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.sinks[0].options_json')]);
    error = await refused(createTrigger(alice, dbTrigger('bad-match', fid, { database: { database: 'shop', collection: 'o', match: '[1,2]' } })));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.database.match')]);
    error = await refused(createTrigger(alice, dbTrigger('bad-type', fid, { trigger_type: 0 })));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.trigger_type')]);

    error = await refused(alice.call('triggers', 'get', { id: '665f1c2e9b1d4a0012345678' }));
    expect(code(error)).toBe(grpc.status.NOT_FOUND);
    error = await refused(alice.call('functions', 'get', { id: 'no-such-id' }));
    expect(code(error)).toBe(grpc.status.NOT_FOUND);

    error = await refused(createTrigger(alice, dbTrigger('dangling', '665f1c2e9b1d4a0012345678')));
    expect([code(error), details(error)]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringContaining('trigger.function_id')]);

    error = await refused(createFunction(alice, 'broken', 'export default function handle(events) {\n  return events.map((e) => { sink: "x", });\n}'));
    expect(code(error)).toBe(grpc.status.INVALID_ARGUMENT);
    expect(details(error)).toMatch(/function\.javascript: does not compile: SyntaxError.*\(line 2, column \d+\)/);
    error = await refused(alice.call('functions', 'update', { id: fid, javascript: 'export default (' }));
    expect([code(error), details(error)]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringMatching(/^javascript: does not compile: SyntaxError.*\(line \d+, column \d+\)/),
    ]);

    const user = await createTrigger(alice, dbTrigger('uses-fn', fid));
    error = await refused(alice.call('functions', 'delete', { id: fid }));
    expect([code(error), details(error)]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringContaining('uses-fn')]);
    await alice.call('triggers', 'delete', { id: user['id'] });
    expect((await alice.call<{ function: Msg }>('functions', 'delete', { id: fid })).function['id']).toBe(fid);

    await createTrigger(alice, dbTrigger('twice', ''));
    error = await refused(createTrigger(alice, dbTrigger('twice', '')));
    expect([code(error), details(error)]).toEqual([grpc.status.ALREADY_EXISTS, expect.stringContaining('trigger.name')]);

    error = await refused(
      createTrigger(alice, { name: 'cron-bad', trigger_type: 3, scheduled: { schedule: '61 * * * *' }, sinks: [{ name: 'a', kind: 'audit' }] }),
    );
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('trigger.scheduled.schedule')]);
    error = await refused(alice.stream('triggers', 'query', { query: { trigger_type: 'NOPE' } }));
    expect([code(error), details(error)]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('query.trigger_type')]);
  });

  it('streams every trigger matching a query on user, function, type, data source, database and collection', async () => {
    const f1 = String((await createFunction(bob, 'q-f1', CODE_A))['id']);
    const f2 = String((await createFunction(bob, 'q-f2', CODE_B))['id']);
    const g1 = String((await createFunction(carol, 'q-g1', CODE_A))['id']);
    const db = (data_source: string, database: string, collection: string): Msg => ({ data_source, database, collection, operation_types: [] });
    const srcX = 'mongodb://u:pw1@x-host:27017';
    const srcY = 'mongodb://y-host:27017';
    const made = {
      b1: await createTrigger(bob, dbTrigger('q-b1', f1, { database: db(srcX, 'sales', 'orders') })),
      b2: await createTrigger(bob, dbTrigger('q-b2', f2, { database: db(srcX, 'sales', 'refunds') })),
      b3: await createTrigger(bob, dbTrigger('q-b3', f1, { database: db(srcY, 'crm', 'orders') })),
      b4: await createTrigger(bob, {
        name: 'q-b4',
        trigger_type: 3,
        scheduled: { schedule: '*/5 * * * *' },
        function_id: f2,
        enabled: false,
        sinks: [{ name: 'a', kind: 'audit' }],
      }),
      b5: await createTrigger(bob, { name: 'q-b5', trigger_type: 2, authentication: {} }),
      c1: await createTrigger(carol, dbTrigger('q-c1', g1, { database: db(srcX, 'sales', 'orders') })),
    };
    const names = (items: Msg[]): string[] =>
      items
        .map((t) => String(t['name']))
        .filter((n) => n.startsWith('q-'))
        .sort();
    const q = (as: ControlClient, query: Msg): Promise<string[]> => as.stream<Msg>('triggers', 'query', { query }).then(names);

    expect(await q(admin, { user_id: 'bob' })).toEqual(['q-b1', 'q-b2', 'q-b3', 'q-b4', 'q-b5']);
    expect(await q(admin, { user_id: 'carol' })).toEqual(['q-c1']);
    expect(await q(admin, { function_id: f1 })).toEqual(['q-b1', 'q-b3']);
    expect(await q(admin, { trigger_type: 'TRIGGER_TYPE_SCHEDULED' })).toEqual(['q-b4']);
    expect(await q(admin, { trigger_type: 'authentication' })).toEqual(['q-b5']);
    expect(await q(admin, { trigger_type: '1', user_id: 'bob' })).toEqual(['q-b1', 'q-b2', 'q-b3']);
    expect(await q(admin, { data_source: srcX })).toEqual(['q-b1', 'q-b2', 'q-c1']);
    expect(await q(admin, { data_source: 'mongodb://u:***@x-host:27017' })).toEqual(['q-b1', 'q-b2', 'q-c1']);
    expect(await q(admin, { data_source: srcY })).toEqual(['q-b3']);
    expect(await q(admin, { database: 'sales' })).toEqual(['q-b1', 'q-b2', 'q-c1']);
    expect(await q(admin, { collection: 'orders' })).toEqual(['q-b1', 'q-b3', 'q-c1']);
    expect(await q(admin, { database: 'sales', collection: 'orders', user_id: 'bob' })).toEqual(['q-b1']);
    // A user's query is always limited to their own triggers.
    expect(await q(bob, { collection: 'orders' })).toEqual(['q-b1', 'q-b3']);
    expect(await q(carol, { database: 'sales' })).toEqual(['q-c1']);

    // The SCHEDULED trigger is applied with its tick topic as source; AUTHENTICATION ones are stored only.
    const sched = String(made.b4['runtime_key']);
    await alice.call('triggers', 'enable', { id: made.b4['id'] }).catch(() => undefined); // alice cannot
    await bob.call('triggers', 'enable', { id: made.b4['id'] });
    await eventually(() => controller.definitions.get(sched)?.enabled === true, 'scheduled trigger applied', 15_000);
    expect(controller.definitions.get(sched)?.source).toEqual({ topic: `changeflow.__schedule.${sched}` });
    expect(controller.definitions.has(String(made.b5['runtime_key']))).toBe(false);
    await bob.call('triggers', 'disable', { id: made.b4['id'] });
  });

  it('test-runs a function on sample events and returns its actions, or the error with its position', async () => {
    const fn = await createFunction(
      alice,
      'exec-fn',
      'export default function handle(events, ctx) {\n  console.log("n=" + events.length);\n  return events.map((e) => ({ sink: "cache", op: "set", key: "k:" + e.documentKey._id, value: e.fullDocument }));\n}',
    );
    const reply = await alice.call<Msg>('functions', 'execute', {
      id: fn['id'],
      events_json: JSON.stringify([{ op: 'insert', documentKey: { _id: 1 }, fullDocument: { _id: 1, total: 5 } }]),
    });
    expect(JSON.parse(String(reply['actions_json']))).toEqual([{ sink: 'cache', op: 'set', key: 'k:1', value: { _id: 1, total: 5 } }]);
    expect(reply['logs']).toEqual(['info: n=1']);
    expect(reply['error']).toBe('');

    const failing = await alice.call<Msg>('functions', 'execute', {
      javascript: 'export default function handle(events) {\n  return events[0].nope.deeper;\n}',
      events_json: '[{}]',
    });
    expect(failing['error_kind']).toBe('runtime');
    expect(failing['line']).toBe(2);
    expect(String(failing['error'])).toContain('deeper');

    const wrongSink = await alice.call<Msg>('functions', 'execute', { id: fn['id'], events_json: '[{"documentKey":{"_id":2}}]', sink_names: ['other'] });
    expect(wrongSink['error_kind']).toBe('invalid-actions');
    expect(code(await refused(alice.call('functions', 'execute', { id: fn['id'], events_json: '{"not":"an array"}' })))).toBe(grpc.status.INVALID_ARGUMENT);
  });
  it('loads every stored trigger when a control plane starts (a restart re-applies them without any change event)', async () => {
    const fresh = new RecordingTriggerController();
    const config = compileConfig({
      kafka: { brokers: [infra.kafka] },
      mongodb: { uri: infra.mongodb, db: dbName },
      http: { port: 0 },
      grpc: { port: 0 },
      auth: { tokens: [] },
    });
    const second = await startApp(
      config,
      [() => createControlPlane(config, { controller: () => fresh, sinkKinds: () => SINK_KINDS, scheduler: false, ensureSource: false })],
      {
        logger: silentLogger,
        metrics: createMetricsRegistry({ defaultMetrics: false }),
      },
    );
    try {
      const stored = await app.context.metadata.db
        .collection('triggers')
        .find({ trigger_type: { $in: [1, 3] }, enabled: true })
        .toArray();
      expect(stored.length).toBeGreaterThan(3);
      // Right after start: the initial load has applied them all.
      expect(fresh.running().sort()).toEqual(stored.map((t) => triggerKey(t as never)).sort());
    } finally {
      await second.stop();
    }
  });
});
