import { ValidationError, ChangeflowError } from '../core/errors.js';
import type { IncomingRecord, KafkaTransport, OutgoingRecord } from '../core/kafka/index.js';
import type { TopicNames } from '../core/topics.js';
import { DLQ_HEADERS, REPLAYED_HEADER, stripDeadLetterHeaders } from './dead-letters.js';
import { drainToEnds } from './topic-drain.js';

export interface ReplayOptions {
  kafka: KafkaTransport;
  topics: TopicNames;
  /** Trigger key (its name for file triggers). */
  trigger: string;
  /** Where a dead letter goes when it does not name its original topic: the trigger's source topic. */
  fallbackTopic?: string;
  /** Give up if the dead letters present at the start are not all replayed within this time. Default 60 s. */
  timeoutMs?: number;
  /** Why a dead letter may not go back to `topic` (the caller's rules); the replay stops there, having sent nothing of that batch. */
  refuseTopic?: (topic: string) => string | undefined;
}

export interface ReplayResult {
  replayed: number;
  /** Records replayed per target topic. */
  byTopic: Record<string, number>;
  deadLetterTopic: string;
}

/** Consumer group that remembers which dead letters were replayed, so each is replayed once. */
export function replayGroupOf(topics: TopicNames, trigger: string): string {
  return `${topics.prefix}.__dlq-replay.${trigger}`;
}

/** A dead letter as sent back to the topic it came from: its original key, value and headers, plus `cf-replayed-from`. */
export function replayedRecord(letter: IncomingRecord, deadLetterTopic: string, fallbackTopic?: string): OutgoingRecord {
  const topic = letter.headers[DLQ_HEADERS.topic] ?? fallbackTopic;
  if (!topic)
    throw new ValidationError(`dead letter ${deadLetterTopic}:${letter.partition}:${letter.offset} names no original topic; pass the trigger's source topic`, {
      code: 'DLQ_NO_TARGET',
    });
  return {
    topic,
    key: letter.key,
    value: letter.value,
    headers: { ...stripDeadLetterHeaders(letter.headers), [REPLAYED_HEADER]: `${deadLetterTopic}:${letter.partition}:${letter.offset}` },
  };
}

/**
 * Re-injects a trigger's dead letters into the topics they came from (their original key, value and
 * headers, plus `cf-replayed-from`), so the trigger's consumer meets them again. Replays those present
 * when it starts, each once: progress is committed as group `<prefix>.__dlq-replay.<trigger>`, so
 * running it again replays only dead letters written since.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayResult> {
  const deadLetterTopic = options.topics.deadLetter(options.trigger);
  const groupId = replayGroupOf(options.topics, options.trigger);
  const admin = options.kafka.admin();
  await admin.connect();
  const end = new Map<number, number>();
  try {
    if (!(await admin.listTopics()).includes(deadLetterTopic)) {
      throw new ValidationError(`trigger "${options.trigger}" has no dead-letter topic (${deadLetterTopic}); nothing to replay`, { code: 'DLQ_NOT_FOUND' });
    }
    const offsets = await admin.topicOffsets(deadLetterTopic);
    const committed = new Map((await admin.groupOffsets(groupId, deadLetterTopic)).map((o) => [o.partition, Number(o.offset)]));
    for (const p of offsets) {
      const from = Math.max(Number(p.low), committed.get(p.partition) ?? -1);
      if (Number(p.high) > from) end.set(p.partition, Number(p.high));
    }
  } finally {
    await admin.disconnect();
  }
  const result: ReplayResult = { replayed: 0, byTopic: {}, deadLetterTopic };
  if (end.size === 0) return result;

  const producer = options.kafka.producer();
  const consumer = options.kafka.consumer({ groupId, fromBeginning: true });
  await producer.connect();
  await consumer.connect();
  try {
    await consumer.subscribe([deadLetterTopic]);
    await drainToEnds(
      consumer,
      end,
      async (partition, records) => {
        // Dead letters written after the replay started (a replayed event failing again) wait for the next replay.
        const out: OutgoingRecord[] = records.map((r) => replayedRecord(r, deadLetterTopic, options.fallbackTopic));
        const refusal = out.map((r) => options.refuseTopic?.(r.topic)).find((why) => why !== undefined);
        if (refusal !== undefined) throw new ValidationError(refusal, { code: 'DLQ_TARGET_REFUSED' });
        await producer.send(out);
        const last = records[records.length - 1] as IncomingRecord;
        await consumer.commit([{ topic: deadLetterTopic, partition, offset: String(Number(last.offset) + 1) }]);
        for (const r of out) result.byTopic[r.topic] = (result.byTopic[r.topic] ?? 0) + 1;
        result.replayed += out.length;
      },
      {
        ms: options.timeoutMs ?? 60_000,
        error: () =>
          new ChangeflowError(
            `dead-letter replay of "${options.trigger}" did not finish within ${options.timeoutMs ?? 60_000} ms (${result.replayed} replayed so far)`,
          ),
      },
    );
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
  }
  return result;
}

/** How many dead letters a trigger has, and how many are not replayed yet. */
export async function deadLetterStatus(
  options: Pick<ReplayOptions, 'kafka' | 'topics' | 'trigger'>,
): Promise<{ deadLetterTopic: string; exists: boolean; total: number; pending: number }> {
  const deadLetterTopic = options.topics.deadLetter(options.trigger);
  const admin = options.kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(deadLetterTopic)) return { deadLetterTopic, exists: false, total: 0, pending: 0 };
    const offsets = await admin.topicOffsets(deadLetterTopic);
    const committed = new Map(
      (await admin.groupOffsets(replayGroupOf(options.topics, options.trigger), deadLetterTopic)).map((o) => [o.partition, Number(o.offset)]),
    );
    let total = 0;
    let pending = 0;
    for (const p of offsets) {
      total += Number(p.high) - Number(p.low);
      pending += Number(p.high) - Math.max(Number(p.low), committed.get(p.partition) ?? -1);
    }
    return { deadLetterTopic, exists: true, total, pending };
  } finally {
    await admin.disconnect();
  }
}
