import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MongoClient } from 'mongodb';
import { cursorBatches } from '../connectors/mongodb/cursor-batches.js';
import { testInfra, uniqueName } from './support/infra.js';

const infra = testInfra();

describe("cursorBatches (the snapshot's read-ahead over a find cursor)", () => {
  const client = new MongoClient(infra.mongodb);
  const dbName = uniqueName('cursorbatches');
  const docs = () => client.db(dbName).collection<{ _id: number }>('docs');

  beforeAll(async () => {
    await client.connect();
    await docs().insertMany(Array.from({ length: 2_500 }, (_, i) => ({ _id: i })));
  });

  afterAll(async () => {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  it('yields every document once, in order, a server batch at a time', async () => {
    const cursor = docs().find({}, { sort: { _id: 1 }, batchSize: 1_000 });
    const sizes: number[] = [];
    const ids: number[] = [];
    for await (const batch of cursorBatches(cursor)) {
      sizes.push(batch.length);
      ids.push(...batch.map((d) => d._id));
    }
    expect(sizes).toEqual([1_000, 1_000, 500]);
    expect(ids).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
  });

  it('asks for the next batch before the caller is done with the current one', async () => {
    const cursor = docs().find({}, { sort: { _id: 1 }, batchSize: 1_000 });
    const iterator = cursorBatches(cursor)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toHaveLength(1_000);
    // The generator is paused at its yield: the getMore it started is already on its way.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(cursor.bufferedCount()).toBe(1_000);
    await iterator.return(undefined);
    await cursor.close();
  });

  it('lets the caller leave early and close the cursor without an unhandled error', async () => {
    const cursor = docs().find({}, { sort: { _id: 1 }, batchSize: 1_000 });
    let seen = 0;
    for await (const batch of cursorBatches(cursor)) {
      seen += batch.length;
      break;
    }
    await cursor.close();
    expect(seen).toBe(1_000);
    expect(cursor.killed).toBe(true);
  });
});
