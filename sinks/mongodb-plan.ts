import type { Document } from '../schemas/bson.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { applyDelta, mergeDeltas, PathConflictError, type Delta, type Segment } from './doc-paths.js';
import type { SinkRecord } from './sink.js';
import { canonicalText, toBson, toBsonDocument } from '../schemas/values.js';

/**
 * Turning a batch of change events into MongoDB writes (pure; the sink does the I/O):
 * 1. each event becomes an intent (replace / delta / delete of one document),
 * 2. intents older than what the target already has are dropped (stale-write guard),
 * 3. the intents of each document are folded into as few writes as possible, in order; writes that
 *    cannot be folded go into later "waves", so every wave holds at most one write per document and
 *    can be sent as one unordered bulkWrite without breaking per-document order.
 */

/** Position of a change in its source stream: clusterTime, then the resume token to break ties. */
export interface Version {
  t: number;
  i: number;
  id: string;
}

export function compareVersions(a: Version, b: Version): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.i !== b.i) return a.i < b.i ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export type Change = { kind: 'replace'; doc: Document } | { kind: 'delta'; delta: Delta; fallback?: Document } | { kind: 'delete' };

export interface Intent {
  index: number;
  coll: string;
  /** The documentKey (BSON): the filter of the write. */
  key: Document;
  /** Canonical EJSON of `_id`: identifies the document in the ledgers. */
  idText: string;
  change: Change;
  version?: Version;
  /** Source stream the version belongs to (versions of different sources are not comparable). */
  stream: string;
  snapshot: boolean;
}

export type IntentResult = { intent: Intent } | { reject: string } | { skip: string };

export interface IntentOptions {
  /** The target collection for an event, or undefined when the event has no collection. */
  targetColl(event: ChangeEvent): string | undefined;
  /** `delta`: apply updateDescription; `document`: write the whole post-image whenever the event has it. */
  updateMode: 'delta' | 'document';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One pass-through record → what to write, or why it is refused / skipped. */
export function intentFromRecord(record: SinkRecord, index: number, options: IntentOptions): IntentResult {
  const event = record.event;
  if (event.op === 'drop' || event.op === 'rename' || event.op === 'dropDatabase' || event.op === 'invalidate') {
    return { skip: `${event.op} events are not applied to the target` };
  }
  const coll = options.targetColl(event);
  if (coll === undefined) return { reject: `${event.op} event ${event.id} has no collection (ns.coll) to write to` };
  const full = isObject(event.fullDocument) ? toBsonDocument(event.fullDocument, 'fullDocument') : undefined;
  let key: Document | undefined =
    isObject(event.documentKey) && '_id' in event.documentKey && !Object.keys(event.documentKey).some((k) => k.startsWith('$'))
      ? toBsonDocument(event.documentKey, 'documentKey')
      : undefined;
  if (!key && full && full['_id'] !== undefined) key = { _id: full['_id'] };
  if (!key) return { reject: `${event.op} event ${event.id} has no documentKey with _id; cannot tell which document to change` };

  let change: Change;
  if (event.op === 'delete') {
    change = { kind: 'delete' };
  } else if (event.op === 'insert' || event.op === 'replace' || event.op === 'snapshot') {
    if (!full) return { reject: `${event.op} event ${event.id} has no fullDocument to write` };
    change = { kind: 'replace', doc: full };
  } else {
    const description = event.updateDescription;
    if (description && !(options.updateMode === 'document' && full)) {
      const delta: Delta = {
        set: toBsonDocument(description.updatedFields, 'updateDescription.updatedFields'),
        unset: description.removedFields,
        ...(description.truncatedArrays ? { truncated: parseTruncated(description.truncatedArrays) } : {}),
      };
      const paths = description.disambiguatedPaths ? parsePaths(description.disambiguatedPaths) : undefined;
      if (typeof paths === 'string') return { reject: `update event ${event.id}: ${paths}` };
      if (paths && Object.keys(paths).length > 0) delta.paths = paths;
      change = { kind: 'delta', delta, ...(full ? { fallback: full } : {}) };
    } else if (full) {
      change = { kind: 'replace', doc: full };
    } else if (event.fullDocument === null) {
      return {
        skip: `update event ${event.id}: the document was gone when the source looked it up and no updateDescription came with it; a later delete follows`,
      };
    } else {
      return { reject: `update event ${event.id} has neither updateDescription nor fullDocument` };
    }
  }
  return {
    intent: {
      index,
      coll,
      key,
      idText: canonicalText(key['_id']),
      change,
      ...(event.clusterTime ? { version: { t: event.clusterTime.t, i: event.clusterTime.i, id: event.id } } : {}),
      stream: event.source.name,
      snapshot: event.op === 'snapshot',
    },
  };
}

/** disambiguatedPaths as segments (strings: field names; numbers: array indices), or what is wrong with it. */
function parsePaths(raw: Record<string, unknown[]>): Record<string, Segment[]> | string {
  const out: Record<string, Segment[]> = {};
  for (const [path, segments] of Object.entries(raw)) {
    const parsed: Segment[] = [];
    for (const segment of segments) {
      if (typeof segment === 'string') {
        parsed.push(segment);
        continue;
      }
      const index = Number(String(toBson<unknown>(segment)));
      if (!Number.isInteger(index) || index < 0)
        return `updateDescription.disambiguatedPaths["${path}"] has ${JSON.stringify(segment)}, neither a field name nor an array index`;
      parsed.push(index);
    }
    out[path] = parsed;
  }
  return out;
}

function parseTruncated(raw: readonly unknown[]): { field: string; newSize: number }[] {
  const out: { field: string; newSize: number }[] = [];
  for (const item of raw) {
    if (!isObject(item) || typeof item['field'] !== 'string') continue;
    const size = toBson<unknown>(item['newSize']);
    const n = typeof size === 'number' ? size : Number(String(size));
    if (Number.isFinite(n)) out.push({ field: item['field'], newSize: n });
  }
  return out;
}

/**
 * Drops intents the target has already seen a newer (or the same) version of. `stored` maps version
 * ids to the last applied version and is updated in place with what this batch applies. An event
 * without clusterTime is applied, except a snapshot copy of a document a change event already wrote.
 */
export function dropStale(
  intents: readonly Intent[],
  stored: Map<string, Version>,
  versionId: (intent: Intent) => string,
): { fresh: Intent[]; stale: Intent[] } {
  const fresh: Intent[] = [];
  const stale: Intent[] = [];
  for (const intent of intents) {
    const id = versionId(intent);
    const current = stored.get(id);
    if (intent.version) {
      if (current && compareVersions(intent.version, current) <= 0) {
        stale.push(intent);
        continue;
      }
      stored.set(id, intent.version);
    } else if (intent.snapshot && current) {
      stale.push(intent);
      continue;
    }
    fresh.push(intent);
  }
  return { fresh, stale };
}

/** One write to one document, standing for one or more consecutive intents. */
export interface DocWrite {
  coll: string;
  key: Document;
  idText: string;
  change: Change;
  /** Record indexes folded into this write. */
  indexes: number[];
}

function fold(last: DocWrite, intent: Intent): boolean {
  const next = intent.change;
  if (next.kind !== 'delta') {
    last.change = next;
    return true;
  }
  const previous = last.change;
  if (previous.kind === 'replace') {
    try {
      last.change = { kind: 'replace', doc: applyDelta(previous.doc, next.delta) };
      return true;
    } catch (error) {
      if (error instanceof PathConflictError) return false;
      throw error;
    }
  }
  if (previous.kind === 'delta') {
    const merged = mergeDeltas(previous.delta, next.delta);
    if (!merged) return false;
    last.change = { kind: 'delta', delta: merged, ...(next.fallback ? { fallback: next.fallback } : {}) };
    return true;
  }
  return false;
}

/** Groups intents per document and folds them; returns waves of writes with at most one write per document each. */
export function planWaves(intents: readonly Intent[]): DocWrite[][] {
  const perDoc = new Map<string, DocWrite[]>();
  for (const intent of intents) {
    const docId = `${intent.coll}\u0000${intent.idText}`;
    let writes = perDoc.get(docId);
    if (!writes) perDoc.set(docId, (writes = []));
    const last = writes[writes.length - 1];
    if (last && fold(last, intent)) {
      last.indexes.push(intent.index);
      if (intent.change.kind !== 'delta') {
        // A replace or delete makes every earlier write of this document in the batch irrelevant.
        const indexes = writes.flatMap((w) => w.indexes);
        writes.splice(0, writes.length, { ...last, indexes: [...new Set(indexes)] });
      }
      continue;
    }
    writes.push({ coll: intent.coll, key: intent.key, idText: intent.idText, change: intent.change, indexes: [intent.index] });
  }
  const waves: DocWrite[][] = [];
  for (const writes of perDoc.values()) {
    writes.forEach((write, w) => (waves[w] ??= []).push(write));
  }
  return waves;
}
