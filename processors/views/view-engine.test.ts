import { compilePipeline } from './pipeline.js';
import { ViewEngine, type RowChange } from './view-engine.js';

const perChat = [{ $match: { deleted: { $ne: true } } }, { $group: { _id: '$chat', n: { $sum: 1 }, last: { $max: '$at' }, avg: { $avg: '$at' } } }];
const summary = (changes: RowChange[]): unknown[] =>
  changes.map((c) => [c.before === undefined ? 'insert' : c.after === undefined ? 'delete' : 'update', c.after ?? c.id]);

describe('ViewEngine', () => {
  it('keeps a $group as documents come, change group, move out of the $match and go', () => {
    const view = new ViewEngine(compilePipeline(perChat));
    view.applyDocument('m1', { _id: 'm1', chat: 'a', at: 1 });
    view.applyDocument('m2', { _id: 'm2', chat: 'a', at: 5 });
    expect(summary(view.takeChanges())).toEqual([['insert', { _id: 'a', n: 2, last: 5, avg: 3 }]]);
    view.applyDocument('m2', { _id: 'm2', chat: 'b', at: 5 }); // group key changes
    expect(summary(view.takeChanges())).toEqual([
      ['update', { _id: 'a', n: 1, last: 1, avg: 1 }],
      ['insert', { _id: 'b', n: 1, last: 5, avg: 5 }],
    ]);
    view.applyDocument('m1', { _id: 'm1', chat: 'a', at: 1, deleted: true }); // leaves the $match
    expect(summary(view.takeChanges())).toEqual([['delete', 'a']]);
    view.applyDocument('m1', { _id: 'm1', chat: 'b', at: 9 }); // comes back, elsewhere
    view.applyDocument('m2', null);
    expect(summary(view.takeChanges())).toEqual([['update', { _id: 'b', n: 1, last: 9, avg: 9 }]]);
    expect(view.allRows()).toEqual([{ _id: 'b', n: 1, last: 9, avg: 9 }]);
  });

  it('reports nothing for a change that changes no row', () => {
    const view = new ViewEngine(compilePipeline(perChat));
    view.applyDocument('m1', { _id: 'm1', chat: 'a', at: 1 });
    view.takeChanges();
    view.applyDocument('m1', { _id: 'm1', chat: 'a', at: 1, text: 'edited' });
    expect(view.takeChanges()).toEqual([]);
  });

  it('orders $first, $last and $push by the $sort before the $group', () => {
    const view = new ViewEngine(
      compilePipeline([
        { $sort: { at: -1 } },
        { $group: { _id: null, first: { $first: '$at' }, last: { $last: '$at' }, all: { $push: '$at' }, set: { $addToSet: '$k' } } },
      ]),
    );
    for (const [id, at, k] of [
      ['x', 2, 'p'],
      ['y', 3, 'q'],
      ['z', 1, 'p'],
    ] as const)
      view.applyDocument(id, { _id: id, at, k });
    expect(view.allRows()).toEqual([{ _id: null, first: 3, last: 1, all: [3, 2, 1], set: ['p', 'q'] }]);
    view.applyDocument('y', null);
    expect(view.allRows()).toEqual([{ _id: null, first: 2, last: 1, all: [2, 1], set: ['p'] }]);
  });

  it('without $group a document owns its rows; $unwind rows with a new _id; after-$group stages run on group rows', () => {
    const unwound = new ViewEngine(compilePipeline([{ $unwind: '$tags' }, { $project: { _id: '$tags' } }]));
    unwound.applyDocument('d1', { _id: 'd1', tags: ['a', 'b'] });
    unwound.takeChanges();
    unwound.applyDocument('d1', { _id: 'd1', tags: ['b', 'c'] });
    expect(summary(unwound.takeChanges())).toEqual([
      ['delete', 'a'],
      ['insert', { _id: 'c' }],
    ]);
    const filtered = new ViewEngine(compilePipeline([{ $group: { _id: '$k', n: { $count: {} } } }, { $match: { n: { $gte: 2 } } }, { $set: { big: true } }]));
    filtered.applyDocument('1', { _id: 1, k: 'a' });
    expect(filtered.takeChanges()).toEqual([]);
    filtered.applyDocument('2', { _id: 2, k: 'a' });
    expect(summary(filtered.takeChanges())).toEqual([['insert', { _id: 'a', n: 2, big: true }]]);
  });

  it('sums non-integers again instead of subtracting them (no drift)', () => {
    const view = new ViewEngine(compilePipeline([{ $group: { _id: null, s: { $sum: '$x' } } }]));
    view.applyDocument('1', { _id: 1, x: 0.1 });
    view.applyDocument('2', { _id: 2, x: 0.2 });
    view.applyDocument('1', null);
    expect(view.allRows()).toEqual([{ _id: null, s: 0.2 }]);
  });

  it('leaves out, and reports, a document an expression fails on', () => {
    const view = new ViewEngine(compilePipeline([{ $project: { n: { $size: '$l' } } }]));
    view.applyDocument('1', { _id: 1, l: 'not an array' });
    expect(view.allRows()).toEqual([]);
    expect(view.problems[0]).toMatch(/\$size needs an array/);
  });
});

describe('ViewEngine with $lookup', () => {
  const withSender = [
    { $lookup: { from: 'users', localField: 'sender', foreignField: '_id', as: 'from' } },
    { $project: { text: 1, senderName: { $arrayElemAt: ['$from.name', 0] } } },
  ];

  it('joins the foreign documents, and a foreign change updates every joined row (and only those)', () => {
    const view = new ViewEngine(compilePipeline(withSender));
    view.applyForeign('u1', { _id: 'u1', name: 'Ann' });
    view.applyDocument('m1', { _id: 'm1', sender: 'u1', text: 'hi' });
    view.applyDocument('m2', { _id: 'm2', sender: 'u1', text: 'yo' });
    view.applyDocument('m3', { _id: 'm3', sender: 'u2', text: 'hey' });
    expect(view.allRows()).toEqual([
      { _id: 'm1', text: 'hi', senderName: 'Ann' },
      { _id: 'm2', text: 'yo', senderName: 'Ann' },
      { _id: 'm3', text: 'hey' },
    ]);
    view.takeChanges();
    view.applyForeign('u1', { _id: 'u1', name: 'Anne' });
    expect(summary(view.takeChanges())).toEqual([
      ['update', { _id: 'm1', text: 'hi', senderName: 'Anne' }],
      ['update', { _id: 'm2', text: 'yo', senderName: 'Anne' }],
    ]);
    view.applyForeign('u2', { _id: 'u2', name: 'Bob' });
    view.applyForeign('u1', null);
    expect(summary(view.takeChanges())).toEqual([
      ['update', { _id: 'm3', text: 'hey', senderName: 'Bob' }],
      ['update', { _id: 'm1', text: 'hi' }],
      ['update', { _id: 'm2', text: 'yo' }],
    ]);
  });

  it('keeps a $group over joined rows', () => {
    const view = new ViewEngine(
      compilePipeline([
        { $lookup: { from: 'users', localField: 'sender', foreignField: '_id', as: 'u' } },
        { $unwind: '$u' },
        { $group: { _id: '$u.team', n: { $sum: 1 } } },
      ]),
    );
    view.applyDocument('m1', { _id: 'm1', sender: 'u1' });
    view.applyDocument('m2', { _id: 'm2', sender: 'u1' });
    expect(view.allRows()).toEqual([]);
    view.applyForeign('u1', { _id: 'u1', team: 'red' });
    expect(view.allRows()).toEqual([{ _id: 'red', n: 2 }]);
    view.applyForeign('u1', { _id: 'u1', team: 'blue' });
    expect(summary(view.takeChanges())).toEqual([['insert', { _id: 'blue', n: 2 }]]);
    expect(view.allRows()).toEqual([{ _id: 'blue', n: 2 }]);
  });
});
