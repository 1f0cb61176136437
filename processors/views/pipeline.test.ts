import { compilePipeline, pipelineProblem } from './pipeline.js';
import { runStages } from './document-stages.js';

const rows = (pipeline: unknown[], doc: Record<string, unknown>): unknown[] => runStages(compilePipeline(pipeline).before, [doc]);

describe('view pipelines', () => {
  it('refuses a stage outside the supported set, naming it and its position', () => {
    expect(pipelineProblem([{ $match: {} }, { $facet: {} }])?.message).toMatch(/^pipeline\[1\]\.\$facet: stage \$facet is not supported in views/);
    expect(pipelineProblem([{ $lookup: { from: 'users', localField: 'a', foreignField: '_id', as: 'u', pipeline: [] } }])?.message).toMatch(
      /pipeline\[0\]\.\$lookup: only the localField\/foreignField form/,
    );
    expect(pipelineProblem([{ $lookup: { from: 'other.users', localField: 'a', foreignField: '_id', as: 'u' } }])?.message).toMatch(
      /\$lookup\.from: a collection of the source database/,
    );
    expect(pipelineProblem([{ $group: { _id: 1 } }, { $lookup: { from: 'u', localField: 'a', foreignField: '_id', as: 'u' } }])?.message).toMatch(
      /after \$group/,
    );
    expect(pipelineProblem([{ $group: { _id: 1 } }, { $group: { _id: 1 } }])?.message).toMatch(/pipeline\[1\]\.\$group: only one \$group/);
    expect(pipelineProblem([{ $sort: { a: 1 } }])?.message).toMatch(/\$sort is supported only right before \$group/);
    expect(pipelineProblem([{ $group: { _id: 1 } }, { $unwind: '$x' }])?.message).toMatch(/\$unwind after \$group/);
    expect(pipelineProblem([{ $match: { a: { $where: 'x' } } }])?.message).toMatch(/^pipeline\[0\]\.\$match/);
    expect(pipelineProblem([{ $group: { _id: '$a', n: { $median: '$x' } } }])?.message).toMatch(/pipeline\[0\]\.\$group\.n: expected one accumulator/);
    expect(pipelineProblem([{ $project: { a: 1, b: 0 } }])?.message).toMatch(/either includes or excludes/);
    expect(pipelineProblem([{ $match: {}, $project: {} }])?.message).toMatch(/exactly one key/);
    expect(
      pipelineProblem([{ $match: { a: 1 } }, { $sort: { n: -1 } }, { $group: { _id: '$a', f: { $first: '$n' } } }, { $project: { f: 1 } }]),
    ).toBeUndefined();
  });

  it('$match keeps or drops a document', () => {
    expect(rows([{ $match: { deleted: { $ne: true } } }], { _id: 1 })).toHaveLength(1);
    expect(rows([{ $match: { deleted: { $ne: true } } }], { _id: 1, deleted: true })).toHaveLength(0);
  });

  it('$project includes, excludes and computes', () => {
    const doc = { _id: 1, a: 1, b: { c: 2, d: 3 }, l: [{ c: 1, x: 0 }, 5] };
    expect(rows([{ $project: { a: 1, 'b.c': 1, l: { c: 1 } } }], doc)).toEqual([{ _id: 1, a: 1, b: { c: 2 } }].map((r) => ({ ...r, l: { c: 1 } })));
    expect(rows([{ $project: { a: 1, 'l.c': 1 } }], doc)).toEqual([{ _id: 1, a: 1, l: [{ c: 1 }] }]);
    expect(rows([{ $project: { _id: 0, b: 0 } }], doc)).toEqual([{ a: 1, l: doc.l }]);
    expect(rows([{ $project: { _id: 0, s: { $add: ['$a', '$b.c'] } } }], doc)).toEqual([{ s: 3 }]);
  });

  it('$addFields/$set compute from the input document; $unset removes', () => {
    expect(rows([{ $set: { a: '$n', 'x.y': { $add: ['$n', 1] } } }], { _id: 1, n: 2 })).toEqual([{ _id: 1, n: 2, a: 2, x: { y: 3 } }]);
    expect(rows([{ $addFields: { n: '$missing' } }], { _id: 1, n: 2 })).toEqual([{ _id: 1 }]);
    expect(rows([{ $unset: ['n', 'x.y'] }], { _id: 1, n: 2, x: { y: 1, z: 2 } })).toEqual([{ _id: 1, x: { z: 2 } }]);
  });

  it('$replaceRoot and $unwind', () => {
    expect(rows([{ $replaceRoot: { newRoot: '$inner' } }], { _id: 1, inner: { _id: 2, a: 1 } })).toEqual([{ _id: 2, a: 1 }]);
    expect(rows([{ $unwind: '$t' }], { _id: 1, t: ['a', 'b'] })).toEqual([
      { _id: 1, t: 'a' },
      { _id: 1, t: 'b' },
    ]);
    expect(rows([{ $unwind: '$t' }], { _id: 1, t: [] })).toEqual([]);
    expect(rows([{ $unwind: '$t' }], { _id: 1, t: 'x' })).toEqual([{ _id: 1, t: 'x' }]);
    expect(rows([{ $unwind: { path: '$t', preserveNullAndEmptyArrays: true, includeArrayIndex: 'i' } }], { _id: 1 })).toEqual([{ _id: 1, i: null }]);
    expect(rows([{ $unwind: { path: '$t', includeArrayIndex: 'i' } }], { _id: 1, t: [7] })).toEqual([{ _id: 1, t: 7, i: 0 }]);
  });
});
