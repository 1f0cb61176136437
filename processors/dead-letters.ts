import type { Headers, IncomingRecord, OutgoingRecord } from '../core/kafka/index.js';

/** Headers a dead letter carries besides the original record's own headers. */
export const DLQ_HEADERS = {
  error: 'cf-dlq-error',
  /** decode | function:<kind> | sink | sink-rejected */
  errorKind: 'cf-dlq-error-kind',
  /** How many times the event was run before it was set aside. */
  attempts: 'cf-dlq-attempts',
  topic: 'cf-dlq-topic',
  partition: 'cf-dlq-partition',
  offset: 'cf-dlq-offset',
  trigger: 'cf-dlq-trigger',
  /** The sink that refused the record (sink-rejected only). */
  sink: 'cf-dlq-sink',
  at: 'cf-dlq-at',
} as const;

/** Added to a replayed record so a second failure can be told apart from the first. */
export const REPLAYED_HEADER = 'cf-replayed-from';

/** A record the trigger could not handle, and why. */
export interface DeadLetter {
  record: IncomingRecord;
  error: string;
  errorKind: string;
  attempts: number;
  sink?: string;
}

const MAX_ERROR_BYTES = 4096;

function truncate(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  return `${Buffer.from(text)
    .subarray(0, max)
    .toString()
    .replace(/\uFFFD$/, '')}…`;
}

/** The dead letter as written to `<prefix>.__dlq.<trigger>`: the original key and value, untouched. */
export function deadLetterRecord(topic: string, trigger: string, letter: DeadLetter, now = new Date()): OutgoingRecord {
  const { record } = letter;
  const headers: Headers = { ...stripDeadLetterHeaders(record.headers) };
  headers[DLQ_HEADERS.error] = truncate(letter.error, MAX_ERROR_BYTES);
  headers[DLQ_HEADERS.errorKind] = letter.errorKind;
  headers[DLQ_HEADERS.attempts] = String(letter.attempts);
  headers[DLQ_HEADERS.topic] = record.topic;
  headers[DLQ_HEADERS.partition] = String(record.partition);
  headers[DLQ_HEADERS.offset] = record.offset;
  headers[DLQ_HEADERS.trigger] = trigger;
  headers[DLQ_HEADERS.at] = now.toISOString();
  if (letter.sink !== undefined) headers[DLQ_HEADERS.sink] = letter.sink;
  return { topic, key: record.key, value: record.value, headers };
}

export function stripDeadLetterHeaders(headers: Headers): Headers {
  const dlq = new Set<string>(Object.values(DLQ_HEADERS));
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !dlq.has(name)));
}

/** Where a dead letter came from, read back from its headers. */
export interface DeadLetterInfo {
  error: string;
  errorKind: string;
  attempts: number;
  topic: string | undefined;
  partition: number | undefined;
  offset: string | undefined;
  trigger: string | undefined;
  sink: string | undefined;
}

export function readDeadLetterHeaders(headers: Headers): DeadLetterInfo {
  const partition = headers[DLQ_HEADERS.partition];
  return {
    error: headers[DLQ_HEADERS.error] ?? '',
    errorKind: headers[DLQ_HEADERS.errorKind] ?? '',
    attempts: Number(headers[DLQ_HEADERS.attempts] ?? '0'),
    topic: headers[DLQ_HEADERS.topic],
    partition: partition === undefined ? undefined : Number(partition),
    offset: headers[DLQ_HEADERS.offset],
    trigger: headers[DLQ_HEADERS.trigger],
    sink: headers[DLQ_HEADERS.sink],
  };
}
