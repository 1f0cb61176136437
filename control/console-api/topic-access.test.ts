import { TopicNames } from '../../core/topics.js';
import type { SinkDoc } from '../documents.js';
import { ownTopicPrefix } from '../tenant-sources.js';
import { filterRecords, recordFilterSchema, recordView, topicRefusal, topicsOfTrigger, type RecordView } from './topic-access.js';

const topics = new TopicNames('cf');
const alice = { userId: 'alice', admin: false };
const ops = { userId: 'ops', admin: true };

describe('topicsOfTrigger', () => {
  const database = { data_source: '', database: 'shop', collection: '', operation_types: [] };
  const sink = (name: string, kind: string, options: Record<string, unknown>): SinkDoc => ({ name, kind, options });

  it("names the topic a trigger reads and those its Kafka sinks write, and a database pattern for a whole database's trigger", () => {
    const plan = { sinks: [sink('k', 'kafka', { topic: 'cf.alice.out' }), sink('m', 'mongodb', { topic: 'not-a-kafka-sink' }), sink('bad', 'kafka', {})] };
    expect(topicsOfTrigger({ config: { database } }, plan, topics)).toEqual(['cf.shop.*', 'cf.alice.out']);
  });

  it("reads the topic the plan chose (a tenant's own source) over the namespace the trigger declares", () => {
    const own = `${ownTopicPrefix('cf', 'alice')}abc`;
    expect(topicsOfTrigger({ config: { database: { ...database, collection: 'orders' } } }, { source: { topic: own }, sinks: [] }, topics)).toEqual([own]);
    expect(topicsOfTrigger({ config: { database: { ...database, topic: 'cf.granted.x' } } }, { sinks: [] }, topics)).toEqual(['cf.granted.x']);
    expect(topicsOfTrigger({ config: { scheduled: { schedule: '* * * * *' } } }, { sinks: [] }, topics)).toEqual([]);
  });
});

describe('topicRefusal', () => {
  it('lets an admin browse any changeflow topic, internal ones too, but nothing outside the prefix', () => {
    expect(topicRefusal(ops, 'cf.__offsets', [], 'cf')).toBeUndefined();
    expect(topicRefusal(ops, 'cf.shop.orders', [], 'cf')).toBeUndefined();
    expect(topicRefusal(ops, 'other.orders', [], 'cf')).toMatch(/not one of changeflow's topics/);
  });

  it("lets a tenant browse only its triggers' topics, never internal, audit or another user's own-source topics", () => {
    const own = `${ownTopicPrefix('cf', 'alice')}abc`;
    const allowed = ['cf.shop.*', own, 'cf.*'];
    expect(topicRefusal(alice, 'cf.shop.orders', allowed, 'cf')).toBeUndefined();
    expect(topicRefusal(alice, own, allowed, 'cf')).toBeUndefined();
    expect(topicRefusal(alice, 'cf.shop.orders', ['cf.bob_shop.orders'], 'cf')).toMatch(/not a topic your triggers read or write/);
    for (const topic of ['cf.__offsets', 'cf.__dlq.x', 'cf.shop.__ddl', 'cf.audit', `${ownTopicPrefix('cf', 'bob')}abc`])
      expect(topicRefusal(alice, topic, allowed, 'cf')).toMatch(/not a topic your triggers/);
  });
});

describe('record filters', () => {
  const change = (op: string, coll: string, id: number, offset: number): RecordView =>
    recordView({
      topic: 'cf.shop.orders',
      partition: 0,
      offset: String(offset),
      key: Buffer.from(JSON.stringify({ _id: id })),
      value: Buffer.from(JSON.stringify({ v: 1, id: `t${offset}`, op, ns: { db: 'shop', coll }, source: { name: 's', cluster: 'c' } })),
      headers: {},
      timestamp: 1_700_000_000_000 + offset,
    });
  const records = [change('insert', 'orders', 1, 0), change('update', 'orders', 1, 1), change('insert', 'users', 22, 2), change('delete', 'orders', 3, 3)];

  it('decodes the envelope and filters by op, namespace and key, keeping the newest `limit`', () => {
    expect(records[0]).toMatchObject({ op: 'insert', ns: 'shop.orders', key: '{"_id":1}' });
    const only = (query: Record<string, string>): string[] => filterRecords(records, recordFilterSchema.parse(query)).map((r) => r.offset);
    expect(only({})).toEqual(['0', '1', '2', '3']);
    expect(only({ op: 'insert' })).toEqual(['0', '2']);
    expect(only({ ns: 'shop.orders' })).toEqual(['0', '1', '3']);
    expect(only({ key: '"_id":1' })).toEqual(['0', '1']);
    expect(only({ op: 'insert', ns: 'shop.users' })).toEqual(['2']);
    expect(only({ limit: '2' })).toEqual(['2', '3']);
  });

  it('shows a value that is not a change event as text, without op or namespace', () => {
    const view = recordView({ topic: 't', partition: 1, offset: '5', key: null, value: Buffer.from('<b>hi</b>'), headers: {}, timestamp: 0 });
    expect(view).toMatchObject({ op: null, ns: null, key: null, event: '<b>hi</b>' });
  });

  it('refuses a bad limit, op or namespace, naming the field', () => {
    const issues = recordFilterSchema.safeParse({ limit: '0', op: 'explode', ns: 'a b' }).error?.issues.map((i) => i.path.join('.'));
    expect(issues).toEqual(['limit', 'op', 'ns']);
  });
});
