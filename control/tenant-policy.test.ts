import fc from 'fast-check';
import { compileConfig, type ConfigInput } from '../app/config.js';
import { topicRefusal, type TopicGuard } from '../sinks/topic-guard.js';
import { TRIGGER_TYPE, type SinkDoc } from './documents.js';
import { capsFor, TenantPolicy, type TriggerShape } from './tenant-policy.js';
import { ownSource } from './tenant-sources.js';

const META_URI = 'mongodb://meta-host:27017';
const base: ConfigInput = { kafka: { brokers: ['127.0.0.1:9092'] }, mongodb: { uri: META_URI, db: 'changeflow' } };
const policyOf = (extra: Partial<ConfigInput> = {}): TenantPolicy => TenantPolicy.fromConfig(compileConfig({ ...base, ...extra }, {}));

const tenantA = { userId: 'team-a', admin: false };
const tenantB = { userId: 'team-b', admin: false };
const admin = { userId: 'ops', admin: true };
const SINK_A: SinkDoc = { name: 'out', kind: 'memory', options: {} };

function dbTrigger(database: Partial<NonNullable<TriggerShape['config']['database']>>, sinks: SinkDoc[] = [SINK_A], userId = 'team-a'): TriggerShape {
  return {
    user_id: userId,
    trigger_type: TRIGGER_TYPE.DATABASE,
    config: { database: { data_source: '', database: 'shop', collection: 'orders', operation_types: [], ...database } },
    sinks,
  };
}
const own = (database: Record<string, string> = {}) => dbTrigger({ data_source: 'mongodb://team-a-db:27017', ...database });
const withSink = (sink: SinkDoc, owner = 'team-a'): TriggerShape => dbTrigger({ data_source: 'mongodb://team-a-db:27017' }, [sink], owner);

const hrSource = { name: 'hr', uri: 'mongodb://hr-db:27017', watch: { db: 'hr', coll: 'salaries' } };

describe('TenantPolicy: sources', () => {
  it("gives a trigger's own data_source a source of its owner's, with a topic no other user or config source shares", () => {
    const policy = policyOf({ sources: [{ ...hrSource, uri: 'mongodb://team-a-db:27017', watch: { db: 'shop', coll: 'orders' } }] });
    const planA = policy.plan(tenantA, own());
    const planB = policy.plan(tenantB, dbTrigger({ data_source: 'mongodb://team-a-db:27017' }, [SINK_A], 'team-b'));
    expect('ownSource' in planA && planA.ownSource?.name).toMatch(/^ds-[0-9a-f]{24}$/);
    if (!('sinks' in planA) || !('sinks' in planB)) throw new Error('expected both allowed');
    expect(planA.source).toEqual({ topic: `changeflow.${planA.ownSource?.name}` });
    expect(planB.ownSource?.topic).not.toBe(planA.ownSource?.topic);
    expect(planA.ownSource?.topic).not.toBe('changeflow.shop.orders');
  });

  it("refuses a trigger without data_source on a namespace another's source publishes, and says how to get it granted", () => {
    const policy = policyOf({ sources: [hrSource] });
    const [problem] = policy.problems(tenantB, dbTrigger({ database: 'hr', collection: 'salaries' }, [SINK_A], 'team-b'), 'trigger');
    expect(problem).toMatch(/^trigger\.database\.data_source: hr\.salaries is published by a source you may not read; .*sources\[\]\.readers/);
    // The whole database overlaps the collection's source too.
    expect(policy.problems(tenantB, dbTrigger({ database: 'hr', collection: '' }, [SINK_A], 'team-b'), 'trigger')).toHaveLength(1);
  });

  it('refuses a trigger without data_source when no source it may read covers the namespace', () => {
    expect(policyOf().problems(tenantA, dbTrigger({}), 'trigger')[0]).toMatch(
      /data_source: empty, and no source you may read covers shop\.orders; readable for you: none/,
    );
  });

  it('lets readers of a config source use it without a data_source; others still refused; admins always', () => {
    const policy = policyOf({ sources: [{ ...hrSource, readers: ['team-a'] }] });
    const trigger = dbTrigger({ database: 'hr', collection: 'salaries' });
    expect(policy.problems(tenantA, trigger, 'trigger')).toEqual([]);
    expect(policy.plan(tenantA, trigger)).toMatchObject({ sinks: [SINK_A] });
    expect(policy.plan(tenantA, trigger)).not.toHaveProperty('source');
    expect(policy.problems(tenantB, { ...trigger, user_id: 'team-b' }, 'trigger')).toHaveLength(1);
    expect(policy.problems(admin, trigger, 'trigger')).toEqual([]);
  });

  it('never reads the metadata store, the state db or system databases for a tenant, even from its own data_source', () => {
    const policy = policyOf();
    for (const database of ['changeflow', 'ChangeFlow', 'changeflow_sync', 'admin', 'local', 'config']) {
      expect(policy.problems(tenantA, own({ database, collection: 'tokens' }), 'trigger')[0]).toMatch(/^trigger\.database\.database: /);
    }
  });

  it('limits data sources to auth.tenants[].dataSources when set', () => {
    const policy = policyOf({ auth: { tenants: [{ userId: 'team-a', dataSources: ['mongodb://team-a-db:27017'] }] } });
    expect(policy.problems(tenantA, own(), 'trigger')).toEqual([]);
    expect(policy.problems(tenantA, own({ data_source: 'mongodb://team-a-db:27017@hr-db:27017' }), 'trigger')[0]).toMatch(
      /data_source: this URI is not granted; your data sources must start with "mongodb:\/\/team-a-db:27017"/,
    );
  });
});

describe('TenantPolicy: topics', () => {
  const policy = policyOf({ sources: [{ ...hrSource, readers: ['team-a'] }], auth: { tenants: [{ userId: 'team-a', topics: ['partner.events*'] }] } });
  const topicTrigger = (topic: string, owner = tenantA) => policy.problems(owner, dbTrigger({ topic }, [SINK_A], owner.userId), 'trigger');

  it.each(['changeflow.__offsets', 'changeflow.__dlq.team-b-orders', 'changeflow.__schedule.x', 'changeflow.hr.__ddl'])(
    'refuses the internal topic %s, naming what is allowed',
    (topic) => {
      expect(topicTrigger(topic)[0]).toMatch(
        new RegExp(`^trigger\\.database\\.topic: "${topic.replace(/\./g, '\\.')}" is one of changeflow's internal topics .*allowed: your own sources' topics`),
      );
    },
  );

  it("allows its own sources' topics, readable sources' topics and granted topics; not another user's", () => {
    const mine = ownSource('changeflow', 'team-a', { dataSource: 'mongodb://x', db: 'shop', coll: 'orders' }).topic;
    const theirs = ownSource('changeflow', 'team-b', { dataSource: 'mongodb://x', db: 'shop', coll: 'orders' }).topic;
    expect(topicTrigger(mine)).toEqual([]);
    expect(topicTrigger('changeflow.hr.salaries')).toEqual([]);
    expect(topicTrigger('partner.events.v1')).toEqual([]);
    expect(topicTrigger(theirs)[0]).toMatch(/is not a topic you may read/);
    expect(topicTrigger('changeflow.shop.orders')[0]).toMatch(/is not a topic you may read/);
    expect(topicTrigger('changeflow.hr.salaries', tenantB)[0]).toMatch(/is not a topic you may read/);
    expect(policy.problems(admin, dbTrigger({ topic: 'changeflow.__offsets' }), 'trigger')).toEqual([]);
  });

  it('property: no internal topic name is ever readable or writable by a tenant, whatever it was granted', () => {
    const granted = policyOf({ auth: { tenantDefaults: { topics: ['changeflow*', 'c*'], sinkTopics: ['changeflow*', 'c*'] } } });
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    const internal = fc
      .tuple(fc.array(segment, { maxLength: 2 }), segment, fc.array(segment, { maxLength: 2 }))
      .map(([before, name, after]) => ['changeflow', ...before, `__${name}`, ...after].join('.'));
    fc.assert(
      fc.property(internal, (topic) => {
        expect(granted.problems(tenantA, dbTrigger({ topic }), 'trigger')).toHaveLength(1);
        expect(granted.problems(tenantA, withSink({ name: 'k', kind: 'kafka', options: { topic } }), 'trigger')).toHaveLength(1);
        const plan = granted.plan(tenantA, withSink({ name: 'k', kind: 'kafka', options: {} }));
        const guard = 'sinks' in plan ? (plan.sinks[0]?.options['topicGuard'] as TopicGuard) : undefined;
        expect(guard).toBeDefined();
        expect(topicRefusal(topic, guard)).toMatch(/internal/);
      }),
    );
  });
});

describe('TenantPolicy: sinks', () => {
  const policy = policyOf({ redis: { url: 'redis://shared-cache:6379' } });
  const mongo = (options: Record<string, unknown>): SinkDoc => ({ name: 'meta', kind: 'mongodb', options: { uri: META_URI, db: 'copy', ...options } });

  it('refuses a MongoDB sink into the metadata store (the token-minting attack), saying what is allowed', () => {
    const [problem] = policy.problems(tenantB, withSink(mongo({ db: 'changeflow' }), 'team-b'), 'trigger');
    expect(problem).toBe(
      'trigger.sinks[0].options_json.db: "changeflow" is the metadata store\'s database (mongodb.db: triggers, functions, tokens, leases); a tenant\'s MongoDB sink may write any other database',
    );
    expect(policy.problems(tenantB, withSink(mongo({ stateDb: 'changeflow' }), 'team-b'), 'trigger')[0]).toMatch(
      /options_json\.stateDb: "changeflow" is the metadata store/,
    );
    expect(policy.problems(tenantB, withSink(mongo({}), 'team-b'), 'trigger')).toEqual([]);
    expect(policy.problems(admin, withSink(mongo({ db: 'changeflow' }), 'ops'), 'trigger')).toEqual([]);
  });

  it("property: no URI variant of the metadata store's database (any server, credentials, options, letter case) is a tenant's sink target", () => {
    const host = fc.oneof(fc.constantFrom('meta-host', '127.0.0.1', 'localhost', 'META-HOST'), fc.domain());
    const creds = fc.option(
      fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z0-9]{1,8}$/)).map(([u, p]) => `${u}:${p}@`),
      { nil: '' },
    );
    const query = fc.constantFrom('', '/', '/?replicaSet=rs0', '/changeflow?authSource=admin', '/other');
    const dbName = fc
      .constantFrom('changeflow', 'changeflow_sync', 'admin', 'local', 'config')
      .chain((name) =>
        fc
          .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
          .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('')),
      );
    fc.assert(
      fc.property(host, creds, fc.integer({ min: 1, max: 65535 }), query, dbName, (h, c, port, q, db) => {
        const problems = policy.problems(tenantB, withSink(mongo({ uri: `mongodb://${c}${h}:${port}${q}`, db }), 'team-b'), 'trigger');
        expect(problems.some((p) => p.startsWith('trigger.sinks[0].options_json.db: '))).toBe(true);
      }),
    );
  });

  it('restricts MongoDB, Redis and HTTP targets to auth.tenants[].sinkUris, which credentials or extra hosts cannot fake', () => {
    const limited = policyOf({
      redis: { url: 'redis://shared-cache:6379' },
      auth: { tenants: [{ userId: 'team-a', sinkUris: ['mongodb://team-a-db:27017', 'https://hooks.example.net/team-a/', 'redis://team-a-cache:6379'] }] },
    });
    const ok = (sink: SinkDoc): string[] => limited.problems(tenantA, withSink(sink), 'trigger');
    expect(ok(mongo({ uri: 'mongodb://team-a-db:27017/?replicaSet=rs0' }))).toEqual([]);
    expect(ok(mongo({ uri: 'mongodb://u:p@team-a-db:27017' }))).toEqual([]);
    expect(ok({ name: 'h', kind: 'http', options: { url: 'https://hooks.example.net/team-a/orders' } })).toEqual([]);
    expect(ok({ name: 'r', kind: 'redis', options: { url: 'redis://team-a-cache:6379' } })).toEqual([]);
    for (const uri of [
      'mongodb://team-a-db:27017@evil:27017',
      'mongodb://team-a-db:27017,evil:27017',
      'mongodb://team-a-db:270170',
      'mongodb://team-a-db:27017.evil.net',
    ]) {
      expect(ok(mongo({ uri }))[0]).toMatch(
        /^trigger\.sinks\[0\]\.options_json\.uri: this target is not granted; your sinks may write to URIs starting with "mongodb:\/\/team-a-db:27017"/,
      );
    }
    expect(ok({ name: 'h', kind: 'http', options: { url: 'https://hooks.example.net/team-a/../team-b/x' } })).toHaveLength(1);
    expect(ok({ name: 'h', kind: 'http', options: { url: 'https://hooks.example.net.evil.io/team-a/' } })).toHaveLength(1);
    // A Redis sink without url writes redis.url, which is not granted here.
    expect(ok({ name: 'r', kind: 'redis', options: {} })[0]).toMatch(/options_json\.url \(unset: redis\.url\): this target is not granted/);
  });

  it('property: a granted prefix never grants a URI whose hosts differ from it', () => {
    const limited = policyOf({ auth: { tenantDefaults: { sinkUris: ['mongodb://team-a-db:27017'] } } });
    const evilHost = fc.domain().filter((d) => d !== 'team-a-db');
    const attack = fc.oneof(
      evilHost.map((h) => `mongodb://team-a-db:27017@${h}`),
      evilHost.map((h) => `mongodb://team-a-db:27017,${h}:27017`),
      evilHost.map((h) => `mongodb://${h}:27017/team-a-db:27017`),
      fc.stringMatching(/^[.a-z0-9-]{1,10}$/).map((s) => `mongodb://team-a-db:27017${s}`),
    );
    fc.assert(fc.property(attack, (uri) => expect(limited.problems(tenantA, withSink(mongo({ uri })), 'trigger')).toHaveLength(1)));
  });

  it("keeps Kafka sinks off changeflow's topics unless granted, and guards each record's topic at run time", () => {
    const granted = policyOf({ auth: { tenants: [{ userId: 'team-a', sinkTopics: ['changeflow.team-a.*'] }] } });
    const kafka = (options: Record<string, unknown>): SinkDoc => ({ name: 'k', kind: 'kafka', options });
    expect(granted.problems(tenantA, withSink(kafka({ topic: 'orders.enriched' })), 'trigger')).toEqual([]);
    expect(granted.problems(tenantA, withSink(kafka({ topic: 'changeflow.team-a.out' })), 'trigger')).toEqual([]);
    expect(granted.problems(tenantA, withSink(kafka({ topic: 'changeflow.shop.orders' })), 'trigger')[0]).toMatch(
      /options_json\.topic: topics under "changeflow\." are changeflow's; granted to you: changeflow\.team-a\.\*/,
    );
    expect(granted.problems(tenantA, withSink(kafka({ topicGuard: { internalPrefix: 'x' } })), 'trigger')[0]).toMatch(/topicGuard: set by the control plane/);
    const plan = granted.plan(tenantA, withSink(kafka({})));
    const guard = ('sinks' in plan ? plan.sinks[0]?.options['topicGuard'] : undefined) as TopicGuard;
    expect(topicRefusal('orders.enriched', guard)).toBeUndefined();
    expect(topicRefusal('changeflow.team-a.out', guard)).toBeUndefined();
    expect(topicRefusal('changeflow.shop.orders', guard)).toMatch(/not granted/);
    const adminPlan = granted.plan(admin, withSink(kafka({}), 'ops'));
    expect('sinks' in adminPlan && adminPlan.sinks[0]?.options).toEqual({});
  });

  it("lets audit sinks write only the tenant's own collection, and runs them there", () => {
    const audit = (options: Record<string, unknown>): SinkDoc => ({ name: 'a', kind: 'audit', options });
    expect(policy.problems(tenantA, withSink(audit({ collection: 'tokens' })), 'trigger')[0]).toBe(
      'trigger.sinks[0].options_json.collection: your audit sinks write only your own collection "audit.team-a" (leave collection unset)',
    );
    expect(policy.problems(tenantA, withSink(audit({ collection: 'audit.team-a' })), 'trigger')).toEqual([]);
    const plan = policy.plan(tenantA, withSink(audit({})));
    expect('sinks' in plan && plan.sinks[0]?.options).toEqual({ collection: 'audit.team-a' });
  });

  it("keeps each tenant's Redis keys in its own namespace, so one tenant can never set or delete another's (or the operator's) keys", () => {
    const redis = (options: Record<string, unknown>): SinkDoc => ({ name: 'cache', kind: 'redis', options });
    const prefixOf = (owner: { userId: string; admin: boolean }, options: Record<string, unknown>): unknown => {
      const plan = policy.plan(owner, withSink(redis(options), owner.userId));
      return 'sinks' in plan ? plan.sinks[0]?.options['keyPrefix'] : plan.reason;
    };
    expect(prefixOf(tenantA, {})).toBe('tenant:team-a:');
    expect(prefixOf(tenantA, { keyPrefix: 'user:' })).toBe('tenant:team-a:user:');
    expect(prefixOf(admin, {})).toBeUndefined();
    // No choice of userId and keyPrefix lets one tenant's keys reach into another's namespace.
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.string(), fc.string(), (a, b, prefixA, prefixB) => {
        fc.pre(a !== b);
        const keyA = String(prefixOf({ userId: a, admin: false }, { keyPrefix: prefixA }));
        const keyB = String(prefixOf({ userId: b, admin: false }, { keyPrefix: prefixB }));
        expect(keyA.startsWith(`tenant:`)).toBe(true);
        expect(keyA.startsWith(keyB.slice(0, keyB.indexOf(':', 'tenant:'.length) + 1))).toBe(false);
      }),
    );
  });

  it("runs a tenant's HTTP sinks on public addresses only unless sinkUris grants targets, refuses private literals at once, and never lets a tenant lift the guard", () => {
    const http = (options: Record<string, unknown>): SinkDoc => ({ name: 'hook', kind: 'http', options });
    const optionsOf = (p: TenantPolicy, owner: { userId: string; admin: boolean }, options: Record<string, unknown>): unknown => {
      const plan = p.plan(owner, withSink(http(options), owner.userId));
      return 'sinks' in plan ? plan.sinks[0]?.options : plan.reason;
    };
    expect(optionsOf(policy, tenantA, { url: 'https://hooks.example.com/x' })).toEqual({ url: 'https://hooks.example.com/x', publicOnly: true });
    expect(optionsOf(policy, admin, { url: 'http://127.0.0.1:9/x' })).toEqual({ url: 'http://127.0.0.1:9/x' });
    for (const url of [
      'http://127.0.0.1:8080/metrics',
      'http://localhost/x',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/x',
      'http://10.0.0.5/x',
    ]) {
      expect(policy.problems(tenantA, withSink(http({ url })), 'trigger')[0]).toMatch(
        /^trigger\.sinks\[0\]\.options_json\.url: .* tenants' HTTP sinks reach public addresses only .*sinkUris/,
      );
    }
    expect(policy.problems(tenantA, withSink(http({ url: 'https://hooks.example.com/x', publicOnly: false })), 'trigger')[0]).toMatch(
      /publicOnly: set by the control plane/,
    );
    const granted = policyOf({ auth: { tenants: [{ userId: 'team-a', sinkUris: ['http://10.0.0.5/team-a/'] }] } });
    expect(optionsOf(granted, tenantA, { url: 'http://10.0.0.5/team-a/hook' })).toEqual({ url: 'http://10.0.0.5/team-a/hook' });
  });

  it('turns a stored trigger that its owner may no longer have into a reason instead of a plan', () => {
    expect(policy.plan(tenantB, withSink(mongo({ db: 'changeflow' }), 'team-b'))).toEqual({
      reason: expect.stringMatching(/^not allowed for user "team-b": trigger\.sinks\[0\]\.options_json\.db: "changeflow" is the metadata store/),
    });
  });

  it('names fields at the top level of an update request without a leading dot', () => {
    expect(policy.problems(tenantB, withSink(mongo({ db: 'admin' }), 'team-b'), '')[0]).toMatch(
      /^sinks\[0\]\.options_json\.db: "admin" is a MongoDB system database/,
    );
  });
});

describe('admins and limits', () => {
  it('treats config admins and stored admins as admins, everyone else as a tenant', () => {
    const policy = policyOf({
      auth: {
        tokens: [
          { token: 'admin-token-0123456789', userId: 'ops', admin: true },
          { token: 'tenant-token-012345678', userId: 'team-a' },
        ],
      },
    });
    expect(policy.ownerOf('ops').admin).toBe(true);
    expect(policy.ownerOf('team-a').admin).toBe(false);
    policy.setStoredAdmins(['root']);
    expect(policy.ownerOf('root').admin).toBe(true);
  });

  it('capsFor: 10,000 ms / 256 MiB for tenants, per-tenant and default overrides, auth.adminLimits for admins', () => {
    const caps = capsFor(
      compileConfig(
        { ...base, auth: { tenantDefaults: { maxMemoryMiB: 128 }, tenants: [{ userId: 'big', maxTimeoutMs: 30_000 }], adminLimits: { maxTimeoutMs: 90_000 } } },
        {},
      ),
    );
    expect(caps(tenantA)).toEqual({ maxTimeoutMs: 10_000, maxMemoryMiB: 128 });
    expect(caps({ userId: 'big', admin: false })).toEqual({ maxTimeoutMs: 30_000, maxMemoryMiB: 128 });
    expect(caps(admin)).toEqual({ maxTimeoutMs: 90_000, maxMemoryMiB: 1024 });
    expect(capsFor(compileConfig(base, {}))(admin)).toEqual({ maxTimeoutMs: 60_000, maxMemoryMiB: 1024 });
  });

  it('refuses a tenant listed twice and names the entry', () => {
    expect(() => compileConfig({ ...base, auth: { tenants: [{ userId: 'a' }, { userId: 'a' }] } }, {})).toThrow(
      /auth\.tenants\[1\]\.userId: "a" is already listed in auth\.tenants\[0\]/,
    );
  });
});

describe('TenantPolicy: dead-letter redrive targets', () => {
  const shop = { name: 'shop', uri: 'mongodb://shop-db:27017', watch: { db: 'shop' } };

  it("lets a tenant redrive into its own source's topic and a source only it reads; refuses a shared one", () => {
    const policy = policyOf({
      sources: [
        { ...shop, readers: ['team-a'] },
        { ...hrSource, readers: ['team-a', 'team-b'] },
      ],
    });
    const ownTopic = (policy.plan(tenantA, own()) as { ownSource?: { topic: string } }).ownSource?.topic ?? '';
    expect(policy.redriveRefusal(tenantA, ownTopic)).toBeUndefined();
    expect(policy.redriveRefusal(tenantA, 'changeflow.shop.orders')).toBeUndefined();
    expect(policy.redriveRefusal(tenantA, 'changeflow.hr.salaries')).toMatch(/^"changeflow\.hr\.salaries" is read by other users' triggers too/);
    expect(policy.redriveRefusal(tenantB, 'changeflow.shop.orders')).toMatch(/read by other users' triggers/);
    expect(policy.redriveRefusal(admin, 'changeflow.hr.salaries')).toBeUndefined();
  });

  it('refuses a topic granted to another tenant, or to every tenant', () => {
    const granted = policyOf({
      sources: [{ ...shop, readers: ['team-a'] }],
      auth: { tokens: [], tenants: [{ userId: 'team-b', topics: ['changeflow.shop.*'] }] },
    });
    expect(granted.redriveRefusal(tenantA, 'changeflow.shop.orders')).toMatch(/read by other users' triggers/);
    const everyone = policyOf({ sources: [{ ...shop, readers: ['team-a'] }], auth: { tokens: [], tenantDefaults: { topics: ['changeflow.shop.orders'] } } });
    expect(everyone.redriveRefusal(tenantA, 'changeflow.shop.orders')).toMatch(/read by other users' triggers/);
  });
});
