import { randomBytes } from 'node:crypto';
import type { ChangeEvent } from '../schemas/envelope.js';
import { kafkaSinkKind, kafkaSinkSchema } from '../sinks/kafka.js';
import { SinkWriteError, type SinkRecord } from '../sinks/sink.js';
import { isRetriable } from '../core/errors.js';
import type { IncomingRecord } from '../core/kafka/transport.js';
import { origin, records, sinkTestContext } from './support/sink.js';
import { eventually, uniqueName } from './support/infra.js';

describe('kafka sink against the local broker', () => {
  it('republishes events and publishes actions, resolving only once the broker has them', async () => {
    const { dependencies, close } = await sinkTestContext('republish', { metadataDb: uniqueName('kafka-meta') });
    const kafka = dependencies.context.kafka;
    const topic = uniqueName('sink-out');
    const other = uniqueName('sink-other');
    const sink = kafkaSinkKind.create(kafkaSinkSchema.parse({ name: 'out', kind: 'kafka', topic, headers: { team: 'billing' } }), dependencies);
    await sink.start();
    const admin = kafka.admin();
    await admin.connect();
    const consumer = kafka.consumer({ groupId: uniqueName('g') });
    try {
      const events: ChangeEvent[] = Array.from({ length: 50 }, (_, i) => ({
        v: 1,
        id: `k${i}`,
        op: 'insert',
        ns: { db: 'shop', coll: 'orders' },
        documentKey: { _id: { $numberInt: String(i % 10) } },
        fullDocument: { _id: { $numberInt: String(i % 10) }, i },
        source: { name: 's', cluster: 'c' },
      }));
      await sink.write(records(events));
      const high = async (t: string): Promise<number> => (await admin.topicOffsets(t)).reduce((sum, p) => sum + Number(p.high), 0);
      // write() resolved: the broker has acknowledged all 50 already, no waiting needed.
      expect(await high(topic)).toBe(50);

      const action = (a: Record<string, unknown>): SinkRecord => ({ event: events[0] as ChangeEvent, action: { sink: 'out', op: 'publish', ...a }, origin });
      const error = await sink
        .write([
          action({ topic: other, key: 'customer-7', value: { total: 3 }, headers: { kind: 'summary' } }),
          action({ value: 'plain text' }),
          action({ op: 'send', value: 1 }),
        ])
        .catch((e: unknown) => e);
      expect((error as SinkWriteError).rejected).toEqual([{ index: 2, reason: expect.stringContaining('op "publish"') }]);
      expect(await high(other)).toBe(1);
      expect(await high(topic)).toBe(51);

      await consumer.connect();
      await consumer.subscribe([topic, other]);
      const seen: IncomingRecord[] = [];
      void consumer.run(async (batch) => {
        seen.push(...batch.records);
      });
      await eventually(() => seen.length === 52, 'all published records consumed');
      const republished = seen.filter((r) => r.topic === topic && r.headers['id'] === 'k3');
      expect(republished).toHaveLength(1);
      expect(republished[0]?.key?.toString()).toBe('{"_id":{"$numberInt":"3"}}');
      expect(republished[0]?.headers).toMatchObject({ op: 'insert', ns: 'shop.orders', team: 'billing' });
      expect(JSON.parse(republished[0]?.value?.toString() ?? '{}')).toEqual(events[3]);
      const summary = seen.find((r) => r.topic === other);
      expect(summary?.key?.toString()).toBe('customer-7');
      expect(summary?.headers).toMatchObject({ kind: 'summary', team: 'billing' });
      expect(JSON.parse(summary?.value?.toString() ?? '{}')).toEqual({ total: 3 });
      expect(seen.some((r) => r.value?.toString() === 'plain text')).toBe(true);
    } finally {
      await consumer.disconnect();
      await admin.deleteTopics([topic, other]).catch(() => undefined);
      await admin.disconnect();
      await sink.stop();
      await close();
    }
  });

  // A record over the broker's limit (message.max.bytes: 10 MiB on the test broker, 1 MiB by default) is refused for good: retrying it would hold
  // the partition forever, so the batch must fail as not retriable and the processor dead-letter it. On
  // librdkafka the refusal comes as numeric code 10 (MSG_SIZE_TOO_LARGE), on kafkajs as the broker's type. Random
  // bytes, because a compressed batch of one repeated letter would fit.
  it("fails a record over the broker's size limit as not retriable, on either client", async () => {
    const { dependencies, close } = await sinkTestContext('too-large', { metadataDb: uniqueName('kafka-meta') });
    const topic = uniqueName('sink-big');
    const sink = kafkaSinkKind.create(kafkaSinkSchema.parse({ name: 'out', kind: 'kafka', topic }), dependencies);
    await sink.start();
    try {
      const event: ChangeEvent = {
        v: 1,
        id: 'big',
        op: 'insert',
        ns: { db: 'shop', coll: 'orders' },
        documentKey: { _id: 'big' },
        source: { name: 's', cluster: 'c' },
      };
      const huge: SinkRecord = { event, action: { sink: 'out', op: 'publish', value: randomBytes(8_500_000).toString('base64') }, origin };
      const error = await sink.write([huge]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(isRetriable(error)).toBe(false);
      expect((error as Error).message).toMatch(/kafka sink "out": the broker refused the batch/);
    } finally {
      const admin = dependencies.context.kafka.admin();
      await admin.connect();
      await admin.deleteTopics([topic]).catch(() => undefined);
      await admin.disconnect();
      await sink.stop();
      await close();
    }
  });
});
