import { randomBytes } from 'node:crypto';

/**
 * A change-event-like JSON document of exactly `bytes` bytes: field names and small values repeat
 * (as in real documents) and a base64 blob does not, so compression gains are realistic, not 100×.
 */
export function jsonPayload(bytes: number, seq: number): Buffer {
  const doc = {
    v: 1,
    id: `82${seq.toString(16).padStart(12, '0')}2B022C0100296E5A1004`,
    op: 'insert',
    ns: { db: 'shop', coll: 'orders' },
    documentKey: { _id: { $oid: `65a1b2c3d4e5f6${seq.toString(16).padStart(10, '0')}` } },
    fullDocument: { status: 'paid', customer: `customer-${seq % 5000}`, total: { $numberDecimal: `${(seq % 997) + 0.99}` }, note: '' },
    clusterTime: { t: 1_700_000_000 + Math.floor(seq / 100), i: seq % 100 },
  };
  const base = Buffer.byteLength(JSON.stringify(doc));
  const room = Math.max(0, bytes - base);
  // Half random (incompressible), half repeated text.
  const random = randomBytes(Math.ceil(room / 4))
    .toString('base64')
    .slice(0, Math.floor(room / 2));
  doc.fullDocument.note = (random + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(room / 27) + 1)).slice(0, room);
  const out = Buffer.from(JSON.stringify(doc));
  return out.length === bytes ? out : Buffer.concat([out, Buffer.alloc(Math.max(0, bytes - out.length), 32)]).subarray(0, Math.max(bytes, out.length));
}

/** A pool of distinct payloads, reused round-robin so generating them costs nothing during a run. */
export function payloadPool(bytes: number, size = 1024): Buffer[] {
  return Array.from({ length: size }, (_, i) => jsonPayload(bytes, i));
}
