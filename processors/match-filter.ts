import { EJSON } from '../schemas/bson.js';
import { ValidationError } from '../core/errors.js';
import { BSON_TYPE_ALIASES, isNumeric, isPlainDocument, isRegExp, numberOf } from './bson-order.js';
import { compileLinearRegex } from './linear-regex.js';

/**
 * A trigger's `match` checked and compiled into data: a tree the evaluator (match-evaluate.ts) walks.
 * Filters are data, never code: only the operators below exist, and nothing a tenant sends is compiled
 * into host code (a `$regex` runs on V8's linear-time engine).
 */

export const FIELD_OPERATORS = [
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$exists',
  '$type',
  '$size',
  '$all',
  '$elemMatch',
  '$regex',
  '$options',
  '$not',
  '$mod',
] as const;
export const LOGICAL_OPERATORS = ['$and', '$or', '$nor'] as const;
export const ALLOWED_OPERATORS: readonly string[] = [...FIELD_OPERATORS, ...LOGICAL_OPERATORS];

/** Named only to say why they are refused; every operator not in ALLOWED_OPERATORS is refused too. */
const CODE_OPERATORS = new Set(['$where', '$function', '$accumulator', '$expr']);

export const MAX_FILTER_DEPTH = 20;
export const MAX_FILTER_NODES = 2_000;
export const MAX_FILTER_CHARS = 64 * 1024;

export type Comparison = '$gt' | '$gte' | '$lt' | '$lte';

export type ValueTest =
  | { op: '$eq'; value: unknown }
  | { op: Comparison; value: unknown }
  | { op: '$in'; values: readonly unknown[]; regexes: readonly RegExp[] }
  | { op: '$exists'; value: boolean }
  | { op: '$type'; types: ReadonlySet<string> }
  | { op: '$size'; value: number }
  | { op: '$all'; items: readonly ValueTest[] }
  | { op: '$elemMatch'; filter: FilterNode }
  | { op: '$elemMatchValue'; tests: readonly ValueTest[] }
  | { op: '$regex'; regex: RegExp }
  | { op: '$mod'; divisor: number; remainder: number }
  | { op: '$not'; tests: readonly ValueTest[] };

export type FilterNode =
  { kind: '$and' | '$or' | '$nor'; children: readonly FilterNode[] } | { kind: 'field'; path: readonly string[]; tests: readonly ValueTest[] };

/** Extended JSON type wrappers a filter may use to name BSON values, with the keys each may have. */
const EJSON_WRAPPERS: Readonly<Record<string, readonly string[]>> = {
  $oid: ['$oid'],
  $date: ['$date'],
  $numberInt: ['$numberInt'],
  $numberLong: ['$numberLong'],
  $numberDouble: ['$numberDouble'],
  $numberDecimal: ['$numberDecimal'],
  $binary: ['$binary', '$type'],
  $uuid: ['$uuid'],
  $timestamp: ['$timestamp'],
  $regularExpression: ['$regularExpression'],
  $minKey: ['$minKey'],
  $maxKey: ['$maxKey'],
  $symbol: ['$symbol'],
  $code: ['$code', '$scope'],
  $dbPointer: ['$dbPointer'],
  $undefined: ['$undefined'],
  $ref: ['$ref', '$id', '$db'],
};

const EJSON_KEYS: ReadonlySet<string> = new Set(Object.values(EJSON_WRAPPERS).flat());

/** The first `$` key inside an Extended JSON wrapper that is no Extended JSON key (the parser would ignore it). */
function strayKeyIn(value: unknown, depth = 0): string | undefined {
  if (depth > MAX_FILTER_DEPTH || typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    if (key.startsWith('$') && !EJSON_KEYS.has(key)) return key;
    const found = strayKeyIn(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function isEjsonWrapper(value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  const first = keys[0];
  const allowed = first !== undefined && Object.hasOwn(EJSON_WRAPPERS, first) ? EJSON_WRAPPERS[first] : undefined;
  return allowed !== undefined && keys.every((k) => allowed.includes(k));
}

/** A filter that is not accepted; `message` names where (`match.fullDocument.x: ...`). */
export class MatchFilterError extends ValidationError {
  constructor(
    /** Where the filter is (`match`, `triggers[0].match`). */
    readonly root: string,
    /** The path inside the filter (`fullDocument.x`, `$or[1].b`), empty for the filter itself. */
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path === '' ? root : `${root}.${path}`}: ${reason}`, { code: 'CONFIG_INVALID' });
  }
}

function refusedOperator(op: string): string {
  const why = CODE_OPERATORS.has(op) ? 'filters are data, never code' : 'unknown operator';
  return `operator ${op} is not allowed (${why}; allowed: ${ALLOWED_OPERATORS.join(' ')})`;
}

class Compiler {
  private nodes = 0;
  private chars = 0;

  constructor(private readonly root: string) {}

  private fail(path: string, reason: string): never {
    throw new MatchFilterError(this.root, path, reason);
  }

  private count(path: string, depth: number, text = ''): void {
    this.nodes++;
    this.chars += text.length;
    if (depth > MAX_FILTER_DEPTH) this.fail(path, `nested deeper than ${MAX_FILTER_DEPTH} levels; filters are limited in depth`);
    if (this.nodes > MAX_FILTER_NODES) this.fail(path, `more than ${MAX_FILTER_NODES} values in one filter; filters are limited in size`);
    if (this.chars > MAX_FILTER_CHARS)
      this.fail(path, `more than ${MAX_FILTER_CHARS} characters of keys and strings in one filter; filters are limited in size`);
  }

  /** A top-level filter document (or one inside $and/$or/$nor or a document $elemMatch). */
  filter(value: unknown, path: string, depth: number): FilterNode {
    this.count(path, depth);
    if (!isPlainDocument(value)) this.fail(path, 'expected a filter document, e.g. {"fullDocument.status": "paid"}');
    const children: FilterNode[] = [];
    for (const [key, inner] of Object.entries(value)) {
      this.count(path, depth, key);
      const at = path === '' ? key : `${path}.${key}`;
      if (key === '$and' || key === '$or' || key === '$nor') {
        if (!Array.isArray(inner) || inner.length === 0) this.fail(at, `${key} needs a non-empty array of filter documents`);
        children.push({ kind: key, children: inner.map((item, i) => this.filter(item, `${at}[${i}]`, depth + 1)) });
      } else if (key.startsWith('$')) {
        this.fail(path, refusedOperator(key));
      } else {
        children.push({ kind: 'field', path: this.fieldPath(key, at), tests: this.fieldValue(inner, at, depth + 1) });
      }
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: '$and', children };
  }

  private fieldPath(key: string, at: string): string[] {
    const segments = key.split('.');
    if (segments.some((s) => s === '')) this.fail(at, 'a field path has no empty segments (e.g. "fullDocument.status")');
    if (segments.some((s) => s.startsWith('$')))
      this.fail(at, `field path segments may not start with $ (${key}); operators go in the value, e.g. {"a": {"$gt": 1}}`);
    return segments;
  }

  private isOperatorObject(value: unknown): value is Record<string, unknown> {
    return isPlainDocument(value) && Object.keys(value).some((k) => k.startsWith('$')) && !isEjsonWrapper(value);
  }

  /** What a field's value means: `{ $op: ... }` tests, a regex, or equality with a literal. */
  private fieldValue(value: unknown, path: string, depth: number): ValueTest[] {
    if (this.isOperatorObject(value)) return this.operators(value, path, depth);
    const literal = this.literal(value, path, depth);
    const regex = this.regexOf(literal, path);
    return [regex ? { op: '$regex', regex } : { op: '$eq', value: literal }];
  }

  private operators(spec: Record<string, unknown>, path: string, depth: number): ValueTest[] {
    this.count(path, depth);
    const tests: ValueTest[] = [];
    for (const [op, arg] of Object.entries(spec)) {
      this.count(path, depth, op);
      tests.push(...this.operator(op, arg, spec, path, depth + 1));
    }
    return tests;
  }

  private operator(op: string, arg: unknown, spec: Record<string, unknown>, path: string, depth: number): ValueTest[] {
    switch (op) {
      case '$eq':
        return [{ op, value: this.literal(arg, path, depth) }];
      case '$ne':
        return [{ op: '$not', tests: [{ op: '$eq', value: this.literal(arg, path, depth) }] }];
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        return [{ op, value: this.literal(arg, path, depth) }];
      case '$in':
      case '$nin': {
        if (!Array.isArray(arg)) this.fail(path, `${op} needs an array of values`);
        const values: unknown[] = [];
        const regexes: RegExp[] = [];
        arg.forEach((item, i) => {
          const literal = this.literal(item, `${path}.${op}[${i}]`, depth + 1);
          const regex = this.regexOf(literal, path);
          if (regex) regexes.push(regex);
          else values.push(literal);
        });
        const test: ValueTest = { op: '$in', values, regexes };
        return [op === '$in' ? test : { op: '$not', tests: [test] }];
      }
      case '$exists':
        if (typeof arg === 'object' && arg !== null && !isNumeric(arg)) this.fail(path, '$exists needs true or false');
        return [{ op, value: isNumeric(arg) ? numberOf(arg) !== 0 : Boolean(arg) }];
      case '$type':
        return [{ op, types: this.types(arg, path) }];
      case '$size': {
        if (!isNumeric(arg) || !Number.isInteger(numberOf(arg)) || numberOf(arg) < 0) this.fail(path, '$size needs a non-negative integer');
        return [{ op, value: numberOf(arg) }];
      }
      case '$all': {
        if (!Array.isArray(arg)) this.fail(path, '$all needs an array');
        return [{ op, items: arg.map((item, i) => this.allItem(item, `${path}.$all[${i}]`, depth + 1)) }];
      }
      case '$elemMatch':
        return [this.elemMatch(arg, path, depth)];
      case '$regex':
        return [{ op, regex: this.regex(arg, spec['$options'], path) }];
      case '$options':
        if (!('$regex' in spec)) this.fail(path, '$options needs a $regex beside it');
        return [];
      case '$not': {
        if (this.isOperatorObject(arg)) return [{ op, tests: this.operators(arg, path, depth) }];
        const regex = this.regexOf(this.literal(arg, path, depth), path);
        if (!regex) this.fail(path, '$not needs an operator document (e.g. {"$gt": 5}) or a regular expression');
        return [{ op, tests: [{ op: '$regex', regex }] }];
      }
      case '$mod': {
        if (!Array.isArray(arg) || arg.length !== 2 || !arg.every(isNumeric)) this.fail(path, '$mod needs [divisor, remainder], two numbers');
        const [divisor, remainder] = arg.map((n) => Math.trunc(numberOf(n))) as [number, number];
        if (divisor === 0 || !Number.isFinite(divisor) || !Number.isFinite(remainder)) this.fail(path, '$mod needs a finite, non-zero divisor');
        return [{ op, divisor, remainder }];
      }
      default:
        return this.fail(path, refusedOperator(op));
    }
  }

  private allItem(item: unknown, path: string, depth: number): ValueTest {
    if (isPlainDocument(item) && Object.keys(item).length === 1 && '$elemMatch' in item) return this.elemMatch(item['$elemMatch'], path, depth);
    const literal = this.literal(item, path, depth);
    const regex = this.regexOf(literal, path);
    return regex ? { op: '$regex', regex } : { op: '$eq', value: literal };
  }

  private elemMatch(arg: unknown, path: string, depth: number): ValueTest {
    if (!isPlainDocument(arg)) this.fail(path, '$elemMatch needs a document (a filter for each element, or operators such as {"$gt": 5})');
    const keys = Object.keys(arg);
    const valueForm = keys.length > 0 && keys.every((k) => k.startsWith('$') && !(LOGICAL_OPERATORS as readonly string[]).includes(k));
    return valueForm
      ? { op: '$elemMatchValue', tests: this.operators(arg, path, depth + 1) }
      : { op: '$elemMatch', filter: this.filter(arg, `${path}.$elemMatch`, depth + 1) };
  }

  private types(arg: unknown, path: string): Set<string> {
    const items = Array.isArray(arg) ? arg : [arg];
    if (items.length === 0) this.fail(path, '$type needs a type name or code (or an array of them)');
    return new Set(
      items.map((t) => {
        if (typeof t === 'string' && BSON_TYPE_ALIASES.includes(t)) return t;
        if (
          isNumeric(t) &&
          ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '-1', '127'].includes(String(numberOf(t)))
        )
          return String(numberOf(t));
        return this.fail(path, `$type ${JSON.stringify(t)} is not a BSON type (use one of ${BSON_TYPE_ALIASES.join(', ')}, or its number)`);
      }),
    );
  }

  private regex(pattern: unknown, options: unknown, path: string): RegExp {
    let source: string;
    let flags = '';
    if (typeof pattern === 'string') source = pattern;
    else if (isRegExp(pattern)) [source, flags] = [pattern.source, pattern.flags];
    else return this.fail(path, '$regex needs a string pattern');
    if (options !== undefined && typeof options !== 'string') this.fail(path, '$options needs a string such as "i"');
    this.count(path, 0, source);
    const result = compileLinearRegex(source, `${flags}${options ?? ''}`);
    if ('problem' in result) this.fail(path, result.problem);
    return result.regex;
  }

  /** A literal that is a regular expression (a JS RegExp from code, or Extended JSON's $regularExpression). */
  private regexOf(literal: unknown, path: string): RegExp | undefined {
    if (isRegExp(literal)) return this.regex(literal, undefined, path);
    if (typeof literal === 'object' && literal !== null && (literal as { _bsontype?: unknown })._bsontype === 'BSONRegExp') {
      const r = literal as { pattern: string; options: string };
      return this.regex(r.pattern, r.options, path);
    }
    return undefined;
  }

  /** A value compared with the document's: plain JSON, typed values from code, or Extended JSON wrappers. */
  private literal(value: unknown, path: string, depth: number): unknown {
    this.count(path, depth, typeof value === 'string' ? value : '');
    if (Array.isArray(value)) return value.map((item) => this.literal(item, path, depth + 1));
    if (!isPlainDocument(value)) return value;
    if (isEjsonWrapper(value)) {
      const stray = strayKeyIn(value);
      if (stray) this.fail(path, refusedOperator(stray));
      try {
        return EJSON.deserialize(value, { relaxed: false });
      } catch (error) {
        return this.fail(path, `${Object.keys(value)[0]}: not valid Extended JSON (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      this.count(path, depth, key);
      if (key.startsWith('$')) this.fail(path, `${refusedOperator(key)}; a document value may not have $ keys other than Extended JSON types`);
      // defineProperty, not assignment: a "__proto__" key is data here, never the prototype.
      Object.defineProperty(out, key, { value: this.literal(inner, path, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}

/**
 * Checks and compiles a `match`; throws a MatchFilterError naming the path of the first problem
 * (`<where>.fullDocument.x: operator $where is not allowed ...`).
 */
export function compileMatch(match: unknown, where = 'match'): FilterNode {
  return new Compiler(where).filter(match, '', 0);
}

/** The problem with a `match`, or undefined when it would run: for schema checks that collect every problem. */
export function matchProblem(match: unknown, where = 'match'): string | undefined {
  try {
    compileMatch(match, where);
    return undefined;
  } catch (error) {
    if (error instanceof MatchFilterError) return error.message;
    throw error;
  }
}

/** The top-level fields a filter reads (the first segment of each path), so a caller decodes only those. */
export function rootFields(node: FilterNode, out: Set<string> = new Set()): Set<string> {
  if (node.kind === 'field') out.add(node.path[0] as string);
  else for (const child of node.children) rootFields(child, out);
  return out;
}
