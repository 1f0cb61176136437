import type { Document } from 'mongodb';
import { changeOperations, type ChangeEvent, type ChangeOperation } from '../../schemas/envelope.js';
import { ChangeflowError, InternalError } from '../../core/errors.js';
import { canonicalText, toEJson, toEJsonDocument, type JsonMode } from '../../schemas/ejson.js';

/** What the encoder needs to know about the source besides the raw event. */
export interface EncoderContext {
  sourceName: string;
  cluster: string;
  /** What is watched: fills a document event's `ns` when the server leaves it out (mongo-java-server). */
  watch: { db?: string; coll?: string };
  mode: JsonMode;
}

/** A change event as the driver hands it over (read with `promoteValues: false`). */
export type RawChangeEvent = Document;

function isDocument(value: unknown): value is Document {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    (value as { _bsontype?: unknown })._bsontype === undefined
  );
}

function hasOperatorKeys(doc: Document): boolean {
  return Object.keys(doc).some((k) => k.startsWith('$'));
}

/** The resume token's `_data` (the dedupe id); tokens of very old servers are not strings, so fall back to their EJSON. */
export function tokenId(token: unknown): string {
  if (isDocument(token) && typeof token['_data'] === 'string') return token['_data'];
  return canonicalText(token);
}

/** Duck-typed: the driver's BSON classes (CommonJS build) are not the ones `import 'bson'` gives (ES module build). */
function clusterTimeOf(value: unknown): { t: number; i: number } | undefined {
  const ts = value as { _bsontype?: unknown; t?: unknown; i?: unknown } | null;
  if (ts?._bsontype === 'Timestamp' && typeof ts.t === 'number' && typeof ts.i === 'number') return { t: ts.t, i: ts.i };
  return undefined;
}

/**
 * A change whose namespace the connector cannot establish: the server left `ns` out, and what is
 * watched does not pin it down (a DDL event, or a database- or cluster-wide watch). Publishing it
 * under a guessed namespace could announce a false drop, so the source leaves it out and counts it.
 */
export class UnplacedChangeError extends ChangeflowError {
  constructor(
    readonly op: string,
    sourceName: string,
  ) {
    super(`source "${sourceName}": the server sent a ${op} event without ns, and the watch does not say which collection it belongs to; not published`, {
      code: 'CHANGE_UNPLACED',
    });
  }
}

const documentOperations: ReadonlySet<string> = new Set(['insert', 'update', 'replace', 'delete']);

/**
 * The event's namespace. Only a document event of a single-collection watch may take it from the
 * watch (mongo-java-server omits `ns`; that watch sees that collection's documents only).
 */
function namespaceOf(raw: RawChangeEvent, op: ChangeOperation, context: EncoderContext): { db: string; coll?: string } {
  const ns: unknown = raw['ns'];
  if (isDocument(ns) && typeof ns['db'] === 'string') {
    return typeof ns['coll'] === 'string' ? { db: ns['db'], coll: ns['coll'] } : { db: ns['db'] };
  }
  const { db, coll } = context.watch;
  if (db !== undefined && coll !== undefined && documentOperations.has(op)) return { db, coll };
  // An invalidate is about the watch itself (real servers send it without ns too).
  if (op === 'invalidate') return { db: db ?? '', ...(coll === undefined ? {} : { coll }) };
  throw new UnplacedChangeError(op, context.sourceName);
}

interface JavaServerUpdate {
  op: ChangeOperation;
  documentKey?: Document;
  fullDocument?: Document | null;
}

/**
 * mongo-java-server's update events carry no updateDescription: their documentKey is the update
 * specification (`{ $set: … }`, a pipeline) or, for a replacement, the new document itself. No
 * delta is derived from the specification (only a server can apply `$inc`, `$push`, array filters
 * or pipelines exactly): the update goes out with the looked-up document, which sinks write whole.
 */
function javaServerUpdate(raw: RawChangeEvent): JavaServerUpdate {
  const spec: unknown = raw['documentKey'];
  const full: unknown = raw['fullDocument'];
  // Without a lookup the server returns the delta as "fullDocument"; a real full document has `_id`.
  const looked = isDocument(full) && full['_id'] !== undefined ? full : null;
  const idOf = (doc: Document | null): Document | undefined => (doc && doc['_id'] !== undefined ? { _id: doc['_id'] } : undefined);
  if (isDocument(spec) && !hasOperatorKeys(spec)) {
    // A replacement: the "documentKey" is the whole new document.
    const documentKey = idOf(spec) ?? idOf(looked);
    return { op: 'replace', ...(documentKey ? { documentKey } : {}), fullDocument: spec };
  }
  const documentKey = idOf(looked);
  return { op: 'update', ...(documentKey ? { documentKey } : {}), fullDocument: looked };
}

function isOperation(op: unknown): op is ChangeOperation {
  return typeof op === 'string' && (changeOperations as readonly string[]).includes(op);
}

/** An envelope and its Kafka record key: canonical EJSON of the documentKey whatever the value's mode. */
export interface EncodedChange {
  event: ChangeEvent;
  key: string | null;
}

/** Raw driver change event → the record envelope (docs/sources.md "Records"). Throws for an operation type it does not know. */
export function encodeChange(raw: RawChangeEvent, context: EncoderContext): EncodedChange {
  // A fragment alone is part of an event (the source joins them first): never published as one.
  if (raw['splitEvent'] !== undefined)
    throw new InternalError(`source "${context.sourceName}": a fragment of a split change event reached the encoder unjoined`);
  const operationType: unknown = raw['operationType'];
  if (!isOperation(operationType) || operationType === 'snapshot') {
    throw new ChangeflowError(`unknown change operationType ${JSON.stringify(operationType)} from source "${context.sourceName}"`);
  }
  const mode = context.mode;
  let op: ChangeOperation = operationType;
  let documentKey: Document | undefined = isDocument(raw['documentKey']) ? raw['documentKey'] : undefined;
  let fullDocument: Document | null | undefined = raw['fullDocument'] === undefined ? undefined : isDocument(raw['fullDocument']) ? raw['fullDocument'] : null;
  const updateDescription: Document | undefined = isDocument(raw['updateDescription']) ? raw['updateDescription'] : undefined;

  if (op === 'update' && updateDescription === undefined) {
    const update = javaServerUpdate(raw);
    op = update.op;
    documentKey = update.documentKey;
    fullDocument = update.fullDocument;
  }

  const event: ChangeEvent = {
    v: 1,
    id: tokenId(raw['_id']),
    op,
    ns: namespaceOf(raw, op, context),
    source: { name: context.sourceName, cluster: context.cluster },
  };
  if (documentKey !== undefined) event.documentKey = toEJsonDocument(documentKey, mode);
  if (fullDocument !== undefined) event.fullDocument = fullDocument === null ? null : toEJsonDocument(fullDocument, mode);
  const before: unknown = raw['fullDocumentBeforeChange'];
  if (before !== undefined) event.fullDocumentBeforeChange = isDocument(before) ? toEJsonDocument(before, mode) : null;
  if (updateDescription !== undefined) {
    const removed: unknown = updateDescription['removedFields'];
    const truncated: unknown = updateDescription['truncatedArrays'];
    const disambiguated: unknown = updateDescription['disambiguatedPaths'];
    event.updateDescription = {
      updatedFields: isDocument(updateDescription['updatedFields']) ? toEJsonDocument(updateDescription['updatedFields'], mode) : {},
      removedFields: Array.isArray(removed) ? removed.map(String) : [],
      ...(Array.isArray(truncated) ? { truncatedArrays: toEJson(truncated, mode) as unknown[] } : {}),
      // Without it a sink would read a field name holding a dot ("a.b") as a nested path.
      ...(isDocument(disambiguated) && Object.values(disambiguated).every((segments) => Array.isArray(segments))
        ? { disambiguatedPaths: toEJsonDocument(disambiguated, mode) as Record<string, unknown[]> }
        : {}),
    };
  }
  const to: unknown = raw['to'];
  if (isDocument(to) && typeof to['db'] === 'string' && typeof to['coll'] === 'string') event.to = { db: to['db'], coll: to['coll'] };
  const clusterTime = clusterTimeOf(raw['clusterTime']);
  if (clusterTime) event.clusterTime = clusterTime;
  const wallTime: unknown = raw['wallTime'];
  if (wallTime instanceof Date) event.wallTime = wallTime.toISOString();
  if (raw['lsid'] !== undefined || raw['txnNumber'] !== undefined) {
    event.txn = { lsid: toEJson(raw['lsid'] ?? null, mode), txnNumber: toEJson(raw['txnNumber'] ?? null, mode) };
  }
  return { event, key: documentKey === undefined ? null : canonicalText(documentKey) };
}

/** What the snapshot encoders need besides the document: a multi-collection watch puts the namespace in ids. */
export type SnapshotContext = EncoderContext & { multiNamespace: boolean };

/** A document copied by the snapshot, as an `op: "snapshot"` event (consumers treat it as an upsert). */
export function encodeSnapshotDocument(doc: Document, ns: { db: string; coll: string }, context: SnapshotContext): EncodedChange {
  const documentKey = { _id: doc['_id'] };
  const key = canonicalText(documentKey);
  const event: ChangeEvent = {
    v: 1,
    // Stable per document so a resumed snapshot's repeats dedupe; a multi-collection watch needs the namespace too.
    id: context.multiNamespace ? `snapshot:${context.sourceName}:${ns.db}.${ns.coll}:${key}` : `snapshot:${context.sourceName}:${key}`,
    op: 'snapshot',
    ns,
    documentKey: toEJsonDocument(documentKey, context.mode),
    fullDocument: toEJsonDocument(doc, context.mode),
    source: { name: context.sourceName, cluster: context.cluster },
  };
  return { event, key };
}
