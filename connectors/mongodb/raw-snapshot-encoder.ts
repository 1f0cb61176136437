import { asBuffer, BsonElements, fallBack, JsonWriter, NotReproducible, writeDocument, writeValue } from '../../schemas/raw-ejson.js';
import type { SnapshotContext } from './change-encoder.js';
import { sourceJson } from './raw-change-encoder.js';

/**
 * encodeSnapshotDocument plus the JSON record value, straight from a copied document's BSON bytes (the
 * object path decodes the document, converts it to EJSON objects and stringifies: ~3× the CPU).
 * Canonical mode only; anything raw-ejson does not reproduce exactly returns null, and the caller takes
 * the object path.
 */

export interface RawEncodedSnapshot {
  /** event.id: `snapshot:<source>:[<db>.<coll>:]<key>`. */
  id: string;
  /** The canonical EJSON text of `{ _id }`: the record key, and the snapshot's progress mark. */
  key: string;
  /** Byte for byte `Buffer.from(JSON.stringify(encodeSnapshotDocument(…).event))`. */
  value: Buffer;
}

const ID = Buffer.from('_id', 'latin1');
const out = new JsonWriter();

let namespace = { db: '', coll: '', json: '' };

/** `,"op":"snapshot","ns":{…}`: a snapshot copies one collection at a time. */
function opAndNamespace(ns: { db: string; coll: string }): string {
  if (ns.db !== namespace.db || ns.coll !== namespace.coll) {
    namespace = { db: ns.db, coll: ns.coll, json: `,"op":"snapshot","ns":${JSON.stringify(ns)}` };
  }
  return namespace.json;
}

/** `{"_id":…}` of the document, as canonical EJSON text. */
function keyOf(bson: Buffer): string {
  const elements = new BsonElements(bson).open(0, bson.length);
  let found = false;
  while (!found && elements.next()) found = elements.keyIs(ID);
  // No _id: the object path writes `{}` as the key; too odd to reproduce here.
  if (!found) fallBack();
  out.ascii('{"_id":');
  writeValue(bson, elements.type, elements.valueStart, elements.valueEnd, out);
  out.byte(0x7d);
  const key = out.text(0, out.written);
  out.discard();
  return key;
}

// Field order as encodeSnapshotDocument assigns them: v, id, op, ns, documentKey, fullDocument, source.
function encode(bson: Buffer, ns: { db: string; coll: string }, context: SnapshotContext): RawEncodedSnapshot {
  if (bson.length < 5 || bson.readInt32LE(0) !== bson.length) fallBack();
  // The key comes from the first `_id`; a second one makes writeDocument below fall back (duplicate key).
  const key = keyOf(bson);
  const id = context.multiNamespace ? `snapshot:${context.sourceName}:${ns.db}.${ns.coll}:${key}` : `snapshot:${context.sourceName}:${key}`;
  out.ascii('{"v":1,"id":');
  out.utf8(JSON.stringify(id));
  out.utf8(opAndNamespace(ns));
  out.ascii(',"documentKey":');
  out.utf8(key);
  out.ascii(',"fullDocument":');
  writeDocument(bson, 0, bson.length, out);
  const source = sourceJson(context);
  out.bytes(source, 0, source.length);
  out.byte(0x7d);
  return { id, key, value: out.finish() };
}

/** The copied document's record value and key, or null where only the object path is exact. */
export function encodeRawSnapshotDocument(bson: Uint8Array, ns: { db: string; coll: string }, context: SnapshotContext): RawEncodedSnapshot | null {
  if (context.mode !== 'canonical') return null;
  try {
    return encode(asBuffer(bson), ns, context);
  } catch (e) {
    out.discard();
    if (e instanceof NotReproducible) return null;
    throw e;
  }
}
