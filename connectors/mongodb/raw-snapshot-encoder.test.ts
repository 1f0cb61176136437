import { describe, expect, it } from '@jest/globals';
import { BSON } from 'mongodb';
import { DocumentGenerator, random } from '../../testing/schemas/random-bson.js';
import { encodeSnapshotDocument, type SnapshotContext } from './change-encoder.js';
import { encodeRawSnapshotDocument } from './raw-snapshot-encoder.js';

const { Int32, ObjectId } = BSON;

const context: SnapshotContext = { sourceName: 'shop', cluster: 'rs0', watch: { db: 'shop', coll: 'orders' }, mode: 'canonical', multiNamespace: false };
const ns = { db: 'shop', coll: 'orders' };

/** The object path: what encodeRawSnapshotDocument must reproduce. */
function objectPath(bytes: Uint8Array, ctx: SnapshotContext, where = ns): { value: string; key: string; id: string } {
  const { event, key } = encodeSnapshotDocument(BSON.deserialize(bytes, { promoteValues: false, promoteLongs: false, promoteBuffers: false }), where, ctx);
  return { value: JSON.stringify(event), key: key ?? '', id: event.id };
}

function expectObjectPath(bytes: Uint8Array, ctx: SnapshotContext = context, where = ns): void {
  const raw = encodeRawSnapshotDocument(bytes, where, ctx);
  expect(raw).not.toBeNull();
  const expected = objectPath(bytes, ctx, where);
  // latin1 maps bytes to characters one to one: byte equality, readable when it fails.
  expect(raw?.value.toString('latin1')).toBe(Buffer.from(expected.value).toString('latin1'));
  expect(raw?.key).toBe(expected.key);
  expect(raw?.id).toBe(expected.id);
}

describe('encodeRawSnapshotDocument', () => {
  it('encodes a document as the object path does', () => {
    expectObjectPath(BSON.serialize({ _id: new ObjectId('65a1b2c3d4e5f60718293a4b'), item: 'tea "green"', qty: new Int32(2), at: new Date(0) }));
  });

  it('names the namespace in the id when the source watches more than one collection', () => {
    const bytes = BSON.serialize({ _id: new Int32(7), a: 1 });
    expectObjectPath(bytes, { ...context, multiNamespace: true }, { db: 'shop', coll: 'other' });
    expect(encodeRawSnapshotDocument(bytes, ns, { ...context, multiNamespace: true })?.id).toBe('snapshot:shop:shop.orders:{"_id":{"$numberInt":"7"}}');
  });

  it('keeps _id where the document has it, not first', () => {
    expectObjectPath(BSON.serialize({ a: 'x', _id: { tenant: 'é', n: new Int32(1) }, b: [1, 2] }));
  });

  it('writes the object path’s bytes for 2000 random documents, with _ids of every type', () => {
    const generate = new DocumentGenerator(random(20261201));
    let exact = 0;
    for (let n = 0; n < 2000; n++) {
      const doc = generate.document();
      const bytes = BSON.serialize({ _id: generate.value(1), ...doc });
      const raw = encodeRawSnapshotDocument(bytes, ns, context);
      // Generated keys could repeat `_id` or hit what raw-ejson leaves to the object path: only exact outputs count.
      if (raw === null) continue;
      const expected = objectPath(bytes, context);
      if (raw.value.toString() !== expected.value || raw.key !== expected.key || raw.id !== expected.id) {
        throw new Error(`document ${n}: ${raw.value.toString('latin1')}\n  expected ${expected.value}`);
      }
      exact++;
    }
    expect(exact).toBeGreaterThan(1500);
  });

  it('leaves the object path what it does not reproduce: relaxed mode, no _id, a repeated _id, corrupt bytes', () => {
    const plain = BSON.serialize({ _id: new Int32(1), a: 'x' });
    expect(encodeRawSnapshotDocument(plain, ns, { ...context, mode: 'relaxed' })).toBeNull();
    expect(encodeRawSnapshotDocument(BSON.serialize({ a: 1 }), ns, context)).toBeNull();
    // Hand-made: BSON.serialize writes a JS object, which cannot repeat a key.
    const element = (key: string, n: number): Buffer => Buffer.concat([Buffer.from([0x10]), Buffer.from(`${key}\0`), Buffer.from(new Int32Array([n]).buffer)]);
    const body = Buffer.concat([element('_id', 1), element('_id', 2)]);
    const twice = Buffer.concat([Buffer.from(new Int32Array([body.length + 5]).buffer), body, Buffer.from([0])]);
    expect(encodeRawSnapshotDocument(twice, ns, context)).toBeNull();
    expect(encodeRawSnapshotDocument(plain.subarray(0, plain.length - 1), ns, context)).toBeNull();
    // And nothing it wrote before giving up leaks into the next output.
    expectObjectPath(plain);
  });
});
