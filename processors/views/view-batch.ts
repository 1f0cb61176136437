import type { IncomingRecord } from '../../core/kafka/index.js';
import { EJSON } from '../../schemas/bson.js';
import { parseChangeEvent } from '../../schemas/envelope.js';
import type { Document } from './document-stages.js';
import type { ViewEngine } from './view-engine.js';
import { feedRecord, type FeedContext } from './view-feed.js';
import type { Journal } from './view-state.js';

/**
 * One batch of source records applied to the engine, as the journal that makes it durable: the
 * contributions it changed, the rows to write and the feed records to publish. Records before a
 * partition's stored position were applied already (a repeat after a crash) and are skipped.
 */
export interface AppliedBatch {
  journal: Journal;
  applied: number;
  skipped: number;
  problems: string[];
}

/** Extended JSON as plain values (numbers as JS numbers, dates as Dates), what expressions work on. */
function decode(doc: Record<string, unknown>): Document {
  return EJSON.deserialize(doc, { relaxed: true }) as Document;
}

export function applyBatch(
  engine: ViewEngine,
  records: readonly IncomingRecord[],
  positions: ReadonlyMap<string, string>,
  feed: Omit<FeedContext, 'cause'>,
  /** The `$lookup` collection's topic, when the view has one. */
  foreignTopic?: string,
): AppliedBatch {
  const contributions = new Map<string, Document[]>();
  const foreign = new Map<string, Document | null>();
  const problems: string[] = [];
  let applied = 0;
  let skipped = 0;
  const nextOffsets: Record<string, string> = {};
  const setLocal = (key: string, doc: Document | null): void => {
    contributions.set(key, engine.applyDocument(key, doc));
  };
  const setForeign = (key: string, doc: Document | null): void => {
    foreign.set(key, doc);
    engine.applyForeign(key, doc);
  };
  for (const record of records) {
    const tp = `${record.topic}:${record.partition}`;
    const stored = positions.get(tp);
    if (stored !== undefined && BigInt(record.offset) < BigInt(stored)) {
      skipped++;
      continue;
    }
    nextOffsets[tp] = String(BigInt(record.offset) + 1n);
    if (record.value === null) continue;
    const event = parseChangeEvent(record.value);
    const key = record.key?.toString('utf8') ?? '';
    const isForeign = record.topic === foreignTopic;
    const set = isForeign ? setForeign : setLocal;
    applied++;
    switch (event.op) {
      case 'insert':
      case 'replace':
      case 'update':
      case 'snapshot':
        // An update whose document was deleted since has no full document; its delete follows.
        if (event.fullDocument) set(key, decode(event.fullDocument));
        else if (event.op === 'update') problems.push(`update of ${key} at ${tp}@${record.offset} has no full document; kept the previous one`);
        break;
      case 'delete':
        set(key, null);
        break;
      case 'drop':
      case 'rename':
      case 'dropDatabase':
        for (const k of isForeign ? engine.foreignKeys() : engine.documentKeys()) set(k, null);
        break;
      case 'invalidate':
        break;
    }
  }
  problems.push(...engine.problems.splice(0));
  const last = records.at(-1);
  const cause = last ? `${last.topic}:${last.partition}:${last.offset}` : 'none';
  const changes = engine.takeChanges();
  return {
    journal: {
      contributions: [...contributions].map(([key, rows]) => ({ key, rows })),
      foreign: [...foreign].map(([key, doc]) => ({ key, doc })),
      rows: changes.map((c) => ({ id: c.id ?? null, row: c.after ?? null })),
      feed: changes.map((c) => {
        const record = feedRecord(c, { ...feed, cause });
        return { key: String(record.key), value: String(record.value), headers: record.headers ?? {} };
      }),
      positions: nextOffsets,
    },
    applied,
    skipped,
    problems,
  };
}
