import { EJSON, Int32, Long, ObjectId, type Document } from '../schemas/bson.js';
import { Redis } from 'ioredis';
import { isRetriable } from '../core/errors.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { redisSinkKind, redisSinkSchema } from '../sinks/redis.js';
import { SinkWriteError, type SinkRecord } from '../sinks/sink.js';
import { ejson, origin, records, sinkTestContext } from './support/sink.js';
import { testInfra, uniqueName } from './support/infra.js';

const infra = testInfra();
const describeWithRedis = infra.redis ? describe : describe.skip;

describeWithRedis('redis sink against the local Redis', () => {
  const url = infra.redis as string;
  const redis = new Redis(url);
  const prefix = `${uniqueName('cache')}:`;
  const meta = uniqueName('redis-meta');

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('holds exactly the current documents after a burst of updates and deletes, also when replayed', async () => {
    const { dependencies, close } = await sinkTestContext('cache', { metadataDb: meta });
    const sink = redisSinkKind.create(redisSinkSchema.parse({ name: 'cache', kind: 'redis', url, keyPrefix: prefix }), dependencies);
    await sink.start();
    const current = new Map<string, Document>();
    const events: ChangeEvent[] = [];
    const ids: ObjectId[] = [];
    let n = 0;
    const event = (op: ChangeEvent['op'], id: ObjectId, doc?: Document): ChangeEvent => ({
      v: 1,
      id: `e${++n}`,
      op,
      ns: { db: 'shop', coll: 'users' },
      documentKey: ejson({ _id: id }),
      ...(doc ? { fullDocument: ejson(doc) } : {}),
      clusterTime: { t: 1, i: n },
      source: { name: 's', cluster: 'c' },
    });
    for (let i = 0; i < 300; i++) {
      const id = new ObjectId();
      const doc = { _id: id, name: `u${i}`, visits: new Int32(0), big: Long.fromString('9007199254740993') };
      ids.push(id);
      current.set(id.toHexString(), doc);
      events.push(event('insert', id, doc));
    }
    for (let i = 0; i < 2000; i++) {
      const id = ids[(i * 7919) % ids.length] as ObjectId;
      const hex = id.toHexString();
      const existing = current.get(hex);
      if (i % 9 === 0 && existing) {
        current.delete(hex);
        events.push(event('delete', id));
      } else if (existing) {
        const doc = { ...existing, visits: new Int32(i) };
        current.set(hex, doc);
        events.push(event(i % 2 ? 'update' : 'replace', id, doc));
      } else {
        const doc = { _id: id, name: 'back', visits: new Int32(i) };
        current.set(hex, doc);
        events.push(event('insert', id, doc));
      }
    }
    try {
      const all = records(events);
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < all.length; i += 250) await sink.write(all.slice(i, i + 250));
        const keys = (await redis.keys(`${prefix}users:*`)).sort();
        expect(keys).toEqual([...current.keys()].map((hex) => `${prefix}users:${hex}`).sort());
        const values = keys.length > 0 ? await redis.mget(...keys) : [];
        keys.forEach((key, i) => {
          const doc = current.get(key.slice(`${prefix}users:`.length)) as Document;
          expect(JSON.parse(values[i] ?? 'null')).toEqual(JSON.parse(EJSON.stringify(doc, { relaxed: true })));
        });
      }
      expect(current.size).toBeGreaterThan(100);
      expect(current.size).toBeLessThan(300);
    } finally {
      await sink.stop();
      await close();
    }
  });

  it('runs function actions in order and names the record Redis refused', async () => {
    const { dependencies, close } = await sinkTestContext('cache-actions', { metadataDb: meta });
    const sink = redisSinkKind.create(redisSinkSchema.parse({ name: 'cache', kind: 'redis', url, keyPrefix: prefix }), dependencies);
    await sink.start();
    const base: ChangeEvent = {
      v: 1,
      id: 'a1',
      op: 'insert',
      ns: { db: 'shop', coll: 'orders' },
      documentKey: { _id: 1 },
      fullDocument: { _id: 1 },
      source: { name: 's', cluster: 'c' },
    };
    const act = (action: Record<string, unknown>): SinkRecord => ({
      event: base,
      action: { sink: 'cache', ...action } as SinkRecord['action'] & object,
      origin,
    });
    try {
      const error = await sink
        .write([
          act({ op: 'set', key: 'order:1', value: { total: { $numberDecimal: '9.99' } }, ttlSeconds: 60 }),
          act({ op: 'hset', key: 'stats', fields: { orders: 1, last: 'order:1' } }),
          act({ op: 'hset', key: 'order:1', fields: { x: 1 } }),
          act({ op: 'expire', key: 'stats', ttlSeconds: 30 }),
          act({ op: 'set', key: 'gone', value: 1 }),
          act({ op: 'del', key: 'gone' }),
          act({ op: 'sett', key: 'x' }),
        ])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SinkWriteError);
      expect((error as SinkWriteError).rejected).toEqual([
        { index: 6, reason: expect.stringContaining('unknown op "sett"') },
        { index: 2, reason: expect.stringContaining('WRONGTYPE') },
      ]);
      expect(JSON.parse((await redis.get(`${prefix}order:1`)) ?? 'null')).toEqual({ total: { $numberDecimal: '9.99' } });
      expect(await redis.ttl(`${prefix}order:1`)).toBeGreaterThan(0);
      expect(await redis.hgetall(`${prefix}stats`)).toEqual({ orders: '1', last: 'order:1' });
      expect(await redis.ttl(`${prefix}stats`)).toBeGreaterThan(0);
      expect(await redis.exists(`${prefix}gone`)).toBe(0);
    } finally {
      await sink.stop();
      await close();
    }
  });

  it('fails retriably while Redis is down and says so in health', async () => {
    const { dependencies, close } = await sinkTestContext('cache-down', { metadataDb: meta });
    const sink = redisSinkKind.create(redisSinkSchema.parse({ name: 'cache', kind: 'redis', url: 'redis://127.0.0.1:1', timeoutMs: 300 }), dependencies);
    await sink.start();
    try {
      const error = await sink
        .write(records([{ v: 1, id: 'd', op: 'delete', ns: { db: 'shop', coll: 'users' }, documentKey: { _id: 1 }, source: { name: 's', cluster: 'c' } }]))
        .catch((e: unknown) => e);
      expect(isRetriable(error)).toBe(true);
      expect(dependencies.context.health.report().components['sink:cache-down:cache']).toMatchObject({
        ok: false,
        detail: expect.stringContaining('redis sink "cache"'),
      });
    } finally {
      await sink.stop();
      await close();
    }
  });
});
