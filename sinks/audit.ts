import { MongoBulkWriteError, MongoError } from 'mongodb';
import { z } from 'zod';
import { UnavailableError, errorMessage } from '../core/errors.js';
import type { Producer } from '../core/kafka/transport.js';
import { changeOperations, type ChangeEvent } from '../schemas/envelope.js';
import { auditCollections, ensureAuditIndexes, GENESIS_HASH, recordHash, type AuditRecord } from './audit-chain.js';
import { SinkWriteError, type Sink, type SinkDependencies, type SinkKind, type SinkRecord } from './sink.js';
import { isTransientTargetError, targetRefused } from './mongo-errors.js';
import { sinkEntrySchema } from './sink-config.js';
import { SinkStatus } from './sink-status.js';
import { InvalidValueError } from '../schemas/value-errors.js';
import { canonicalText, toBson } from '../schemas/values.js';

export const auditSinkSchema = sinkEntrySchema('audit', {
  operations: z
    .array(z.enum(changeOperations))
    .min(1)
    .default(['delete', 'drop', 'dropDatabase', 'rename'])
    .meta({ description: 'Which change operations are recorded (function actions are always recorded).', example: ['delete', 'update', 'drop'] }),
  collection: z.string().min(1).default('audit').meta({
    description: "Collection in the metadata database (`mongodb.db`) holding the records; `<collection>_heads` keeps each stream's last sequence number.",
  }),
  publish: z.boolean().default(true).meta({ description: 'Also publish every record to the `<prefix>.audit` topic (key: stream).' }),
});
export type AuditSinkConfig = z.output<typeof auditSinkSchema>;

/** A function may record anything it decides is worth auditing, with who and what. */
export const auditActionSchema = z.strictObject({ sink: z.string(), op: z.literal('record'), who: z.unknown().optional(), details: z.unknown().optional() });

interface Entry {
  index: number;
  content: Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'>;
}

/** Operations whose looked-up document is worth keeping when the event carries no delta. */
const writesDocument = new Set<ChangeEvent['op']>(['insert', 'update', 'replace']);

function occurredAt(event: ChangeEvent): string {
  if (event.wallTime) return event.wallTime;
  if (event.clusterTime) return new Date(event.clusterTime.t * 1000).toISOString();
  return new Date().toISOString();
}

class AuditSink implements Sink {
  readonly kind = 'audit';
  readonly name: string;
  private readonly status: SinkStatus;
  private producer: Producer | undefined;

  constructor(
    private readonly config: AuditSinkConfig,
    private readonly dependencies: SinkDependencies,
  ) {
    this.name = config.name;
    this.status = new SinkStatus(dependencies, this.kind, this.name);
  }

  private get context(): SinkDependencies['context'] {
    return this.dependencies.context;
  }

  async start(): Promise<void> {
    await ensureAuditIndexes(this.context.metadata.db, this.config.collection);
    if (this.config.publish) {
      const admin = this.context.kafka.admin();
      await admin.connect();
      try {
        await admin.ensureTopics([{ topic: this.context.topics.audit(), partitions: this.context.config.kafka.partitions }]);
      } finally {
        await admin.disconnect();
      }
      this.producer = this.context.kafka.producer();
      await this.producer.connect();
    }
    this.status.ok();
  }

  async stop(): Promise<void> {
    this.status.remove();
    await this.producer?.disconnect();
  }

  private entryFor(record: SinkRecord, index: number): Entry | string | undefined {
    const event = record.event;
    let actor: unknown = event.txn?.lsid ?? null;
    let details: unknown = event.fullDocumentBeforeChange ?? undefined;
    if (record.action) {
      const parsed = auditActionSchema.safeParse(record.action);
      if (!parsed.success) return `action: an audit sink takes { op: "record", who?, details? } (got op "${record.action.op}")`;
      if (parsed.data.who !== undefined) actor = parsed.data.who;
      if (parsed.data.details !== undefined) details = parsed.data.details;
    } else if (!this.config.operations.includes(event.op)) {
      return undefined;
    }
    const content: Entry['content'] = {
      _id: event.id,
      stream: `${event.source.name}/${event.ns.db}`,
      op: event.op,
      ns: event.ns,
      at: occurredAt(event),
      actor: actor === null ? null : toBson(actor),
      source: event.source,
      trigger: this.dependencies.trigger,
      recordedAt: new Date().toISOString(),
    };
    if (event.documentKey) content.documentKey = toBson(event.documentKey);
    if (event.to) content.to = event.to;
    if (event.clusterTime) content.clusterTime = event.clusterTime;
    if (details !== undefined) content.details = toBson(details);
    if (event.updateDescription) content.change = toBson(event.updateDescription);
    else if (event.fullDocument && writesDocument.has(event.op)) content.after = toBson(event.fullDocument);
    return { index, content };
  }

  async write(records: readonly SinkRecord[]): Promise<void> {
    const rejected: { index: number; reason: string }[] = [];
    const byStream = new Map<string, Entry[]>();
    const seen = new Set<string>();
    let skipped = 0;
    records.forEach((record, index) => {
      let entry: Entry | string | undefined;
      try {
        entry = this.entryFor(record, index);
      } catch (error) {
        if (!(error instanceof InvalidValueError)) throw error;
        entry = `event ${record.event.id}: ${error.message}`;
      }
      if (typeof entry === 'string') rejected.push({ index, reason: entry });
      else if (!entry || seen.has(entry.content._id)) skipped++;
      else {
        seen.add(entry.content._id);
        byStream.set(entry.content.stream, [...(byStream.get(entry.content.stream) ?? []), entry]);
      }
    });
    try {
      for (const [stream, entries] of byStream) rejected.push(...(await this.append(stream, entries)));
      if (this.producer && seen.size > 0) await this.publish([...seen]);
    } catch (error) {
      // Only a MongoDB answer about the records is final here; anything else (Kafka, network) waits and retries.
      if (error instanceof MongoError && !isTransientTargetError(error)) throw targetRefused(`audit sink "${this.name}"`, error);
      const wrapped = new UnavailableError(`audit sink "${this.name}": ${errorMessage(error)}`, { cause: error });
      this.status.failing('writing the audit log failed', wrapped);
      throw wrapped;
    }
    this.status.ok();
    this.status.count('rejected', rejected.length);
    this.status.count('skipped', skipped);
    this.status.count('written', records.length - skipped - rejected.length);
    if (rejected.length > 0)
      throw new SinkWriteError(`audit sink "${this.name}": ${rejected.length} records refused (first: ${rejected[0]?.reason ?? ''})`, rejected);
  }

  /**
   * Appends entries to one stream's chain. Safe with several writers: the next sequence number is
   * claimed by the unique (stream, seq) index; whoever loses re-reads the head and chains again.
   */
  private async append(stream: string, entries: readonly Entry[]): Promise<{ index: number; reason: string }[]> {
    const { records, heads } = auditCollections(this.context.metadata.db, this.config.collection);
    const refused: { index: number; reason: string }[] = [];
    const known = new Set((await records.find({ _id: { $in: entries.map((e) => e.content._id) } }, { projection: { _id: 1 } }).toArray()).map((r) => r._id));
    let pending = entries.filter((e) => !known.has(e.content._id));
    while (pending.length > 0) {
      const head = await records.find({ stream }).sort({ seq: -1 }).limit(1).next();
      let seq = head?.seq ?? 0;
      let prevHash = head?.hash ?? GENESIS_HASH;
      const chain: AuditRecord[] = pending.map((entry) => {
        seq += 1;
        const withoutHash = { ...entry.content, seq, prevHash };
        const record: AuditRecord = { ...withoutHash, hash: recordHash(withoutHash) };
        prevHash = record.hash;
        return record;
      });
      try {
        await records.insertMany(chain, { ordered: true });
        const last = chain[chain.length - 1] as AuditRecord;
        await heads.updateOne({ _id: stream, seq: { $lt: last.seq } }, { $set: { seq: last.seq, hash: last.hash } }, { upsert: true }).catch(() => undefined);
        break;
      } catch (error) {
        const failure = error instanceof MongoBulkWriteError ? (Array.isArray(error.writeErrors) ? error.writeErrors[0] : error.writeErrors) : undefined;
        if (!failure) throw error;
        const k = failure.index;
        const message = failure.errmsg ?? '';
        if (failure.code === 11000 && message.includes('_id_'))
          pending = pending.slice(k + 1); // recorded meanwhile by another writer
        else if (failure.code === 11000)
          pending = pending.slice(k); // another writer took this sequence number
        else {
          const entry = pending[k];
          if (entry) refused.push({ index: entry.index, reason: message });
          pending = pending.slice(k + 1);
        }
      }
    }
    return refused;
  }

  /** Publishes the stored records (repeats included, so a crash between store and publish loses nothing). */
  private async publish(ids: readonly string[]): Promise<void> {
    const { records } = auditCollections(this.context.metadata.db, this.config.collection);
    const stored = await records
      .find({ _id: { $in: [...ids] } }, { promoteValues: false })
      .sort({ stream: 1, seq: 1 })
      .toArray();
    const topic = this.context.topics.audit();
    await this.producer?.send(stored.map((r) => ({ topic, key: String(r.stream), value: canonicalText(r), headers: { op: String(r.op), id: String(r._id) } })));
  }
}

export const auditSinkKind: SinkKind<typeof auditSinkSchema> = {
  kind: 'audit',
  description:
    'Append-only, tamper-evident audit log of chosen operations (default: deletes and DDL) in the metadata database, also published to `<prefix>.audit`. ' +
    'Records of one stream (source + database) form a hash chain; `changeflow audit verify` checks it. Function actions: `{ op: "record", who?, details? }`.',
  configSchema: auditSinkSchema,
  create: (config, dependencies) => new AuditSink(config, dependencies),
};
