import { randomBytes } from 'node:crypto';
import { ChangeflowError } from '../../core/errors.js';
import type { IncomingRecord, KafkaTransport } from '../../core/kafka/index.js';
import { drainToEnds } from '../../processors/topic-drain.js';

const READ_TIMEOUT_MS = 20_000;
const DELETE_ATTEMPTS = 5;

/**
 * Reads what `topic` holds when the call begins: the last `tail` records of each partition (all of
 * them without `tail`). The transport reads through consumer groups only, so a throwaway group is
 * used that commits nothing and is deleted once its consumer left: a browse leaves no group behind.
 */
export async function readTopic(kafka: KafkaTransport, topic: string, options: { tail?: number; timeoutMs?: number } = {}): Promise<IncomingRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    const starts = new Map<number, number>();
    const ends = new Map<number, number>();
    for (const p of await admin.topicOffsets(topic)) {
      const low = Number(p.low);
      const high = Number(p.high);
      if (high <= low) continue;
      ends.set(p.partition, high);
      starts.set(p.partition, options.tail === undefined ? low : Math.max(low, high - options.tail));
    }
    if (ends.size === 0) return [];
    const groupId = `${topic}.console-browse.${randomBytes(4).toString('hex')}`;
    try {
      return await readRange(kafka, topic, groupId, starts, ends, options.timeoutMs ?? READ_TIMEOUT_MS);
    } finally {
      await deleteGroup(admin, groupId);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function readRange(
  kafka: KafkaTransport,
  topic: string,
  groupId: string,
  starts: ReadonlyMap<number, number>,
  ends: ReadonlyMap<number, number>,
  timeoutMs: number,
): Promise<IncomingRecord[]> {
  const seen = new TailCollector(starts);
  const sought = new Set<number>();
  const consumer = kafka.consumer({ groupId, fromBeginning: true });
  await consumer.connect();
  try {
    await consumer.subscribe([topic]);
    await drainToEnds(
      consumer,
      ends,
      async (partition, records) => {
        const start = starts.get(partition) ?? 0;
        // Jump to the tail once instead of reading a long partition from its start; the filter below keeps the result right either way.
        const first = records[0];
        if (first && Number(first.offset) < start && !sought.has(partition)) {
          sought.add(partition);
          consumer.seek({ topic, partition, offset: String(start) });
        }
        seen.add(partition, records);
      },
      { ms: timeoutMs, error: () => new ChangeflowError(`reading ${topic} did not finish within ${timeoutMs} ms`, { retriable: true }) },
    );
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return seen.records;
}

/**
 * The records of each partition from its start offset on, each once. A seek to the tail, or a
 * rebalance, delivers again what was already fetched (the client's next fetch starts at the seek
 * target, behind the batch just handed over): such repeats are dropped by offset.
 */
export class TailCollector {
  readonly records: IncomingRecord[] = [];
  private readonly next = new Map<number, number>();

  constructor(private readonly starts: ReadonlyMap<number, number>) {}

  add(partition: number, batch: readonly IncomingRecord[]): void {
    for (const record of batch) {
      const offset = Number(record.offset);
      if (offset < (this.next.get(partition) ?? this.starts.get(partition) ?? 0)) continue;
      this.records.push(record);
      this.next.set(partition, offset + 1);
    }
  }
}

/** The group's last member may still be leaving (NON_EMPTY_GROUP) for a moment after disconnect. */
async function deleteGroup(admin: ReturnType<KafkaTransport['admin']>, groupId: string): Promise<void> {
  for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt++) {
    try {
      await admin.deleteGroups([groupId]);
      return;
    } catch (error) {
      // Never joined (the read failed before): nothing to delete.
      if (/does not exist|not found|GROUP_ID_NOT_FOUND/i.test(String(error))) return;
      if (attempt === DELETE_ATTEMPTS) return;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
