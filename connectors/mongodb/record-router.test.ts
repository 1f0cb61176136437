import { Registry } from 'prom-client';
import type { Admin, OutgoingRecord } from '../../core/kafka/transport.js';
import { silentLogger } from '../../core/logger.js';
import { TopicNames } from '../../core/topics.js';
import type { ChangeEvent } from '../../schemas/envelope.js';
import { RecordRouter } from './record-router.js';
import { sourceConfigSchema } from './source-config.js';
import { SourceFatalError } from './source-errors.js';
import { sourceMetrics } from './source-metrics.js';
import { fromEncoded } from './source-change.js';

const topics = new TopicNames('cf');

function change(op: ChangeEvent['op'], coll: string | undefined, fullDocument?: Record<string, unknown>) {
  const event: ChangeEvent = {
    v: 1,
    id: `${op}-1`,
    op,
    ns: coll === undefined ? { db: 'shop' } : { db: 'shop', coll },
    ...(fullDocument ? { documentKey: { _id: 1 }, fullDocument } : {}),
    source: { name: 'orders', cluster: 'rs0' },
  };
  return fromEncoded({ event, key: fullDocument ? '{"_id":1}' : null });
}

function router(overrides: Record<string, unknown> = {}) {
  const config = sourceConfigSchema.parse({ name: 'orders', uri: 'mongodb://localhost', watch: { db: 'shop' }, ...overrides });
  const created: { topic: string; partitions: number }[] = [];
  const admin = { ensureTopics: (specs: { topic: string; partitions: number }[]) => Promise.resolve(void created.push(...specs)) } as unknown as Admin;
  return { router: new RecordRouter(config, topics, 6, sourceMetrics(new Registry()), silentLogger, undefined), admin, created };
}

describe('RecordRouter', () => {
  it('creates change topics with the configured partitions and DDL topics with one, once each', async () => {
    const { router: r, admin, created } = router();
    const records: OutgoingRecord[] = [];
    r.add(records, change('insert', 'orders', { _id: 1 }));
    r.add(records, change('drop', 'orders'));
    r.add(records, change('insert', 'orders', { _id: 1 }));
    await r.ensureTopics(admin, records);
    await r.ensureTopics(admin, records);
    expect(created).toEqual([
      { topic: 'cf.shop.orders', partitions: 6 },
      { topic: 'cf.shop.__ddl', partitions: 1 },
    ]);
  });

  it('routes an oversized event to the one-partition dead-letter topic, without its documents', async () => {
    const { router: r, admin, created } = router({ maxRecordBytes: 1024, oversized: 'dlq' });
    const records: OutgoingRecord[] = [];
    r.add(records, change('insert', 'orders', { _id: 1, blob: 'x'.repeat(4096) }));
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record?.topic).toBe(topics.deadLetter('source.orders'));
    expect(record?.headers?.['error']).toBe('oversized');
    expect(String(record?.value)).not.toContain('xxxx');
    await r.ensureTopics(admin, records);
    expect(created).toEqual([{ topic: topics.deadLetter('source.orders'), partitions: 1 }]);
  });

  it('fails the source on an oversized event with oversized: fail, naming the fix', () => {
    const { router: r } = router({ maxRecordBytes: 1024, oversized: 'fail' });
    expect(() => r.add([], change('insert', 'orders', { _id: 1, blob: 'x'.repeat(4096) }))).toThrow(SourceFatalError);
    expect(() => r.add([], change('insert', 'orders', { _id: 1, blob: 'x'.repeat(4096) }))).toThrow(/oversized: dlq/);
  });
});
