import { BSON, Long, MongoCompatibilityError, type ClientSession, type Document, type MongoClient } from 'mongodb';
import { isResumableStreamError } from '../../core/mongo-errors.js';
import { InternalError, ChangeflowError } from '../../core/errors.js';

/** What is watched: a collection, a database, or (neither) the whole cluster. */
export interface WatchTarget {
  db?: string;
  coll?: string;
}

/** Where the stream starts: exactly one of the three, as `SourcePosition.watchOptions()` gives them. */
export type RawStreamStart = { resumeAfter: Document } | { startAfter: Document } | { startAtOperationTime: unknown };

export interface RawChangeStreamOptions {
  start: RawStreamStart;
  /** Stages after `$changeStream` (the source's `operationTypes` filter and its own pipeline). */
  pipeline: Document[];
  /** Of the first batch; later reads ask for `readSize`. */
  batchSize: number;
  maxAwaitTimeMS: number;
  fullDocument?: string;
  fullDocumentBeforeChange?: string;
}

/** One server batch: each event's BSON bytes, undecoded, and the resume token after the batch. */
export interface RawChangeBatch {
  events: Uint8Array[];
  /** postBatchResumeToken, or the last event's `_id` when the server sends none; null before the first token. */
  token: Document | null;
}

/**
 * The driver's decoding of the BSON the source reads, as its ChangeStream and find cursor returned it
 * (`promoteValues: false`): change events, and documents the snapshot copies.
 */
export function decodeSourceBson(bytes: Uint8Array): Document {
  return BSON.deserialize(bytes, { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true });
}

interface CursorReply {
  cursor: { id: Long | number; ns?: string; firstBatch?: Uint8Array[]; nextBatch?: Uint8Array[]; postBatchResumeToken?: Document };
}

/**
 * A change stream read with the server's own commands (`aggregate` with `$changeStream`, then
 * `getMore`) so that events arrive as BSON bytes: the driver's ChangeStream decodes every event into
 * objects, which the source would only encode again. Resumes in place after a resumable error, as
 * the driver does. One read at a time; `close()` may be called during a read.
 */
export class RawChangeStream {
  private readonly abort = new AbortController();
  private session: ClientSession | null = null;
  private sessions = true;
  private cursorId: Long | null = null;
  private getMoreCollection = '';
  private start: RawStreamStart;
  private closed = false;
  /** Events asked for per getMore; the reader may change it between reads. */
  readSize: number;

  constructor(
    private readonly client: MongoClient,
    private readonly target: WatchTarget,
    private readonly options: RawChangeStreamOptions,
  ) {
    this.start = options.start;
    this.readSize = options.batchSize;
  }

  /** The next batch (possibly empty: the server held the read for up to `maxAwaitTimeMS`). */
  async next(): Promise<RawChangeBatch> {
    if (this.closed) throw new InternalError('change stream is closed');
    try {
      return await this.read();
    } catch (error) {
      if (this.closed || !isResumableStreamError(error)) throw error;
      // One attempt from the last token, as the driver does; a second failure goes to the caller.
      await this.killCursor();
      this.cursorId = null;
      return this.read();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await this.killCursor();
    await this.session?.endSession().catch(() => undefined);
    this.session = null;
  }

  private async read(): Promise<RawChangeBatch> {
    const reply = this.cursorId === null ? await this.open() : await this.getMore(this.cursorId);
    const { cursor } = reply;
    const events = cursor.firstBatch ?? cursor.nextBatch ?? [];
    this.cursorId = Long.isLong(cursor.id) ? cursor.id : Long.fromNumber(cursor.id);
    if (this.cursorId.isZero()) throw new ChangeflowError('the server closed the change stream cursor', { code: 'CURSOR_CLOSED' });
    const last = events[events.length - 1];
    const token = cursor.postBatchResumeToken ?? (last ? this.tokenOf(last) : null);
    // A resume continues after what was read; before the first token it repeats the original start.
    if (token) this.start = { resumeAfter: token };
    return { events, token };
  }

  /** Only when the server sends no postBatchResumeToken (mongo-java-server): once per batch. */
  private tokenOf(event: Uint8Array): Document {
    const id: unknown = decodeSourceBson(event)['_id'];
    if (typeof id !== 'object' || id === null) throw new ChangeflowError('a change stream event without a resume token (_id)', { code: 'NO_RESUME_TOKEN' });
    return id as Document;
  }

  private async open(): Promise<CursorReply> {
    const { db, coll } = this.target;
    const stage: Document = { ...this.start };
    if (this.options.fullDocument) stage['fullDocument'] = this.options.fullDocument;
    if (this.options.fullDocumentBeforeChange) stage['fullDocumentBeforeChange'] = this.options.fullDocumentBeforeChange;
    if (!db) stage['allChangesForCluster'] = true;
    const command = {
      aggregate: coll ?? 1,
      pipeline: [{ $changeStream: stage }, ...this.options.pipeline],
      cursor: { batchSize: this.options.batchSize },
    };
    // getMore must come in the session that opened the cursor (the driver's implicit sessions are one per command).
    // Not causally consistent: the driver would add `readConcern.afterClusterTime` to a resume's aggregate.
    if (this.sessions) this.session ??= this.client.startSession({ causalConsistency: false });
    let reply: CursorReply;
    try {
      reply = await this.run(db ?? 'admin', command, 'firstBatch');
    } catch (error) {
      if (!(error instanceof MongoCompatibilityError) || !this.sessions) throw error;
      // A server without sessions (mongo-java-server): its cursors belong to no session.
      this.sessions = false;
      await this.session?.endSession().catch(() => undefined);
      this.session = null;
      reply = await this.run(db ?? 'admin', command, 'firstBatch');
    }
    this.getMoreCollection = reply.cursor.ns?.slice(reply.cursor.ns.indexOf('.') + 1) ?? coll ?? '$cmd.aggregate';
    return reply;
  }

  private getMore(id: Long): Promise<CursorReply> {
    const command = { getMore: id, collection: this.getMoreCollection, batchSize: this.readSize, maxTimeMS: this.options.maxAwaitTimeMS };
    return this.run(this.target.db ?? 'admin', command, 'nextBatch');
  }

  private async run(dbName: string, command: Document, batchField: 'firstBatch' | 'nextBatch'): Promise<CursorReply> {
    const options = {
      session: this.session ?? undefined,
      signal: this.abort.signal,
      promoteValues: false,
      promoteLongs: false,
      bsonRegExp: true,
      // The batch's documents stay bytes (the source transcodes them); the rest of the reply is decoded.
      fieldsAsRaw: { [batchField]: true },
    };
    return (await this.client.db(dbName).command(command, options)) as CursorReply;
  }

  private async killCursor(): Promise<void> {
    const id = this.cursorId;
    if (id === null || id.isZero()) return;
    this.cursorId = null;
    await this.client
      .db(this.target.db ?? 'admin')
      .command({ killCursors: this.getMoreCollection, cursors: [id] }, { ...(this.session ? { session: this.session } : {}) })
      .catch(() => undefined);
  }
}
