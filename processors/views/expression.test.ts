import { compileExpression, EvaluationError, ExpressionError, truthy } from './expression.js';

const run = (expr: unknown, doc: Record<string, unknown> = {}): unknown => compileExpression(expr, 'e')(doc);

describe('view expressions', () => {
  it('reads field paths, descending into arrays of documents', () => {
    const doc = { a: { b: 1 }, items: [{ q: 2 }, { q: 3 }, { other: 1 }], n: 5 };
    expect(run('$a.b', doc)).toBe(1);
    expect(run('$items.q', doc)).toEqual([2, 3]);
    expect(run('$missing', doc)).toBeUndefined();
    expect(run('$$ROOT.n', doc)).toBe(5);
    expect(run('$$CURRENT', doc)).toBe(doc);
  });

  it('keeps literals, objects and arrays of expressions', () => {
    expect(run({ $literal: '$notAPath' })).toBe('$notAPath');
    expect(run(7)).toBe(7);
    expect(run({ x: '$n', y: '$missing' }, { n: 1 })).toEqual({ x: 1 });
    expect(run(['$n', '$missing'], { n: 1 })).toEqual([1, null]);
  });

  it('computes arithmetic, with null for a null or missing operand', () => {
    expect(run({ $add: ['$a', 2, 3] }, { a: 1 })).toBe(6);
    expect(run({ $subtract: ['$a', 2] }, { a: 1 })).toBe(-1);
    expect(run({ $multiply: [2, '$a'] }, { a: 4 })).toBe(8);
    expect(run({ $divide: [9, 3] })).toBe(3);
    expect(run({ $mod: [9, 4] })).toBe(1);
    expect(run({ $abs: -2 })).toBe(2);
    expect(run({ $add: ['$missing', 1] })).toBeNull();
    expect(() => run({ $add: ['x', 1] })).toThrow(EvaluationError);
    expect(() => run({ $divide: [1, 0] })).toThrow(EvaluationError);
  });

  it('compares in BSON order, a missing field as null', () => {
    expect(run({ $eq: ['$a', 1] }, { a: 1 })).toBe(true);
    expect(run({ $gt: ['$a', 'z'] }, { a: 1 })).toBe(false); // numbers sort before strings
    expect(run({ $eq: ['$missing', null] })).toBe(true);
    expect(run({ $cmp: [2, 1] })).toBe(1);
    expect(run({ $lte: [1, 1] })).toBe(true);
  });

  it('evaluates booleans, conditions and strings', () => {
    expect(run({ $and: [1, true, 'x'] })).toBe(true);
    expect(run({ $or: [0, null, false] })).toBe(false);
    expect(run({ $not: [0] })).toBe(true);
    expect(run({ $cond: { if: '$a', then: 'yes', else: 'no' } }, { a: 1 })).toBe('yes');
    expect(run({ $cond: [false, 'yes', 'no'] })).toBe('no');
    expect(run({ $ifNull: ['$missing', null, 'd'] })).toBe('d');
    expect(run({ $concat: ['a', '$b'] }, { b: 'c' })).toBe('ac');
    expect(run({ $concat: ['a', '$missing'] })).toBeNull();
    expect(run({ $toUpper: '$s' }, { s: 'aB' })).toBe('AB');
    expect(run({ $toLower: '$missing' })).toBe('');
    expect(run({ $size: '$l' }, { l: [1, 2] })).toBe(2);
    expect(run({ $arrayElemAt: ['$l', -1] }, { l: [1, 2] })).toBe(2);
    expect(truthy(0)).toBe(false);
    expect(truthy([])).toBe(true);
  });

  it('refuses at compile time what it cannot evaluate, naming where', () => {
    expect(() => compileExpression({ $function: {} }, 'pipeline[0].$project.x')).toThrow(/pipeline\[0\]\.\$project\.x: operator \$function is not supported/);
    expect(() => compileExpression('$$NOW', 'e')).toThrow(ExpressionError);
    expect(() => compileExpression({ $subtract: [1] }, 'e')).toThrow(/takes 2 arguments/);
    expect(() => compileExpression({ $add: [1], x: 1 }, 'e')).toThrow(/exactly one key/);
    expect(() => compileExpression('$a..b', 'e')).toThrow(/not a field path/);
  });
});
