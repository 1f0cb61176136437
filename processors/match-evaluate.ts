import { MISSING, bracketOf, bsonTypeNames, compareValues, isNumeric, isPlainDocument, numberOf, valuesEqual } from './bson-order.js';
import type { FilterNode, ValueTest } from './match-filter.js';

/**
 * Evaluates a compiled filter on a decoded document with MongoDB's query semantics: a dotted path
 * descends into arrays of documents (and numeric segments index arrays), and a test on a field holds
 * when it holds for the value or, for an array, for one of its elements. Negations (`$ne`, `$nin`,
 * `$not`) negate the whole positive test, as MongoDB does.
 */

type Candidate = unknown;

function collect(value: unknown, path: readonly string[], i: number, out: Candidate[]): void {
  if (i === path.length) {
    out.push(value);
    return;
  }
  const segment = path[i] as string;
  if (Array.isArray(value)) {
    const before = out.length;
    if (/^\d+$/.test(segment)) {
      const index = Number(segment);
      if (index < value.length) collect(value[index], path, i + 1, out);
    }
    for (const element of value) {
      if (isPlainDocument(element)) collect(element, path, i, out);
    }
    if (out.length === before) out.push(MISSING);
    return;
  }
  if (isPlainDocument(value) && Object.hasOwn(value, segment)) collect(value[segment], path, i + 1, out);
  else out.push(MISSING);
}

function isNullish(value: unknown): boolean {
  return value === MISSING || value === null || value === undefined;
}

/** Does the test hold on this one value (not looking into arrays)? */
function holdsOnValue(test: ValueTest, value: unknown): boolean {
  switch (test.op) {
    case '$eq':
      return test.value === null ? isNullish(value) : value !== MISSING && valuesEqual(value, test.value);
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      if (test.value === null) return (test.op === '$gte' || test.op === '$lte') && isNullish(value);
      if (value === MISSING || bracketOf(value) !== bracketOf(test.value)) return false;
      const d = compareValues(value, test.value);
      return test.op === '$gt' ? d > 0 : test.op === '$gte' ? d >= 0 : test.op === '$lt' ? d < 0 : d <= 0;
    }
    case '$in':
      return test.values.some((v) => holdsOnValue({ op: '$eq', value: v }, value)) || (typeof value === 'string' && test.regexes.some((r) => r.test(value)));
    case '$regex':
      return (
        (typeof value === 'string' || (typeof value === 'object' && value !== null && (value as { _bsontype?: unknown })._bsontype === 'BSONSymbol')) &&
        test.regex.test(String(value))
      );
    case '$type':
      return value !== MISSING && bsonTypeNames(value).some((name) => test.types.has(name));
    case '$mod': {
      if (!isNumeric(value)) return false;
      const n = numberOf(value);
      return Number.isFinite(n) && Math.trunc(n) % test.divisor === test.remainder;
    }
    default:
      return false;
  }
}

/** Does the test hold on the field, given every value its path reaches? */
function holds(test: ValueTest, candidates: readonly Candidate[]): boolean {
  switch (test.op) {
    case '$exists':
      return candidates.some((c) => c !== MISSING) === test.value;
    case '$not':
      return !test.tests.every((t) => holds(t, candidates));
    case '$size':
      return candidates.some((c) => Array.isArray(c) && c.length === test.value);
    case '$all':
      return test.items.length > 0 && test.items.every((t) => holds(t, candidates));
    case '$elemMatch':
      return candidates.some((c) => Array.isArray(c) && c.some((e) => isPlainDocument(e) && matchesFilter(test.filter, e)));
    case '$elemMatchValue':
      return candidates.some((c) => Array.isArray(c) && c.some((e) => test.tests.every((t) => holds(t, [e]))));
    default:
      return candidates.some((c) => holdsOnValue(test, c) || (Array.isArray(c) && c.some((e) => holdsOnValue(test, e))));
  }
}

export function matchesFilter(node: FilterNode, doc: Record<string, unknown>): boolean {
  switch (node.kind) {
    case '$and':
      return node.children.every((child) => matchesFilter(child, doc));
    case '$or':
      return node.children.some((child) => matchesFilter(child, doc));
    case '$nor':
      return !node.children.some((child) => matchesFilter(child, doc));
    case 'field': {
      const candidates: Candidate[] = [];
      collect(doc, node.path, 0, candidates);
      return node.tests.every((test) => holds(test, candidates));
    }
  }
}
