import fc from 'fast-check';
import { compileConfig, type ConfigInput } from '../app/config.js';
import { DatabaseClaims, databasesUsedBy, type ClaimingTrigger } from './database-claims.js';
import { TRIGGER_TYPE, type SinkDoc } from './documents.js';
import { TenantPolicy, type TriggerShape } from './tenant-policy.js';

const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const mongoSink = (db: string, extra: Record<string, unknown> = {}): SinkDoc => ({
  name: 'copy',
  kind: 'mongodb',
  options: { uri: 'mongodb://b:27017', db, ...extra },
});

function trigger(id: string, userId: string, created: number, sinks: SinkDoc[], dataSourceDb?: string): ClaimingTrigger {
  return {
    _id: id,
    user_id: userId,
    created_at: at(created),
    sinks,
    config: { database: { data_source: dataSourceDb ? 'mongodb://own:27017' : '', database: dataSourceDb ?? 'shop', collection: '', operation_types: [] } },
  };
}

const noAdmins = (): boolean => false;

describe('databasesUsedBy', () => {
  it("names the MongoDB sinks' db and stateDb and the data_source database, lower-cased, not the shared state db", () => {
    const t = trigger(
      't1',
      'a',
      1,
      [mongoSink('Copy', { stateDb: 'A_State' }), mongoSink('changeflow_sync'), { name: 'r', kind: 'redis', options: { db: 'x' } }],
      'Src',
    );
    expect(databasesUsedBy(t).sort()).toEqual(['a_state', 'copy', 'src']);
  });

  it('ignores a trigger reading a config source (no data_source)', () => {
    expect(databasesUsedBy(trigger('t1', 'a', 1, []))).toEqual([]);
  });
});

describe('DatabaseClaims', () => {
  it("refuses a tenant another tenant's database, in any letter case, and lets the owner use it", () => {
    const claims = new DatabaseClaims([trigger('t1', 'team-a', 1, [mongoSink('shop_copy')])], [], noAdmins);
    expect(claims.refusal('team-a', 'shop_copy')).toBeUndefined();
    expect(claims.refusal('team-b', 'SHOP_COPY')).toMatch(/"SHOP_COPY" is another tenant's .*choose another database name/);
    expect(claims.refusal('team-b', 'other')).toBeUndefined();
  });

  it("refuses every tenant the operator's databases: configured ones and those an admin's trigger uses", () => {
    const claims = new DatabaseClaims([trigger('t1', 'ops', 5, [mongoSink('reports')])], ['shop'], (u) => u === 'ops');
    expect(claims.refusal('team-a', 'Shop')).toMatch(/the operator's/);
    expect(claims.refusal('team-a', 'reports')).toMatch(/the operator's/);
  });

  it("refuses writing into another tenant's source database (its data_source)", () => {
    const claims = new DatabaseClaims([trigger('t1', 'team-a', 1, [], 'hr')], [], noAdmins);
    expect(claims.refusal('team-b', 'hr')).toMatch(/another tenant's/);
  });

  it('gives a contested name to the tenant whose trigger was created first, whatever the order they are listed in', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }), (order) => {
        const all = [
          trigger('t3', 'team-c', 30, [mongoSink('x')]),
          trigger('t1', 'team-a', 10, [mongoSink('x')]),
          trigger('t2', 'team-b', 10, [mongoSink('x')]),
          trigger('t0', 'team-d', 50, [mongoSink('x')]),
        ];
        const claims = new DatabaseClaims(
          order.map((i) => all[i] as ClaimingTrigger),
          [],
          noAdmins,
        );
        // t1 and t2 were created at the same moment: the smaller id wins.
        expect(claims.ownerOf('x')).toEqual({ kind: 'tenant', userId: 'team-a' });
      }),
    );
  });

  it('gives every database exactly one owner, and a tenant is refused exactly the databases others own', () => {
    const users = ['a', 'b', 'c'];
    const names = ['x', 'y', 'z', 'X'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ user: fc.constantFrom(...users), created: fc.nat({ max: 5 }), db: fc.constantFrom(...names) }), { maxLength: 12 }),
        (specs) => {
          const triggers = specs.map((s, i) => trigger(`t${i}`, s.user, s.created, [mongoSink(s.db)]));
          const claims = new DatabaseClaims(triggers, [], noAdmins);
          for (const db of names) {
            const owner = claims.ownerOf(db);
            const refusedFor = users.filter((u) => claims.refusal(u, db) !== undefined);
            if (!owner) expect(refusedFor).toEqual([]);
            else if (owner.kind === 'tenant') expect(refusedFor).toEqual(users.filter((u) => u !== owner.userId));
          }
        },
      ),
    );
  });
});

describe('TenantPolicy with stored triggers', () => {
  const base: ConfigInput = {
    kafka: { brokers: ['127.0.0.1:9092'] },
    mongodb: { uri: 'mongodb://meta:27017', db: 'changeflow' },
    sources: [{ name: 'shop', uri: 'mongodb://a:27017', watch: { db: 'shop' }, readers: ['team-a', 'team-b'] }],
    triggers: [{ name: 'sync', source: { db: 'shop' }, sinks: [{ name: 'b', kind: 'mongodb', uri: 'mongodb://b:27017', db: 'shop_replica' }] }],
  };
  const shape = (userId: string, db: string): TriggerShape => ({
    user_id: userId,
    trigger_type: TRIGGER_TYPE.DATABASE,
    config: { database: { data_source: '', database: 'shop', collection: 'orders', operation_types: [] } },
    sinks: [mongoSink(db)],
  });

  it("refuses a tenant's sink into another tenant's copy, naming the field; the owner and admins keep it", () => {
    const policy = TenantPolicy.fromConfig(compileConfig(base, {}));
    policy.setStoredTriggers([trigger('t1', 'team-a', 1, [mongoSink('team_a_copy')])]);
    expect(policy.problems({ userId: 'team-b', admin: false }, shape('team-b', 'team_a_copy'), 'trigger')).toEqual([
      expect.stringMatching(/^trigger\.sinks\[0\]\.options_json\.db: "team_a_copy" is another tenant's/),
    ]);
    expect(policy.problems({ userId: 'team-a', admin: false }, shape('team-a', 'team_a_copy'), 'trigger')).toEqual([]);
    expect(policy.problems({ userId: 'ops', admin: true }, shape('ops', 'team_a_copy'), 'trigger')).toEqual([]);
    // At run time too: a stored trigger of team-b writing there is not run.
    expect(policy.plan({ userId: 'team-b', admin: false }, shape('team-b', 'team_a_copy'))).toEqual({ reason: expect.stringMatching(/another tenant's/) });
  });

  it('refuses tenants the databases changeflow.yaml watches and writes, before any stored trigger is known', () => {
    const policy = TenantPolicy.fromConfig(compileConfig(base, {}));
    const tenant = { userId: 'team-b', admin: false };
    expect(policy.problems(tenant, shape('team-b', 'shop'), 'trigger')).toEqual([expect.stringMatching(/options_json\.db: "shop" is the operator's/)]);
    expect(policy.problems(tenant, shape('team-b', 'Shop_Replica'), 'trigger')).toEqual([expect.stringMatching(/"Shop_Replica" is the operator's/)]);
    expect(policy.problems(tenant, { ...shape('team-b', 'mine'), sinks: [mongoSink('mine', { stateDb: 'shop_replica' })] }, 'trigger')).toEqual([
      expect.stringMatching(/options_json\.stateDb: "shop_replica" is the operator's/),
    ]);
    expect(policy.problems(tenant, shape('team-b', 'mine'), 'trigger')).toEqual([]);
  });
});
