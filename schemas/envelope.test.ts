import { ZodError } from 'zod';
import { changeEventSchema, isChangeEventShape, parseChangeEvent } from './envelope.js';

const insert = {
  v: 1,
  id: '8265A3F1C2000000012B022C0100296E5A1004',
  op: 'insert',
  ns: { db: 'shop', coll: 'orders' },
  documentKey: { _id: { $numberInt: '7' } },
  fullDocument: { _id: { $numberInt: '7' }, name: 'x', at: { $date: { $numberLong: '1700000000000' } } },
  clusterTime: { t: 1700000000, i: 3 },
  wallTime: '2023-11-14T22:13:20.000Z',
  source: { name: 'main', cluster: 'rs0' },
};
const update = {
  ...insert,
  op: 'update',
  fullDocument: null,
  updateDescription: { updatedFields: { name: 'y' }, removedFields: ['old'], truncatedArrays: [] },
};
const rename = { v: 1, id: 'r1', op: 'rename', ns: { db: 'shop', coll: 'a' }, to: { db: 'shop', coll: 'b' }, source: { name: 'main', cluster: 'rs0' } };
const dropDatabase = { v: 1, id: 'd1', op: 'dropDatabase', ns: { db: 'shop' }, source: { name: 'main', cluster: 'rs0' } };

/** Variants of a valid event with one part changed: replaced, removed, or given an extra key. */
function mutations(base: Record<string, unknown>): unknown[] {
  const odd: unknown[] = [
    undefined,
    null,
    0,
    1,
    2,
    '',
    'x',
    true,
    [],
    ['a'],
    [1],
    {},
    { db: 'x' },
    { db: 'x', coll: 'y' },
    { db: 'x', coll: 1 },
    { db: 'x', extra: 'y' },
    { t: 1, i: 2 },
    { t: '1', i: 2 },
    { t: 1, i: 2, x: 3 },
    { name: 'a', cluster: 'b' },
    { name: 'a' },
    { updatedFields: {}, removedFields: [] },
    { updatedFields: {}, removedFields: [1] },
    { updatedFields: [], removedFields: [] },
    { updatedFields: {}, removedFields: [], truncatedArrays: {} },
    { lsid: 1, txnNumber: 2 },
  ];
  const out: unknown[] = [];
  const keys = [...Object.keys(base), 'to', 'updateDescription', 'txn', 'fullDocumentBeforeChange', 'extra'];
  for (const key of keys) {
    for (const value of odd) out.push({ ...base, [key]: value });
    const rest = { ...base };
    delete rest[key];
    out.push(rest);
    const nested = base[key];
    if (typeof nested === 'object' && nested !== null && !Array.isArray(nested)) {
      for (const inner of Object.keys(nested)) for (const value of odd) out.push({ ...base, [key]: { ...nested, [inner]: value } });
      out.push({ ...base, [key]: { ...nested, extra: 'x' } });
    }
  }
  return out;
}

describe('envelope fast check', () => {
  it('takes the fast path for the shapes the source writes', () => {
    for (const event of [insert, update, rename, dropDatabase]) {
      expect(isChangeEventShape(JSON.parse(JSON.stringify(event)))).toBe(true);
      expect(parseChangeEvent(JSON.stringify(event))).toEqual(changeEventSchema.parse(event));
    }
  });

  it('never accepts what the schema rejects', () => {
    let checked = 0;
    for (const base of [insert, update, rename, dropDatabase]) {
      for (const candidate of mutations(base)) {
        // Through JSON, as a record value arrives (undefined properties drop out).
        const json: unknown = JSON.parse(JSON.stringify(candidate) ?? 'null');
        if (isChangeEventShape(json)) expect(changeEventSchema.safeParse(json).success).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('falls back to the schema, which explains what is wrong', () => {
    expect(() => parseChangeEvent(JSON.stringify({ ...insert, op: 'upsert' }))).toThrow(ZodError);
    expect(() => parseChangeEvent(JSON.stringify({ ...insert, ns: { db: 'shop', extra: 1 } }))).toThrow(/ns/);
    expect(() => parseChangeEvent('[1]')).toThrow(ZodError);
    expect(() => parseChangeEvent('{')).toThrow(SyntaxError);
  });

  it('leaves rarer envelopes to the schema, which still accepts them', () => {
    const txn = { ...insert, txn: { lsid: { id: 'x' }, txnNumber: { $numberLong: '1' } } };
    expect(isChangeEventShape(txn)).toBe(false);
    expect(parseChangeEvent(JSON.stringify(txn)).txn).toEqual(txn.txn);
  });
});
