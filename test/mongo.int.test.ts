import { MongoClient, ObjectId, Long, Decimal128, type ChangeStreamDocument } from 'mongodb';
import { testInfra, uniqueName } from './support/infra.js';

describe('MongoDB-compatible server', () => {
  const client = new MongoClient(testInfra().mongodb);

  beforeAll(() => client.connect());
  afterAll(() => client.close());

  it('stores and reads back documents with their BSON types', async () => {
    const coll = client.db(uniqueName('db')).collection('things');
    const _id = new ObjectId();
    await coll.insertOne({ _id, n: 1, big: Long.fromString('9007199254740993'), price: Decimal128.fromString('12.34'), at: new Date(0) });
    const doc = await coll.findOne({ _id }, { promoteLongs: false });
    expect(doc?.['big']).toBeInstanceOf(Long);
    expect(String(doc?.['big'])).toBe('9007199254740993');
    expect(String(doc?.['price'])).toBe('12.34');
    expect((doc?.['at'] as Date).getTime()).toBe(0);
  });

  it('delivers a change event through the driver watch()', async () => {
    const coll = client.db(uniqueName('db')).collection('watched');
    await coll.insertOne({ warmup: true });
    const stream = coll.watch([], { fullDocument: 'updateLookup' });
    const next = stream.next();
    // the server opens the cursor lazily; give it a moment before writing
    await new Promise((r) => setTimeout(r, 300));
    const { insertedId } = await coll.insertOne({ hello: 'world' });
    const event = (await next) as ChangeStreamDocument<{ hello: string }>;
    await stream.close();
    expect(event.operationType).toBe('insert');
    if (event.operationType !== 'insert') return;
    expect(event.documentKey._id).toEqual(insertedId);
    expect(event.fullDocument.hello).toBe('world');
    expect(event._id).toHaveProperty('_data');
  });
});
