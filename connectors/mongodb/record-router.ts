import type { Admin, OutgoingRecord } from '../../core/kafka/transport.js';
import type { Logger } from '../../core/logger.js';
import type { TopicNames } from '../../core/topics.js';
import { changeRecords, namespaceText, recordSize, type ValueEncoder } from './change-records.js';
import type { SourceConfig } from './source-config.js';
import type { SourceMetrics } from './source-metrics.js';
import type { SourceChange } from './source-change.js';
import { SourceFatalError } from './source-errors.js';

/** What a topic the source writes to is for: it decides how many partitions the source creates it with. */
type TopicKind = 'change' | 'ordered';

/**
 * Turns changes into Kafka records and knows where each goes: its collection's topic (or the
 * source's template), the database's DDL topic, or, for an event larger than `maxRecordBytes`, the
 * source's dead-letter topic (`oversized: dlq`) or a fatal error (`oversized: fail`). Creates the
 * topics it writes to before their first record: change topics with the configured partitions, DDL
 * and dead-letter topics with one, so their records keep one order.
 */
export class RecordRouter {
  private readonly kinds = new Map<string, TopicKind>();
  private readonly created = new Set<string>();
  private readonly deadLetterTopic: string;

  constructor(
    private readonly config: SourceConfig,
    private readonly topics: TopicNames,
    private readonly partitions: number,
    private readonly metrics: SourceMetrics,
    private readonly log: Logger,
    private readonly valueEncoder: ValueEncoder | undefined,
  ) {
    this.deadLetterTopic = topics.deadLetter(`source.${config.name}`);
    this.kinds.set(this.deadLetterTopic, 'ordered');
  }

  /** Appends the records of one change to `records`; returns their bytes (the event is serialized once, here). */
  add(records: OutgoingRecord[], change: SourceChange): number {
    let bytes = 0;
    for (const record of changeRecords(change, this.topics, this.config.topic, this.valueEncoder)) {
      if (!this.kinds.has(record.topic)) this.kinds.set(record.topic, record.topic === this.topics.ddl(change.ns.db) ? 'ordered' : 'change');
      const size = recordSize(record);
      bytes += size;
      records.push(size <= this.config.maxRecordBytes ? record : this.oversized(record, change, size));
    }
    return bytes;
  }

  /** Creates the topics of `records` this source has not written to yet. */
  async ensureTopics(admin: Admin, records: readonly OutgoingRecord[]): Promise<void> {
    const missing = [...new Set(records.map((r) => r.topic))].filter((t) => !this.created.has(t));
    if (missing.length === 0) return;
    await admin.ensureTopics(missing.map((topic) => ({ topic, partitions: this.kinds.get(topic) === 'change' ? this.partitions : 1 })));
    for (const topic of missing) this.created.add(topic);
  }

  private oversized(record: OutgoingRecord, change: SourceChange, size: number): OutgoingRecord {
    const { name, maxRecordBytes, oversized } = this.config;
    const event = change.event();
    const what = `change ${event.id} (${event.op}) of document ${change.key ?? '(no key)'} in ${namespaceText(event.ns)} is ${size.toLocaleString('en-US')} bytes, more than maxRecordBytes (${maxRecordBytes.toLocaleString('en-US')})`;
    if (oversized === 'fail')
      throw new SourceFatalError(
        `source "${name}": ${what}. Set oversized: dlq to route such events to ${this.deadLetterTopic}, or raise maxRecordBytes (and the broker's message.max.bytes)`,
      );
    this.metrics.dlq.inc({ source: name });
    this.log.warn({ id: event.id, documentKey: change.key, size, topic: this.deadLetterTopic }, `oversized event routed to the dead-letter topic: ${what}`);
    // The dead letter names the change; the documents that made it too large stay out (JSON drops undefined).
    const summary = { ...event, fullDocument: undefined, fullDocumentBeforeChange: undefined, updateDescription: undefined };
    return {
      topic: this.deadLetterTopic,
      key: record.key,
      value: JSON.stringify({ error: `oversized: ${what}`, size, topic: record.topic, event: summary }),
      headers: { ...(record.headers ?? {}), error: 'oversized' },
    };
  }
}
