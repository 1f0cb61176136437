import type { Admin, IncomingRecord, KafkaTransport } from '../../core/kafka/index.js';
import type { ChangeEvent } from '../../schemas/envelope.js';
import { changeRecord } from '../../testing/processors/events.js';

/** Produces change events in envelope format, in order, in chunks. */
export async function produceEvents(kafka: KafkaTransport, topic: string, events: readonly ChangeEvent[], chunk = 5_000): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += chunk) await producer.send(events.slice(i, i + chunk).map((e) => changeRecord(topic, e)));
  } finally {
    await producer.disconnect();
  }
}

/** Sum of a group's committed offsets on a topic (partitions with none count 0). */
export async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const offsets = await admin.groupOffsets(groupId, topic);
  return offsets.reduce((sum, o) => sum + Math.max(0, Number(o.offset)), 0);
}

/** Reads `count` records of one or more topics from the beginning (with a throwaway group). */
export async function readTopic(kafka: KafkaTransport, topics: string | string[], count: number, timeoutMs = 30_000): Promise<IncomingRecord[]> {
  const list = Array.isArray(topics) ? topics : [topics];
  const topic = list.join(',');
  const consumer = kafka.consumer({ groupId: `read-${Date.now()}-${Math.random().toString(36).slice(2)}`, fromBeginning: true });
  await consumer.connect();
  const seen: IncomingRecord[] = [];
  try {
    await consumer.subscribe(list);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${count} records of ${topic} in ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run(async (batch) => {
          seen.push(...batch.records);
          if (seen.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}
