import type { Document } from '../schemas/bson.js';
import type { AnyBulkWriteOperation, Db } from 'mongodb';
import { z } from 'zod';
import { UnavailableError, errorMessage, ChangeflowError } from '../core/errors.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { applyDelta, needsWholeDocument, PathConflictError } from './doc-paths.js';
import { defaultStateDb, echoEntryId, echoes, ensureEchoIndexes, postImageHash, purgeExpiredEchoes, versionCollection } from '../schemas/echo-ledger.js';
import { actionToWrite, parseMongoAction } from './mongodb-actions.js';
import { isDuplicateIdError, isTransientTargetError, permanentWriteFailures, targetRefused, targetUnavailable } from './mongo-errors.js';
import { MongoTarget } from './mongo-target.js';
import { dropStale, intentFromRecord, planWaves, type DocWrite, type Intent, type Version } from './mongodb-plan.js';
import { SinkWriteError, type Sink, type SinkDependencies, type SinkKind, type SinkRecord } from './sink.js';
import { sinkEntrySchema } from './sink-config.js';
import { SinkStatus } from './sink-status.js';
import { InvalidValueError } from '../schemas/value-errors.js';
import { canonicalText, contentHash } from '../schemas/values.js';

/** A delta that only fits another document than the target's (never retried: the record is refused). */
class UnappliableDelta extends ChangeflowError {
  constructor(message: string) {
    super(message, { code: 'UNAPPLIABLE_DELTA' });
  }
}

export const mongodbSinkSchema = sinkEntrySchema('mongodb', {
  uri: z
    .string()
    .startsWith('mongodb', { error: 'expected a MongoDB connection string (mongodb:// or mongodb+srv://)' })
    .meta({ description: 'Connection string of the target cluster.', example: 'mongodb://replica-b:27017/?replicaSet=rs0', secret: true }),
  db: z.string().min(1, { error: 'name the target database, e.g. db: shop_copy' }).meta({ description: 'Target database.', example: 'shop_copy' }),
  coll: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "Write every event into this one collection (default: the event's own collection name).", example: 'orders' }),
  collections: z
    .record(z.string(), z.string().min(1))
    .optional()
    .meta({
      description: 'Map of source collection → target collection; unmapped collections keep their name. Not together with `coll`.',
      example: { orders: 'orders_copy' },
    }),
  updateMode: z.enum(['delta', 'document']).default('delta').meta({
    description:
      "`delta`: apply an update event's updateDescription as $set/$unset (merges concurrent edits of different fields); `document`: write the whole post-image when the event has one (use on mongo-java-server, whose $set updates cannot be keyed by a source).",
  }),
  staleGuard: z.boolean().default(true).meta({
    description: 'Remember the last applied source position (clusterTime + event id) per document in `<stateDb>.versions` and skip older or repeated events.',
  }),
  echoLedger: z.boolean().default(false).meta({
    description:
      'Record each write in `<stateDb>.echoes` so a source on the target cluster with `skipEchoes: true` drops the resulting change events (bidirectional sync). Enable on both sinks of an A↔B pair.',
  }),
  stateDb: z
    .string()
    .min(1)
    .default(defaultStateDb)
    .meta({ description: "Database on the target cluster for the sink's bookkeeping (versions, echo ledger)." }),
  echoRetentionSeconds: z
    .number()
    .int()
    .positive()
    .default(600)
    .meta({ description: 'Echo ledger entries not matched by a change event within this time are deleted.' }),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .meta({ description: 'Server selection / connect timeout; when it passes the batch fails and the processor backs off.' }),
}).refine((c) => !(c.coll !== undefined && c.collections !== undefined), {
  error: 'give either coll (one target collection) or collections (a map), not both',
  path: ['collections'],
});
export type MongodbSinkConfig = z.output<typeof mongodbSinkSchema>;

interface VersionEntry {
  _id: string;
  t: number;
  i: number;
  id: string;
}

/** A write about to be sent, with what the document will look like afterwards (undefined = not known). */
interface PreparedWrite {
  write: DocWrite;
  op: AnyBulkWriteOperation<Document>;
  post: Document | null | undefined;
  echoId?: string;
}

class MongodbSink implements Sink {
  readonly kind = 'mongodb';
  readonly name: string;
  private readonly target: MongoTarget;
  private handles: { db: Db; stateDb: Db } | undefined;
  private readonly status: SinkStatus;
  private indexesReady = false;
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: MongodbSinkConfig,
    private readonly dependencies: SinkDependencies,
  ) {
    this.name = config.name;
    this.status = new SinkStatus(dependencies, this.kind, this.name);
    this.target = new MongoTarget({
      uri: config.uri,
      client: { serverSelectionTimeoutMS: config.timeoutMs, connectTimeoutMS: config.timeoutMs },
      onDown: (error) => this.status.failing(`target ${config.db} unreachable`, error),
      onUp: () => this.status.ok(),
    });
  }

  async start(): Promise<void> {
    // A target that is down at start is the same as one that goes down later: writes wait and retry,
    // and the target reconnects in the background meanwhile (health says so).
    if (await this.target.connect())
      await this.connectHandles()
        .then(() => this.ensureIndexes())
        .catch((error: unknown) => this.status.failing(`preparing ${this.config.db}`, error));
    if (this.config.echoLedger) {
      const every = Math.min(60_000, (this.config.echoRetentionSeconds * 1000) / 2);
      this.purgeTimer = setInterval(() => {
        if (this.handles) purgeExpiredEchoes(this.handles.stateDb, this.config.echoRetentionSeconds).catch(() => undefined);
      }, every);
      this.purgeTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.status.remove();
    await this.target.close();
  }

  /** The target's databases on the current client (a new client after the old one broke). */
  private async connectHandles(): Promise<void> {
    const client = await this.target.client();
    this.handles = { db: client.db(this.config.db), stateDb: client.db(this.config.stateDb) };
  }

  private get db(): Db {
    if (!this.handles) throw new UnavailableError(`mongodb sink "${this.name}": not connected to ${this.config.db}`);
    return this.handles.db;
  }

  private get stateDb(): Db {
    if (!this.handles) throw new UnavailableError(`mongodb sink "${this.name}": not connected to ${this.config.db}`);
    return this.handles.stateDb;
  }

  private async ensureIndexes(): Promise<void> {
    if (this.indexesReady || !this.config.echoLedger) return;
    await ensureEchoIndexes(this.stateDb, this.config.echoRetentionSeconds);
    this.indexesReady = true;
  }

  private targetColl(event: ChangeEvent): string | undefined {
    if (this.config.coll) return this.config.coll;
    if (!event.ns.coll) return undefined;
    return this.config.collections?.[event.ns.coll] ?? event.ns.coll;
  }

  async write(records: readonly SinkRecord[]): Promise<void> {
    const rejected = new Map<number, string>();
    const changes: number[] = [];
    const actions: number[] = [];
    records.forEach((r, i) => (r.action ? actions : changes).push(i));
    let skipped = 0;
    try {
      await this.connectHandles();
      await this.ensureIndexes();
      if (changes.length > 0) skipped += await this.applyChanges(records, changes, rejected);
      if (actions.length > 0) await this.applyActions(records, actions, rejected);
    } catch (error) {
      const what = `mongodb sink "${this.name}" (${this.config.db})`;
      if (!isTransientTargetError(error)) throw targetRefused(what, error);
      this.target.failed(error);
      const wrapped = targetUnavailable(what, error);
      this.status.failing(`writing to ${this.config.db} failed`, wrapped);
      throw wrapped;
    }
    this.status.ok();
    this.status.count('rejected', rejected.size);
    this.status.count('skipped', skipped);
    this.status.count('written', records.length - rejected.size - skipped);
    if (rejected.size > 0) {
      const list = [...rejected].map(([index, reason]) => ({ index, reason }));
      throw new SinkWriteError(
        `mongodb sink "${this.name}": the target refused ${list.length} of ${records.length} records (first: ${list[0]?.reason ?? ''})`,
        list,
      );
    }
  }

  private versionId(intent: Intent): string {
    return JSON.stringify([intent.stream, this.config.db, intent.coll, intent.idText]);
  }

  /** Pass-through change events; returns how many were skipped (stale or not applicable). */
  private async applyChanges(records: readonly SinkRecord[], indexes: readonly number[], rejected: Map<number, string>): Promise<number> {
    const intents: Intent[] = [];
    let skipped = 0;
    for (const index of indexes) {
      const record = records[index] as SinkRecord;
      let result;
      try {
        result = intentFromRecord(record, index, { targetColl: (e) => this.targetColl(e), updateMode: this.config.updateMode });
      } catch (error) {
        if (!(error instanceof InvalidValueError)) throw error;
        rejected.set(index, `event ${record.event.id}: ${error.message}`);
        continue;
      }
      if ('intent' in result) intents.push(result.intent);
      else if ('reject' in result) rejected.set(index, result.reject);
      else skipped++;
    }
    let fresh = intents;
    if (this.config.staleGuard) {
      const stored = await this.loadVersions(intents);
      const split = dropStale(intents, stored, (i) => this.versionId(i));
      fresh = split.fresh;
      skipped += split.stale.length;
    }
    for (const wave of planWaves(fresh)) skipped += await this.applyWave(wave, rejected);
    if (this.config.staleGuard) await this.saveVersions(fresh.filter((i) => !rejected.has(i.index)));
    return skipped;
  }

  private async loadVersions(intents: readonly Intent[]): Promise<Map<string, Version>> {
    const ids = [...new Set(intents.filter((i) => i.version || i.snapshot).map((i) => this.versionId(i)))];
    const stored = new Map<string, Version>();
    if (ids.length === 0) return stored;
    const found = await this.stateDb
      .collection<VersionEntry>(versionCollection)
      .find({ _id: { $in: ids } })
      .toArray();
    for (const v of found) stored.set(v._id, { t: v.t, i: v.i, id: v.id });
    return stored;
  }

  private async saveVersions(applied: readonly Intent[]): Promise<void> {
    const latest = new Map<string, Version>();
    for (const intent of applied) if (intent.version) latest.set(this.versionId(intent), intent.version);
    if (latest.size === 0) return;
    await this.stateDb.collection<VersionEntry>(versionCollection).bulkWrite(
      [...latest].map(([_id, v]) => ({ updateOne: { filter: { _id }, update: { $set: { t: v.t, i: v.i, id: v.id } }, upsert: true } })),
      { ordered: false },
    );
  }

  /** Current documents of a wave, by `coll \0 idText` (null = not there). */
  private async readCurrent(wave: readonly DocWrite[]): Promise<Map<string, Document | null>> {
    const byColl = new Map<string, DocWrite[]>();
    for (const w of wave) byColl.set(w.coll, [...(byColl.get(w.coll) ?? []), w]);
    const current = new Map<string, Document | null>();
    for (const [coll, writes] of byColl) {
      for (const w of writes) current.set(`${coll}\u0000${w.idText}`, null);
      const docs = await this.db
        .collection(coll)
        .find({ _id: { $in: writes.map((w) => w.key['_id']) } }, { promoteValues: false, bsonRegExp: true })
        .toArray();
      for (const doc of docs) current.set(`${coll}\u0000${canonicalText(doc['_id'])}`, doc);
    }
    return current;
  }

  /** Throws UnappliableDelta when the delta can be applied neither by the server nor here. */
  private prepare(write: DocWrite, current: Document | null | undefined): PreparedWrite | undefined {
    let change = write.change;
    if (change.kind === 'delta' && current === null) {
      // The target lacks the document (it started late): the post-image, when the event has one, heals it.
      if (!change.fallback) return undefined;
      change = { kind: 'replace', doc: change.fallback };
    } else if (change.kind === 'delta' && current && needsWholeDocument(change.delta)) {
      // A field name with a dot cannot be named in $set/$unset: apply the delta here and write the result.
      const { delta, fallback } = change;
      try {
        change = { kind: 'replace', doc: applyDelta(current, delta) };
      } catch (error) {
        if (!(error instanceof PathConflictError)) throw error;
        if (!fallback) throw new UnappliableDelta(`the update does not fit the target's document (${error.message})`);
        change = { kind: 'replace', doc: fallback };
      }
    }
    switch (change.kind) {
      case 'replace': {
        const doc = change.doc['_id'] === undefined ? { _id: write.key['_id'], ...change.doc } : change.doc;
        return { write, op: { replaceOne: { filter: write.key, replacement: doc, upsert: true } }, post: doc };
      }
      case 'delete':
        return { write, op: { deleteOne: { filter: write.key } }, post: null };
      case 'delta': {
        const update: Document = {};
        if (Object.keys(change.delta.set).length > 0) update['$set'] = change.delta.set;
        if (change.delta.unset.length > 0) update['$unset'] = Object.fromEntries(change.delta.unset.map((p) => [p, '']));
        const truncations = (change.delta.truncated ?? []).filter((t) => !(t.field in change.delta.set));
        if (truncations.length > 0) update['$push'] = Object.fromEntries(truncations.map((t) => [t.field, { $each: [], $slice: t.newSize }]));
        if (Object.keys(update).length === 0) return undefined;
        let post: Document | undefined;
        try {
          post = current ? applyDelta(current, change.delta) : undefined;
        } catch (error) {
          if (!(error instanceof PathConflictError)) throw error;
        }
        return { write, op: { updateOne: { filter: write.key, update } }, post };
      }
    }
  }

  /** Sends one wave (≤ one write per document); returns how many records needed no write. */
  private async applyWave(wave: readonly DocWrite[], rejected: Map<number, string>): Promise<number> {
    const needCurrent = this.config.echoLedger || wave.some((w) => w.change.kind === 'delta');
    const current = needCurrent ? await this.readCurrent(wave) : undefined;
    const prepared: PreparedWrite[] = [];
    let skipped = 0;
    for (const write of wave) {
      const now = current?.get(`${write.coll}\u0000${write.idText}`);
      let p: PreparedWrite | undefined;
      try {
        p = this.prepare(write, now);
      } catch (error) {
        if (!(error instanceof UnappliableDelta)) throw error;
        for (const index of write.indexes) rejected.set(index, `${write.coll}: ${error.message}`);
        continue;
      }
      const unchanged =
        p !== undefined &&
        now !== undefined &&
        p.post !== undefined &&
        (p.post === null ? now === null : now !== null && contentHash(now) === contentHash(p.post));
      if (!p || unchanged) {
        // Nothing to change: no write, so no change event on the target and nothing for the echo ledger.
        skipped += write.indexes.length;
        continue;
      }
      if (this.config.echoLedger && p.post !== undefined) p.echoId = echoEntryId(this.config.db, write.coll, write.idText, postImageHash(p.post));
      prepared.push(p);
    }
    if (prepared.length === 0) return skipped;
    const ledger = prepared.filter((p) => p.echoId !== undefined);
    // The ledger entry goes first: the target's source may see the change before this call returns.
    if (ledger.length > 0) await this.adjustEchoes(ledger, 1);

    const failed: PreparedWrite[] = [];
    const byColl = new Map<string, PreparedWrite[]>();
    for (const p of prepared) byColl.set(p.write.coll, [...(byColl.get(p.write.coll) ?? []), p]);
    for (const [coll, group] of byColl) {
      try {
        await this.db.collection(coll).bulkWrite(
          group.map((p) => p.op),
          { ordered: false },
        );
      } catch (error) {
        const failures = permanentWriteFailures(error);
        if (!failures) throw error;
        for (const f of failures) {
          const p = group[f.index];
          if (!p) continue;
          failed.push(p);
          for (const index of p.write.indexes) rejected.set(index, `${coll}: ${f.message}`);
        }
      }
    }
    const unconsumed = failed.filter((p) => p.echoId !== undefined);
    if (unconsumed.length > 0)
      await this.adjustEchoes(unconsumed, -1).catch((e: unknown) =>
        this.dependencies.context.logger.warn({ err: errorMessage(e) }, 'could not withdraw echo entries'),
      );
    return skipped;
  }

  private async adjustEchoes(writes: readonly PreparedWrite[], delta: 1 | -1): Promise<void> {
    const now = new Date();
    const ops = writes.map((p) => {
      const hash = postImageHash(p.post ?? null);
      return {
        updateOne: {
          filter: { _id: p.echoId as string },
          update: {
            $inc: { n: delta },
            $set: { at: now, db: this.config.db, coll: p.write.coll, id: p.write.idText, h: hash, by: `${this.dependencies.trigger}/${this.name}` },
          },
          upsert: delta > 0,
        },
      };
    });
    await echoes(this.stateDb).bulkWrite(ops, { ordered: true });
  }

  /** Function actions, applied in order; consecutive actions on one collection go in one ordered bulkWrite. */
  private async applyActions(records: readonly SinkRecord[], indexes: readonly number[], rejected: Map<number, string>): Promise<void> {
    const segments: { coll: string; items: { index: number; op: AnyBulkWriteOperation<Document>; insert: boolean }[] }[] = [];
    for (const index of indexes) {
      const record = records[index] as SinkRecord;
      const action = parseMongoAction(record.action);
      if (typeof action === 'string') {
        rejected.set(index, action);
        continue;
      }
      const coll = action.coll ?? this.targetColl(record.event);
      if (!coll) {
        rejected.set(index, `action.coll: the event has no collection; name the target collection in the action or the sink's coll`);
        continue;
      }
      let op: AnyBulkWriteOperation<Document>;
      try {
        op = actionToWrite(action);
      } catch (error) {
        if (!(error instanceof InvalidValueError)) throw error;
        rejected.set(index, error.message);
        continue;
      }
      const last = segments[segments.length - 1];
      const item = { index, op, insert: action.op === 'insert' };
      if (last && last.coll === coll) last.items.push(item);
      else segments.push({ coll, items: [item] });
    }
    for (const segment of segments) {
      let start = 0;
      while (start < segment.items.length) {
        const rest = segment.items.slice(start);
        try {
          await this.db.collection(segment.coll).bulkWrite(
            rest.map((i) => i.op),
            { ordered: true },
          );
          break;
        } catch (error) {
          const failure = permanentWriteFailures(error)?.[0];
          if (!failure) throw error;
          const item = rest[failure.index];
          if (item && !(item.insert && isDuplicateIdError(failure))) rejected.set(item.index, `${segment.coll}: ${failure.message}`);
          start += failure.index + 1;
        }
      }
    }
  }
}

export const mongodbSinkKind: SinkKind<typeof mongodbSinkSchema> = {
  kind: 'mongodb',
  description:
    'Applies changes to a MongoDB database (cross-cluster sync): pass-through events become upserts, $set/$unset updates and deletes by documentKey, ' +
    'one bulkWrite per batch, order kept per document, older redelivered events never overwrite newer state; function actions upsert/insert/update/delete.',
  configSchema: mongodbSinkSchema,
  create: (config, dependencies) => new MongodbSink(config, dependencies),
};
