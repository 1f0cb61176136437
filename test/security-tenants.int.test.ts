import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { hashToken } from '../control/auth.js';
import { ControlClient } from '../control/client.js';
import { createControlPlane, type ControlPlane } from '../control/component.js';
import type { TriggerDoc } from '../control/documents.js';
import { triggerKey } from '../control/trigger-key.js';
import { ProcessorManager } from '../processors/manager.js';
import type { TriggerController } from '../processors/trigger-definition.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { refused } from './support/grpc.js';

const TOKENS = { a: 'tenant-a-token-0123456789', b: 'tenant-b-token-0123456789', admin: 'admin-token-0123456789ab' };
const MINTED = 'minted-by-tenant-b-0123456789';
type Msg = Record<string, unknown>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Issue 16 items 2 and 3, performed as a hostile tenant would through the real gRPC API, with the
 * real processors, sources and MongoDB sinks: each attack is PERMISSION_DENIED and writes nothing.
 */
describe("tenant boundaries: tokens cannot be minted, other tenants' data and internal topics cannot be read", () => {
  const infra = testInfra();
  const prefix = uniqueName('cfsec');
  const metaDb = uniqueName('sec-meta');
  const hrDb = uniqueName('hr');
  const srcB = uniqueName('src-b');
  const copyA = uniqueName('copy-a');
  const copyB = uniqueName('copy-b');
  let app: RunningApp;
  let plane: ControlPlane;
  let processors: TriggerController | undefined;
  let mongo: MongoClient;
  let a: ControlClient;
  let b: ControlClient;
  let admin: ControlClient;
  const extraDbs: string[] = [];

  beforeAll(async () => {
    const config = compileConfig({
      kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 1 },
      mongodb: { uri: infra.mongodb, db: metaDb },
      http: { port: 0 },
      grpc: { port: 0 },
      ...(infra.redis ? { redis: { url: infra.redis } } : {}),
      auth: {
        tokens: [
          { token: TOKENS.a, userId: 'team-a' },
          { token: TOKENS.b, userId: 'team-b' },
          { token: TOKENS.admin, userId: 'ops', admin: true },
        ],
      },
    });
    const manager = new ProcessorManager([], { topicRefreshMs: 1_000 });
    plane = createControlPlane(config, {
      scheduler: false,
      controller: () => (processors = manager),
    });
    app = await startApp(config, [() => manager, () => plane], { logger: silentLogger, metrics: createMetricsRegistry({ defaultMetrics: false }) });
    mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    a = new ControlClient(plane.address, TOKENS.a);
    b = new ControlClient(plane.address, TOKENS.b);
    admin = new ControlClient(plane.address, TOKENS.admin);
  });

  afterAll(async () => {
    for (const c of [a, b, admin]) c?.close();
    await app?.stop();
    const kafkaAdmin = app?.context.kafka.admin();
    if (kafkaAdmin) {
      await kafkaAdmin.connect();
      await kafkaAdmin.deleteTopics((await kafkaAdmin.listTopics()).filter((t) => t.startsWith(prefix))).catch(() => undefined);
      await kafkaAdmin.disconnect();
    }
    for (const db of [metaDb, hrDb, srcB, copyA, copyB, ...extraDbs])
      await mongo
        ?.db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo?.close();
  });

  const createTrigger = async (as: ControlClient, trigger: Msg): Promise<Msg> => (await as.call<{ trigger: Msg }>('triggers', 'create', { trigger })).trigger;
  const mongoSink = (db: string): Msg => ({ name: 'meta', kind: 'mongodb', options_json: JSON.stringify({ uri: infra.mongodb, db }) });
  const countIn = (db: string, coll: string): Promise<number> => mongo.db(db).collection(coll).countDocuments();

  it('item 2: a function writing to a MongoDB sink on the metadata store is refused, and no token is minted', async () => {
    const minter = `export default function handle(events) { return events.map(() => ({ sink: "meta", op: "upsert", coll: "tokens", doc: { _id: "${hashToken(MINTED)}", user_id: "ops", admin: true } })); }`;
    const fn = (await b.call<{ function: Msg }>('functions', 'create', { function: { name: 'minter', function_type: 2, javascript: minter } })).function;
    const trigger = (name: string, db: string): Msg => ({
      name,
      trigger_type: 1,
      database: { data_source: infra.mongodb, database: srcB, collection: 'orders', operation_types: [1] },
      function_id: fn['id'],
      enabled: true,
      sinks: [mongoSink(db)],
      batch: { max_size: 10, max_wait_ms: 10 },
    });

    const error = await refused(createTrigger(b, trigger('mint', metaDb)));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toBe(
      `trigger.sinks[0].options_json.db: "${metaDb}" is the metadata store's database (mongodb.db: triggers, functions, tokens, leases); a tenant's MongoDB sink may write any other database`,
    );
    expect((await refused(createTrigger(b, trigger('mint-admin-db', 'admin')))).code).toBe(grpc.status.PERMISSION_DENIED);

    // The same function and source into a database of B's own runs: the pipeline works, only the target was refused.
    const allowed = await createTrigger(b, trigger('not-mint', copyB));
    const orders = mongo.db(srcB).collection<{ _id: number }>('orders');
    let n = 0;
    await eventually(
      async () => {
        await orders.insertOne({ _id: n++ });
        return (await countIn(copyB, 'tokens')) > 0;
      },
      "B's function output written to B's own database",
      45_000,
      1_000,
    );
    expect(
      await mongo
        .db(metaDb)
        .collection('tokens')
        .countDocuments({ _id: hashToken(MINTED) } as never),
    ).toBe(0);
    const minted = new ControlClient(plane.address, MINTED);
    try {
      expect((await refused(minted.stream('triggers', 'query', { query: {} }))).code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      minted.close();
    }

    // Pointing the allowed trigger at the metadata store afterwards is refused the same way.
    const update = await refused(b.call('triggers', 'update', { id: allowed['id'], sinks: { sinks: [mongoSink(metaDb.toUpperCase())] } }));
    expect(update.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(update.details).toMatch(/^sinks\[0\]\.options_json\.db: ".*" is the metadata store's database/);
  });

  it("item 3: a trigger without data_source cannot read the namespace of another tenant's source, not even when stored directly", async () => {
    await createTrigger(a, {
      name: 'salaries',
      trigger_type: 1,
      database: { data_source: infra.mongodb, database: hrDb, collection: 'salaries', operation_types: [1] },
      enabled: true,
      sinks: [mongoSink(copyA)],
      batch: { max_size: 10, max_wait_ms: 10 },
    });
    const steal: Msg = {
      name: 'steal',
      trigger_type: 1,
      database: { data_source: '', database: hrDb, collection: 'salaries', operation_types: [1] },
      enabled: true,
      sinks: [mongoSink(copyB)],
      batch: { max_size: 10, max_wait_ms: 10 },
    };
    const error = await refused(createTrigger(b, steal));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toMatch(
      new RegExp(
        `^trigger\\.database\\.data_source: empty, and no source you may read covers ${hrDb}\\.salaries; readable for you: none; give your own data_source \\(a MongoDB URI\\), or ask an admin to add "team-b" to a source's readers \\(sources\\[\\]\\.readers\\)$`,
      ),
    );

    // A trigger stored before these rules (written straight into the metadata store) does not run either.
    const now = new Date();
    const stored: TriggerDoc = {
      _id: '0123456789abcdef01234567',
      user_id: 'team-b',
      name: 'stored-steal',
      trigger_type: 1,
      function_id: '',
      enabled: true,
      config: { database: { data_source: '', database: hrDb, collection: 'salaries', operation_types: [1] } },
      sinks: [{ name: 'meta', kind: 'mongodb', options: { uri: infra.mongodb, db: copyB } }],
      created_at: now,
      updated_at: now,
    };
    await mongo.db(metaDb).collection<TriggerDoc>('triggers').insertOne(stored);

    const salaries = mongo.db(hrDb).collection<{ _id: number; pay: number }>('salaries');
    let n = 0;
    await eventually(
      async () => {
        await salaries.insertOne({ _id: n++, pay: 1000 });
        return (await countIn(copyA, 'salaries')) > 0;
      },
      "A's own trigger receives A's documents",
      45_000,
      1_000,
    );
    await plane.settled();
    await sleep(3_000);
    expect(processors?.running()).not.toContain(triggerKey(stored));
    expect(await countIn(copyB, 'salaries')).toBe(0);
  });

  it("a tenant's MongoDB sink cannot write another tenant's copy database, not even when stored directly", async () => {
    const srcA = uniqueName('src-a');
    const copyShared = uniqueName('copy-a-shared');
    extraDbs.push(srcA, copyShared);
    const copyTrigger = (name: string, source: string, target: string): Msg => ({
      name,
      trigger_type: 1,
      database: { data_source: infra.mongodb, database: source, collection: 'orders', operation_types: [1] },
      enabled: true,
      sinks: [mongoSink(target)],
      batch: { max_size: 10, max_wait_ms: 10 },
    });
    await createTrigger(a, copyTrigger('a-copy', srcA, copyShared));

    const error = await refused(createTrigger(b, copyTrigger('b-into-a', srcB, copyShared.toUpperCase())));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toBe(
      `trigger.sinks[0].options_json.db: "${copyShared.toUpperCase()}" is another tenant's (its triggers use it); a tenant's MongoDB sink writes only databases no one else uses (names count on every server): choose another database name`,
    );
    // Nor into A's source database.
    expect((await refused(createTrigger(b, copyTrigger('b-into-a-src', srcB, srcA)))).code).toBe(grpc.status.PERMISSION_DENIED);

    // Written straight into the metadata store (a race, or an old trigger): A's claim is older, so B's does not run.
    const now = new Date();
    const stored: TriggerDoc = {
      _id: '0123456789abcdef0123aaaa',
      user_id: 'team-b',
      name: 'stored-b-into-a',
      trigger_type: 1,
      function_id: '',
      enabled: true,
      config: { database: { data_source: infra.mongodb, database: srcB, collection: 'orders', operation_types: [1] } },
      sinks: [{ name: 'meta', kind: 'mongodb', options: { uri: infra.mongodb, db: copyShared } }],
      created_at: now,
      updated_at: now,
    };
    await mongo.db(metaDb).collection<TriggerDoc>('triggers').insertOne(stored);
    let n = 0;
    await eventually(
      async () => {
        await mongo
          .db(srcA)
          .collection('orders')
          .insertOne({ _id: `a-${n++}` } as never);
        return (await countIn(copyShared, 'orders')) > 0;
      },
      "A's copy receives A's documents",
      45_000,
      1_000,
    );
    await mongo
      .db(srcB)
      .collection('orders')
      .insertOne({ _id: 'from-b' } as never);
    await plane.settled();
    await sleep(3_000);
    expect(processors?.running()).not.toContain(triggerKey(stored));
    expect(
      await mongo
        .db(copyShared)
        .collection('orders')
        .countDocuments({ _id: 'from-b' } as never),
    ).toBe(0);
  });

  it("item 3: internal topics (offsets, another trigger's dead letters) are refused as a tenant's topic; admins keep the power", async () => {
    const topicTrigger = (name: string, topic: string): Msg => ({
      name,
      trigger_type: 1,
      database: { database: 'x', topic },
      enabled: true,
      sinks: [mongoSink(copyB)],
    });
    const dlq = `${prefix}.__dlq.${triggerKey({ _id: '0123456789abcdef01234568', user_id: 'team-a', name: 'salaries' })}`;
    for (const topic of [`${prefix}.__offsets`, dlq]) {
      const error = await refused(createTrigger(b, topicTrigger(`copy-${topic.length}`, topic)));
      expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(error.details).toContain(
        `trigger.database.topic: "${topic}" is one of changeflow's internal topics (${prefix}.__*, offsets, dead letters, DDL), never a tenant's source; allowed: your own sources' topics`,
      );
    }
    // Nor can a Kafka sink copy into them.
    const sinkError = await refused(
      createTrigger(b, {
        ...topicTrigger('to-offsets', `${prefix}.__offsets`),
        database: { data_source: infra.mongodb, database: srcB, collection: 'orders' },
        sinks: [{ name: 'k', kind: 'kafka', options_json: JSON.stringify({ topic: `${prefix}.__offsets` }) }],
      }),
    );
    expect(sinkError.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(sinkError.details).toBe(
      `trigger.sinks[0].options_json.topic: "${prefix}.__offsets" is one of changeflow's internal topics (${prefix}.__*), never a tenant's sink target`,
    );
    expect(await countIn(copyB, 'offsets')).toBe(0);
    const mine = await createTrigger(admin, { ...topicTrigger('ops-offsets', `${prefix}.__offsets`), enabled: false });
    expect(mine['database']).toMatchObject({ topic: `${prefix}.__offsets` });
  });

  it("a tenant's Redis sink writes only its own key namespace: it cannot set or delete another tenant's or the operator's keys on the shared Redis", async () => {
    if (!infra.redis) throw new Error('this test needs Redis (REDIS_URL or the local infra)');
    const redis = new Redis(infra.redis);
    const tag = uniqueName('k');
    const operatorKey = `session:${tag}`;
    const otherTenantKey = `tenant:team-a:${tag}`;
    try {
      await redis.set(operatorKey, 'operator');
      await redis.set(otherTenantKey, 'team-a');
      const attacker = `export default function handle(events) {
        return events.flatMap(() => [
          { sink: "cache", op: "set", key: "${operatorKey}", value: "overwritten" },
          { sink: "cache", op: "del", key: "${otherTenantKey}" },
        ]);
      }`;
      const fn = (await b.call<{ function: Msg }>('functions', 'create', { function: { name: 'cache-attacker', function_type: 2, javascript: attacker } }))
        .function;
      await createTrigger(b, {
        name: 'cache-attack',
        trigger_type: 1,
        database: { data_source: infra.mongodb, database: srcB, collection: 'sessions', operation_types: [1] },
        function_id: fn['id'],
        enabled: true,
        sinks: [{ name: 'cache', kind: 'redis', options_json: '{}' }],
        batch: { max_size: 10, max_wait_ms: 10 },
      });
      const sessions = mongo.db(srcB).collection<{ _id: number }>('sessions');
      let n = 0;
      await eventually(
        async () => {
          await sessions.insertOne({ _id: n++ });
          return (await redis.get(`tenant:team-b:${operatorKey}`)) !== null;
        },
        "B's function output written under B's own namespace",
        45_000,
        1_000,
      );
      expect(await redis.get(`tenant:team-b:${operatorKey}`)).toBe('"overwritten"');
      expect(await redis.get(operatorKey)).toBe('operator');
      expect(await redis.get(otherTenantKey)).toBe('team-a');
    } finally {
      await redis.del(operatorKey, otherTenantKey, `tenant:team-b:${operatorKey}`);
      redis.disconnect();
    }
  });
});
