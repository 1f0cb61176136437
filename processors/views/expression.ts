import { ValidationError } from '../../core/errors.js';
import { compareValues, isNumeric, isPlainDocument, numberOf } from '../bson-order.js';

/**
 * A small evaluator for the aggregation expressions a view may use, compiled once at load into
 * closures over a decoded document. Field paths (`"$a.b"`, with MongoDB's descent into arrays of
 * documents), `$$ROOT`/`$$CURRENT`, literals (`$literal`, plain values, objects and arrays of
 * expressions) and the operators of `EXPRESSION_OPERATORS`; anything else is refused at load, so a
 * view never meets an operator it cannot evaluate. `undefined` stands for a missing field.
 */
export type Expression = (doc: Record<string, unknown>) => unknown;

export const EXPRESSION_OPERATORS = [
  '$literal',
  '$add',
  '$subtract',
  '$multiply',
  '$divide',
  '$mod',
  '$abs',
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$cmp',
  '$and',
  '$or',
  '$not',
  '$cond',
  '$ifNull',
  '$concat',
  '$toLower',
  '$toUpper',
  '$size',
  '$arrayElemAt',
] as const;

/** An expression that is refused at load; `path` says where in the pipeline. */
export class ExpressionError extends ValidationError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`, { code: 'CONFIG_INVALID' });
  }
}

/** A value an expression cannot work with at run time (e.g. `$size` of a string); the document's rows are left out and the problem logged. */
export class EvaluationError extends ValidationError {
  constructor(message: string) {
    super(message, { code: 'VIEW_EXPRESSION_FAILED' });
  }
}

const OPERATORS: ReadonlySet<string> = new Set(EXPRESSION_OPERATORS);

/** The value at a dotted path, descending into arrays of documents as aggregation field paths do. */
export function valueAtPath(value: unknown, path: readonly string[], i = 0): unknown {
  if (i === path.length) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const element of value) {
      if (!isPlainDocument(element) && !Array.isArray(element)) continue;
      const found = valueAtPath(element, path, i);
      if (found !== undefined) out.push(found);
    }
    return out;
  }
  if (!isPlainDocument(value)) return undefined;
  const segment = path[i] as string;
  return Object.hasOwn(value, segment) ? valueAtPath(value[segment], path, i + 1) : undefined;
}

function isNullish(value: unknown): boolean {
  return value === undefined || value === null;
}

/** MongoDB's truthiness in expressions: false, null, missing and 0 are false. */
export function truthy(value: unknown): boolean {
  if (isNullish(value) || value === false) return false;
  if (isNumeric(value)) return numberOf(value) !== 0;
  return true;
}

function numbers(op: string, values: unknown[]): number[] | null {
  if (values.some(isNullish)) return null;
  return values.map((v) => {
    if (!isNumeric(v)) throw new EvaluationError(`${op} only supports numeric types, not ${typeof v}`);
    return numberOf(v);
  });
}

function arithmetic(op: string, args: Expression[], fold: (values: number[]) => number): Expression {
  return (doc) => {
    const values = numbers(
      op,
      args.map((a) => a(doc)),
    );
    return values === null ? null : fold(values);
  };
}

function fixedArgs(op: string, raw: unknown, count: number, path: string, compileArg: (e: unknown, p: string) => Expression): Expression[] {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length !== count) throw new ExpressionError(path, `${op} takes ${count} argument${count === 1 ? '' : 's'}, got ${list.length}`);
  return list.map((e, i) => compileArg(e, `${path}[${i}]`));
}

function compileOperator(op: string, raw: unknown, path: string): Expression {
  const compileArg = (e: unknown, p: string): Expression => compileExpression(e, p);
  const many = (): Expression[] => (Array.isArray(raw) ? raw : [raw]).map((e, i) => compileArg(e, `${path}[${i}]`));
  const args = (n: number): Expression[] => fixedArgs(op, raw, n, path, compileArg);
  switch (op) {
    case '$literal':
      return () => raw;
    case '$add':
      return arithmetic(op, many(), (v) => v.reduce((a, b) => a + b, 0));
    case '$multiply':
      return arithmetic(op, many(), (v) => v.reduce((a, b) => a * b, 1));
    case '$subtract':
      return arithmetic(op, args(2), ([a, b]) => (a as number) - (b as number));
    case '$divide':
      return arithmetic(op, args(2), ([a, b]) => {
        if (b === 0) throw new EvaluationError('$divide by zero');
        return (a as number) / (b as number);
      });
    case '$mod':
      return arithmetic(op, args(2), ([a, b]) => {
        if (b === 0) throw new EvaluationError('$mod by zero');
        return (a as number) % (b as number);
      });
    case '$abs':
      return arithmetic(op, args(1), ([a]) => Math.abs(a as number));
    case '$eq':
    case '$ne':
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
    case '$cmp': {
      const [a, b] = args(2) as [Expression, Expression];
      const test: Record<string, (c: number) => unknown> = {
        $eq: (c) => c === 0,
        $ne: (c) => c !== 0,
        $gt: (c) => c > 0,
        $gte: (c) => c >= 0,
        $lt: (c) => c < 0,
        $lte: (c) => c <= 0,
        $cmp: (c) => c,
      };
      const decide = test[op] as (c: number) => unknown;
      // A missing field compares as null in expressions.
      return (doc) => decide(compareValues(a(doc) ?? null, b(doc) ?? null));
    }
    case '$and': {
      const list = many();
      return (doc) => list.every((e) => truthy(e(doc)));
    }
    case '$or': {
      const list = many();
      return (doc) => list.some((e) => truthy(e(doc)));
    }
    case '$not': {
      const [a] = args(1) as [Expression];
      return (doc) => !truthy(a(doc));
    }
    case '$cond': {
      const parts = isPlainDocument(raw) ? [raw['if'], raw['then'], raw['else']] : raw;
      const [test, then, otherwise] = fixedArgs(op, parts, 3, path, compileArg) as [Expression, Expression, Expression];
      return (doc) => (truthy(test(doc)) ? then(doc) : otherwise(doc));
    }
    case '$ifNull': {
      const list = many();
      if (list.length < 2) throw new ExpressionError(path, '$ifNull takes at least 2 arguments');
      return (doc) => {
        for (const e of list.slice(0, -1)) {
          const v = e(doc);
          if (!isNullish(v)) return v;
        }
        return (list[list.length - 1] as Expression)(doc) ?? null;
      };
    }
    case '$concat': {
      const list = many();
      return (doc) => {
        const parts = list.map((e) => e(doc));
        if (parts.some(isNullish)) return null;
        if (!parts.every((p) => typeof p === 'string')) throw new EvaluationError('$concat only supports strings');
        return parts.join('');
      };
    }
    case '$toLower':
    case '$toUpper': {
      const [a] = args(1) as [Expression];
      return (doc) => {
        const v = a(doc);
        if (isNullish(v)) return '';
        const text = isNumeric(v) ? String(numberOf(v)) : String(v);
        return op === '$toLower' ? text.toLowerCase() : text.toUpperCase();
      };
    }
    case '$size': {
      const [a] = args(1) as [Expression];
      return (doc) => {
        const v = a(doc);
        if (!Array.isArray(v)) throw new EvaluationError('$size needs an array');
        return v.length;
      };
    }
    case '$arrayElemAt': {
      const [a, i] = args(2) as [Expression, Expression];
      return (doc) => {
        const list = a(doc);
        const index = i(doc);
        if (isNullish(list) || isNullish(index)) return null;
        if (!Array.isArray(list) || !isNumeric(index)) throw new EvaluationError('$arrayElemAt needs an array and a number');
        const n = numberOf(index);
        return list[n < 0 ? list.length + n : n];
      };
    }
    default:
      throw new ExpressionError(path, `operator ${op} is not supported in views (supported: ${EXPRESSION_OPERATORS.join(' ')})`);
  }
}

/** Compiles an aggregation expression; `path` names it in errors (`pipeline[1].$group.n`). */
export function compileExpression(raw: unknown, path: string): Expression {
  if (typeof raw === 'string' && raw.startsWith('$$')) {
    const [variable, ...rest] = raw.slice(2).split('.');
    if (variable !== 'ROOT' && variable !== 'CURRENT') throw new ExpressionError(path, `variable $$${variable} is not supported (only $$ROOT and $$CURRENT)`);
    return (doc) => valueAtPath(doc, rest);
  }
  if (typeof raw === 'string' && raw.startsWith('$')) {
    const segments = raw.slice(1).split('.');
    if (segments.some((s) => s === '')) throw new ExpressionError(path, `"${raw}" is not a field path`);
    return (doc) => valueAtPath(doc, segments);
  }
  if (Array.isArray(raw)) {
    const items = raw.map((e, i) => compileExpression(e, `${path}[${i}]`));
    // A missing element becomes null, as aggregation does in array literals.
    return (doc) => items.map((e) => e(doc) ?? null);
  }
  if (isPlainDocument(raw)) {
    const keys = Object.keys(raw);
    const first = keys[0];
    if (first?.startsWith('$')) {
      if (keys.length !== 1) throw new ExpressionError(path, `an operator object has exactly one key, got ${keys.join(', ')}`);
      if (!OPERATORS.has(first)) throw new ExpressionError(path, `operator ${first} is not supported in views (supported: ${EXPRESSION_OPERATORS.join(' ')})`);
      return compileOperator(first, raw[first], `${path}.${first}`);
    }
    const fields = keys.map((k) => {
      if (k.startsWith('$')) throw new ExpressionError(`${path}.${k}`, 'a field name may not start with "$"');
      return [k, compileExpression(raw[k], `${path}.${k}`)] as const;
    });
    return (doc) => {
      const out: Record<string, unknown> = {};
      for (const [k, e] of fields) {
        const v = e(doc);
        if (v !== undefined) out[k] = v;
      }
      return out;
    };
  }
  return () => raw;
}
