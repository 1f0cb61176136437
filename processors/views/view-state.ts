import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import type { Document } from './document-stages.js';

/**
 * A view's durable state, in `<target coll>.__state` beside the target:
 * - `c:<source document key>` → that document's rows after the per-document stages before any `$lookup`;
 * - `f:<document key>` → a document of the `$lookup` collection;
 * - `p:<topic>:<partition>` → the next source offset to apply;
 * - `generation` → which build of the view this state is (part of its consumer group, see ViewRuntime);
 * - `journal` → the one batch in progress: its contributions, row writes and feed records, written
 *   in one document before anything else, so a batch cut short by a crash is finished on restart
 *   exactly as it was computed (the target and the feed never see a mix of two states).
 */
export interface RowWrite {
  id: unknown;
  /** The new row, or null: the row is deleted. */
  row: Document | null;
}

export interface FeedEntry {
  key: string;
  value: string;
  headers: Record<string, string>;
}

export interface Journal {
  /** Source document key → its new stored rows (empty: none). */
  contributions: { key: string; rows: Document[] }[];
  /** `$lookup` collection's document key → the document (null: deleted). */
  foreign: { key: string; doc: Document | null }[];
  rows: RowWrite[];
  feed: FeedEntry[];
  /** Next offsets to store, `<topic>:<partition>` → offset. */
  positions: Record<string, string>;
}

interface StateDocument {
  _id: string;
  rows?: Document[];
  doc?: Document;
  next?: string;
  value?: string;
  journal?: Journal;
}

const JOURNAL = 'journal';
const GENERATION = 'generation';

export class ViewState {
  readonly collection: Collection<StateDocument>;

  constructor(db: Db, targetColl: string) {
    this.collection = db.collection<StateDocument>(`${targetColl}.__state`);
  }

  /** Everything stored: contributions by source document key, next offsets, and an unfinished journal. */
  async load(): Promise<{
    contributions: Map<string, Document[]>;
    foreign: Map<string, Document>;
    positions: Map<string, string>;
    journal: Journal | undefined;
    generation: string | undefined;
  }> {
    let generation: string | undefined;
    const contributions = new Map<string, Document[]>();
    const foreign = new Map<string, Document>();
    const positions = new Map<string, string>();
    let journal: Journal | undefined;
    for await (const doc of this.collection.find({})) {
      if (doc._id === JOURNAL) journal = doc.journal;
      else if (doc._id === GENERATION) generation = doc.value;
      else if (doc._id.startsWith('c:')) contributions.set(doc._id.slice(2), doc.rows ?? []);
      else if (doc._id.startsWith('f:') && doc.doc) foreign.set(doc._id.slice(2), doc.doc);
      else if (doc._id.startsWith('p:') && doc.next !== undefined) positions.set(doc._id.slice(2), doc.next);
    }
    return { contributions, foreign, positions, journal, generation };
  }

  async writeGeneration(value: string): Promise<void> {
    await this.collection.replaceOne({ _id: GENERATION }, { value }, { upsert: true });
  }

  async writeJournal(journal: Journal): Promise<void> {
    await this.collection.replaceOne({ _id: JOURNAL }, { journal }, { upsert: true });
  }

  /** Stores the journal's contributions and positions (idempotent: each is a replace). */
  async applyJournal(journal: Journal): Promise<void> {
    const ops: AnyBulkWriteOperation<StateDocument>[] = journal.contributions.map(({ key, rows }) =>
      rows.length === 0 ? { deleteOne: { filter: { _id: `c:${key}` } } } : { replaceOne: { filter: { _id: `c:${key}` }, replacement: { rows }, upsert: true } },
    );
    for (const { key, doc } of journal.foreign)
      ops.push(
        doc === null ? { deleteOne: { filter: { _id: `f:${key}` } } } : { replaceOne: { filter: { _id: `f:${key}` }, replacement: { doc }, upsert: true } },
      );
    for (const [tp, next] of Object.entries(journal.positions)) ops.push({ replaceOne: { filter: { _id: `p:${tp}` }, replacement: { next }, upsert: true } });
    if (ops.length > 0) await this.collection.bulkWrite(ops, { ordered: false });
  }

  async clearJournal(): Promise<void> {
    await this.collection.deleteOne({ _id: JOURNAL });
  }
}

/** Writes rows to the target (`_id` = row key): replace-or-insert and delete, so writing a batch twice changes nothing. */
export async function writeRows(target: Collection<Document>, rows: readonly RowWrite[]): Promise<void> {
  if (rows.length === 0) return;
  const ops = rows.map(({ id, row }): AnyBulkWriteOperation<Document> => {
    // A row key is any BSON value, not only the ObjectId the driver's typing assumes.
    const filter = { _id: id } as Document;
    return row === null ? { deleteOne: { filter } } : { replaceOne: { filter, replacement: row, upsert: true } };
  });
  await target.bulkWrite(ops, { ordered: true });
}
