import type { IncomingRecord, KafkaTransport } from '../../core/kafka/index.js';
import type { TopicNames } from '../../core/topics.js';
import { readDeadLetterHeaders, REPLAYED_HEADER } from '../../processors/dead-letters.js';
import { replayGroupOf } from '../../processors/dlq-replay.js';
import { readTopic } from './topic-reader.js';

/** One dead letter as the console shows it. The event is data: the console renders it as text only. */
export interface DeadLetterView {
  partition: number;
  offset: string;
  errorKind: string;
  error: string;
  attempts: number;
  origin: { topic: string | null; partition: number | null; offset: string | null };
  /** `<dlq>:<partition>:<offset>` of the earlier dead letter this one is a second failure of, when it was redriven before. */
  replayedFrom: string | null;
  /** Whether it was sent back: "redrive all" passed it (the replay group's committed offset), or the console redrove it (RedriveLog). */
  redriven: boolean;
  at: string | null;
  key: string | null;
  /** The record's value parsed as JSON when it is JSON, else its UTF-8 text. */
  event: unknown;
}

export interface DeadLetterPage {
  deadLetterTopic: string;
  /** Every letter the topic holds. */
  total: number;
  /** Those `keep` kept (all of them without it); `letters` holds the newest `limit` of these. */
  matching: number;
  letters: DeadLetterView[];
}

const READ_TIMEOUT_MS = 20_000;
/** The newest letters a list shows. */
export const LIST_LIMIT = 200;

function eventOf(value: Buffer | null): unknown {
  if (value === null) return null;
  const text = value.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function viewOf(record: IncomingRecord, replayedUpTo: Map<number, number>, redriven: ReadonlySet<string>): DeadLetterView {
  const info = readDeadLetterHeaders(record.headers);
  return {
    partition: record.partition,
    offset: record.offset,
    errorKind: info.errorKind,
    error: info.error,
    attempts: info.attempts,
    origin: { topic: info.topic ?? null, partition: info.partition ?? null, offset: info.offset ?? null },
    replayedFrom: record.headers[REPLAYED_HEADER] ?? null,
    redriven: Number(record.offset) < (replayedUpTo.get(record.partition) ?? -1) || redriven.has(letterAt(record.partition, record.offset)),
    at: record.headers['cf-dlq-at'] ?? null,
    key: record.key === null ? null : record.key.toString('utf8'),
    event: eventOf(record.value),
  };
}

/**
 * Reads a trigger's dead-letter topic from its start up to the end it had when the read began
 * (of the letters `keep` keeps, at most `limit`, the newest), through readTopic: its throwaway group
 * commits nothing and is deleted after the read.
 */
export async function readDeadLetters(
  kafka: KafkaTransport,
  topics: TopicNames,
  triggerKey: string,
  options: { limit?: number; keep?: (letter: DeadLetterView) => boolean; redriven?: ReadonlySet<string> } = {},
): Promise<DeadLetterPage> {
  const deadLetterTopic = topics.deadLetter(triggerKey);
  const admin = kafka.admin();
  await admin.connect();
  const end = new Map<number, number>();
  let total = 0;
  let replayedUpTo = new Map<number, number>();
  try {
    if (!(await admin.listTopics()).includes(deadLetterTopic)) return { deadLetterTopic, total: 0, matching: 0, letters: [] };
    for (const p of await admin.topicOffsets(deadLetterTopic)) {
      total += Number(p.high) - Number(p.low);
      if (Number(p.high) > Number(p.low)) end.set(p.partition, Number(p.high));
    }
    replayedUpTo = new Map((await admin.groupOffsets(replayGroupOf(topics, triggerKey), deadLetterTopic)).map((o) => [o.partition, Number(o.offset)]));
  } finally {
    await admin.disconnect();
  }
  const records = end.size === 0 ? [] : await readUntil(kafka, deadLetterTopic, end);
  const kept = records
    .sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || Number(a.offset) - Number(b.offset))
    .map((r) => viewOf(r, replayedUpTo, options.redriven ?? new Set()))
    .filter((letter) => options.keep?.(letter) ?? true);
  return { deadLetterTopic, total, matching: kept.length, letters: kept.slice(-(options.limit ?? LIST_LIMIT)) };
}

/** `<partition>:<offset>`, how readDeadLettersAt keys what it found. */
export function letterAt(partition: number, offset: string): string {
  return `${partition}:${offset}`;
}

/** The dead letters at the `wanted` partitions and offsets that the topic holds, by `letterAt`: one read for all of them. */
export async function readDeadLettersAt(
  kafka: KafkaTransport,
  topics: TopicNames,
  triggerKey: string,
  wanted: readonly { partition: number; offset: string }[],
): Promise<Map<string, IncomingRecord>> {
  const keys = new Set(wanted.map((w) => letterAt(w.partition, w.offset)));
  const found = new Map<string, IncomingRecord>();
  for (const record of await readTopic(kafka, topics.deadLetter(triggerKey), { timeoutMs: READ_TIMEOUT_MS })) {
    const key = letterAt(record.partition, record.offset);
    if (keys.has(key)) found.set(key, record);
  }
  return found;
}

/** What `topic` held up to `end` (per partition), read with no group left behind (readTopic). */
async function readUntil(kafka: KafkaTransport, topic: string, end: Map<number, number>): Promise<IncomingRecord[]> {
  const records = await readTopic(kafka, topic, { timeoutMs: READ_TIMEOUT_MS });
  return records.filter((r) => Number(r.offset) < (end.get(r.partition) ?? -1));
}
