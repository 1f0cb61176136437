import { describe, expect, it } from '@jest/globals';
import { BSON } from 'mongodb';
import { TopicNames } from '../../core/topics.js';
import type { EncoderContext } from './change-encoder.js';
import { changeRecords } from './change-records.js';
import { changeFromBytes, snapshotFromBytes } from './source-change.js';

const { Int32, Timestamp } = BSON;
const context: EncoderContext = { sourceName: 'shop', cluster: 'rs0', watch: { db: 'shop', coll: 'orders' }, mode: 'canonical' };
const topics = new TopicNames('cf');
const token = { _data: '82000000010000000100' };

function insertEvent(): Buffer {
  return Buffer.from(
    BSON.serialize({
      _id: token,
      operationType: 'insert',
      clusterTime: new Timestamp({ t: 1_700_000_000, i: 3 }),
      ns: { db: 'shop', coll: 'orders' },
      documentKey: { _id: new Int32(7) },
      fullDocument: { _id: new Int32(7), item: 'tea "green"', qty: new Int32(2) },
    }),
  );
}

describe('changeFromBytes', () => {
  it('gives the same records on the raw path as on the object path', () => {
    const bytes = insertEvent();
    const raw = changeFromBytes(bytes, context, false);
    const viaObjects = changeFromBytes(bytes, context, true);
    expect(raw.json).toBeDefined(); // the raw path wrote the value
    expect(viaObjects.json).toBeUndefined();
    const rawRecords = changeRecords(raw, topics);
    const objectRecords = changeRecords(viaObjects, topics);
    expect(rawRecords.map((r) => ({ ...r, value: Buffer.from(r.value as Buffer).toString() }))).toEqual(
      objectRecords.map((r) => ({ ...r, value: Buffer.from(r.value as Buffer).toString() })),
    );
    expect(raw.event()).toEqual(viaObjects.event());
    expect(raw).toMatchObject({
      id: token._data,
      op: 'insert',
      ns: { db: 'shop', coll: 'orders' },
      key: '{"_id":{"$numberInt":"7"}}',
      hasDocumentKey: true,
      clusterTime: { t: 1_700_000_000, i: 3 },
    });
  });

  it('decodes the resume token on demand on both paths', () => {
    const bytes = insertEvent();
    expect(changeFromBytes(bytes, context, false).token()).toEqual(token);
    expect(changeFromBytes(bytes, context, true).token()).toEqual(token);
  });

  it('takes the object path for what the raw encoder leaves to it (a drop here)', () => {
    const bytes = Buffer.from(BSON.serialize({ _id: token, operationType: 'drop', ns: { db: 'shop', coll: 'orders' } }));
    const change = changeFromBytes(bytes, context, false);
    expect(change.json).toBeUndefined();
    expect(change).toMatchObject({ op: 'drop', key: null, hasDocumentKey: false });
    expect(changeRecords(change, topics).map((r) => r.topic)).toEqual(['cf.shop.orders', 'cf.shop.__ddl']);
  });
});

describe('snapshotFromBytes', () => {
  const snapshotContext = { ...context, multiNamespace: false };
  const ns = { db: 'shop', coll: 'orders' };
  const doc = Buffer.from(BSON.serialize({ _id: new Int32(7), item: 'tea "green"', qty: new Int32(2) }));

  it('gives the same records and envelope on the raw path as on the object path', () => {
    const raw = snapshotFromBytes(doc, ns, snapshotContext, false);
    const viaObjects = snapshotFromBytes(doc, ns, snapshotContext, true);
    expect(raw.json).toBeDefined();
    expect(viaObjects.json).toBeUndefined();
    const text = (change: typeof raw): unknown[] => changeRecords(change, topics).map((r) => ({ ...r, value: Buffer.from(r.value as Buffer).toString() }));
    expect(text(raw)).toEqual(text(viaObjects));
    expect(raw.event()).toEqual(viaObjects.event());
    expect(raw).toMatchObject({ id: 'snapshot:shop:{"_id":{"$numberInt":"7"}}', op: 'snapshot', ns, key: '{"_id":{"$numberInt":"7"}}', hasDocumentKey: true });
    expect(raw.token()).toBeUndefined();
  });

  it('takes the object path in relaxed mode', () => {
    const change = snapshotFromBytes(doc, ns, { ...snapshotContext, mode: 'relaxed' }, false);
    expect(change.json).toBeUndefined();
    expect(change.event().fullDocument).toEqual({ _id: 7, item: 'tea "green"', qty: 2 });
  });
});
