import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import type { IncomingRecord } from '../core/kafka/transport.js';
import { testInfra, uniqueName } from './support/infra.js';

describe('Kafka transport against the real local broker', () => {
  const transport = createKafkajsTransport({ brokers: [testInfra().kafka] });
  const admin = transport.admin();

  beforeAll(() => admin.connect());
  afterAll(() => admin.disconnect());

  it('produces with acks, consumes in per-key order, and commits only what it is told to', async () => {
    const topic = uniqueName('t-roundtrip');
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const producer = transport.producer();
    await producer.connect();
    const records = Array.from({ length: 300 }, (_, i) => ({ topic, key: `doc-${i % 10}`, value: JSON.stringify({ seq: i }), headers: { op: 'insert' } }));
    const acks = await producer.send(records);
    await producer.disconnect();
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((a) => a.topic === topic && Number(a.offset) >= 0)).toBe(true);

    const groupId = uniqueName('g');
    const consumer = transport.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe([topic]);
    const seen: IncomingRecord[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run(async (batch) => {
          seen.push(...batch.records);
          const last = batch.records[batch.records.length - 1];
          if (last) await consumer.commit([{ topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
          if (seen.length >= records.length) resolve();
        })
        .catch(reject);
    });
    await consumer.disconnect();

    expect(seen).toHaveLength(300);
    expect(seen[0]?.headers['op']).toBe('insert');
    // Per key, sequence numbers arrive in the order they were produced.
    const byKey = new Map<string, number[]>();
    for (const r of seen) {
      const key = r.key?.toString() ?? '';
      byKey.set(key, [...(byKey.get(key) ?? []), (JSON.parse(r.value?.toString() ?? '{}') as { seq: number }).seq]);
    }
    for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    const committed = await admin.groupOffsets(groupId, topic);
    const total = committed.reduce((sum, p) => sum + Number(p.offset), 0);
    expect(total).toBe(300);
  });

  it('creates compacted topics and leaves existing ones alone', async () => {
    const topic = uniqueName('t-compact');
    await admin.ensureTopics([{ topic, partitions: 1, config: { 'cleanup.policy': 'compact' } }]);
    await admin.ensureTopics([{ topic, partitions: 5 }]);
    const offsets = await admin.topicOffsets(topic);
    expect(offsets).toHaveLength(1);
    expect(await admin.listTopics()).toContain(topic);
  });
});
