import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BSON, Long, MongoClient, Timestamp, type Document } from 'mongodb';
import { RawChangeStream, type RawChangeStreamOptions } from '../connectors/mongodb/raw-change-stream.js';
import { testInfra, uniqueName } from './support/infra.js';

const infra = testInfra();

/** The documents' `_id`s of the events, leaving out the marker document written before the stream opened. */
function ids(events: Document[]): unknown[] {
  return events.map((e) => (e['documentKey'] as Document)['_id']).filter((id) => id !== -1);
}

/** Reads until `count` events (marker left out) arrived or the deadline, decoding each event's bytes. */
async function readEvents(stream: RawChangeStream, count: number, timeoutMs = 20_000): Promise<{ events: Document[]; tokens: (Document | null)[] }> {
  const events: Document[] = [];
  const tokens: (Document | null)[] = [];
  const deadline = Date.now() + timeoutMs;
  while (ids(events).length < count && Date.now() < deadline) {
    const batch = await stream.next();
    for (const bytes of batch.events) events.push(BSON.deserialize(bytes));
    tokens.push(batch.token);
    if (batch.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { events, tokens };
}

describe("RawChangeStream (the source's aggregate/getMore loop, events as BSON bytes)", () => {
  const client = new MongoClient(infra.mongodb);
  const dbName = uniqueName('rawcs');

  beforeAll(async () => {
    await client.connect();
  });

  afterAll(async () => {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  function options(start: RawChangeStreamOptions['start']): RawChangeStreamOptions {
    return { start, pipeline: [], batchSize: 50, maxAwaitTimeMS: 100, fullDocument: 'updateLookup' };
  }

  it('delivers each change once as bytes, in order, across batches, with a token after each batch', async () => {
    const coll = client.db(dbName).collection<{ _id: number; n: number }>('ordered');
    await coll.insertOne({ _id: -1, n: -1 }); // the collection exists before the stream opens
    const start = { startAtOperationTime: new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 }) };
    const stream = new RawChangeStream(client, { db: dbName, coll: 'ordered' }, options(start));
    try {
      await stream.next();
      await coll.insertMany(Array.from({ length: 120 }, (_, i) => ({ _id: i, n: i })));
      const { events, tokens } = await readEvents(stream, 120);
      expect(events.every((e) => e['operationType'] === 'insert')).toBe(true);
      expect(ids(events)).toEqual(Array.from({ length: 120 }, (_, i) => i));
      expect(tokens.filter((t) => t !== null).length).toBeGreaterThanOrEqual(3); // 120 events in batches of ≤ 50
    } finally {
      await stream.close();
    }
  });

  it('resumes in place when its cursor disappears (CursorNotFound), neither losing nor repeating a change', async () => {
    const coll = client.db(dbName).collection<{ _id: number }>('resumed');
    await coll.insertOne({ _id: -1 });
    const start = { startAtOperationTime: new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 }) };
    const stream = new RawChangeStream(client, { db: dbName, coll: 'resumed' }, options(start));
    try {
      await stream.next();
      await coll.insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: i })));
      const first = await readEvents(stream, 30);
      // Kill the server-side cursor behind the stream's back: its next getMore fails with CursorNotFound.
      const cursorId = (stream as unknown as { cursorId: Long | null }).cursorId;
      expect(cursorId).not.toBeNull();
      await client.db(dbName).command({ killCursors: 'resumed', cursors: [cursorId] });
      await coll.insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: 100 + i })));
      const second = await readEvents(stream, 30);
      expect([...ids(first.events), ...ids(second.events)]).toEqual([
        ...Array.from({ length: 30 }, (_, i) => i),
        ...Array.from({ length: 30 }, (_, i) => 100 + i),
      ]);
    } finally {
      await stream.close();
    }
  });

  it('close() ends a read in flight and later reads fail clearly', async () => {
    const stream = new RawChangeStream(
      client,
      { db: dbName, coll: 'closing' },
      options({ startAtOperationTime: new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 }) }),
    );
    await stream.next().catch(() => undefined);
    const pending = stream.next().then(
      () => 'settled',
      () => 'rejected',
    );
    await stream.close();
    expect(['settled', 'rejected']).toContain(await pending);
    await expect(stream.next()).rejects.toThrow('change stream is closed');
  });

  it("reports a server error of opening the stream as the server's error (the source classifies it)", async () => {
    const stream = new RawChangeStream(
      client,
      { db: dbName, coll: 'bad' },
      { ...options({ resumeAfter: { _data: 'not-a-token' } }), pipeline: [{ $noSuchStage: {} }] },
    );
    await expect(stream.next()).rejects.toMatchObject({ name: 'MongoServerError' });
    await stream.close();
  });
});
