import { makeChangeEvent } from '../testing/processors/events.js';
import { compileEventFilter } from './event-filter.js';

const insert = makeChangeEvent({ db: 'shop', coll: 'orders', docId: 1, seq: 7, fields: { qty: 12, status: 'paid' } });
const update = makeChangeEvent({ db: 'shop', coll: 'orders', docId: 2, seq: 8, op: 'update', fields: { qty: 3, status: 'new' } });
const remove = makeChangeEvent({ db: 'shop', coll: 'orders', docId: 3, seq: 9, op: 'delete' });

describe('compileEventFilter', () => {
  it('passes everything without operationTypes or match', () => {
    const filter = compileEventFilter(undefined, undefined);
    expect([insert, update, remove].map(filter)).toEqual([true, true, true]);
  });

  it('keeps only the listed operation types', () => {
    const filter = compileEventFilter(['insert', 'delete'], undefined);
    expect([insert, update, remove].map(filter)).toEqual([true, false, true]);
  });

  it('evaluates match on decoded BSON values (Int32 compares as a number, Dates as dates)', () => {
    expect([insert, update].map(compileEventFilter(undefined, { 'fullDocument.qty': { $gt: 5 } }))).toEqual([true, false]);
    expect([insert, update].map(compileEventFilter(undefined, { 'fullDocument.status': { $in: ['paid', 'shipped'] }, op: 'insert' }))).toEqual([true, false]);
    expect([insert, update].map(compileEventFilter(undefined, { 'fullDocument.at': { $gte: new Date(1_700_000_000_008) } }))).toEqual([false, true]);
    expect([insert, remove].map(compileEventFilter(undefined, { fullDocument: { $exists: false } }))).toEqual([false, true]);
  });

  it('accepts Extended JSON in the filter (as YAML or the API can only carry JSON)', () => {
    const filter = compileEventFilter(undefined, { 'fullDocument.ref': { $oid: (7).toString(16).padStart(24, '0') } });
    expect([insert, update].map(filter)).toEqual([true, false]);
  });

  it('combines operationTypes and match', () => {
    const filter = compileEventFilter(['update'], { 'fullDocument.qty': { $lt: 5 } });
    expect([insert, update, remove].map(filter)).toEqual([false, true, false]);
  });

  it('rejects an invalid filter, naming where it is', () => {
    expect(() => compileEventFilter(undefined, { qty: { $bogus: 1 } }, 'triggers[2].match')).toThrow(
      /triggers\[2\]\.match\.qty: operator \$bogus is not allowed \(unknown operator; allowed: /,
    );
  });
});

describe('compileEventFilter decodes only what the filter reads', () => {
  it('still sees fields the filter names, and absent ones as missing', () => {
    expect([insert, remove].map(compileEventFilter(undefined, { 'ns.coll': 'orders', fullDocument: { $exists: true } }))).toEqual([true, false]);
    expect([insert].map(compileEventFilter(undefined, { $or: [{ 'documentKey._id': 1 }, { nothing: 1 }] }))).toEqual([true]);
    expect([insert].map(compileEventFilter(undefined, { '__proto__.x': { $exists: false } }))).toEqual([true]);
  });
});
