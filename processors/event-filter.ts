import { EJSON } from '../schemas/bson.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { matchesFilter } from './match-evaluate.js';
import { compileMatch, rootFields } from './match-filter.js';

/** Decides, per change event, whether a trigger handles it. */
export type EventFilter = (event: ChangeEvent) => boolean;

/**
 * Builds a trigger's filter from its `operationTypes` and `match`.
 *
 * `match` is a MongoDB query over the change event as changeflow writes it (`op`, `ns`, `documentKey`,
 * `fullDocument`, `updateDescription`, ...), with BSON values decoded first, so
 * `{ "fullDocument.qty": { $gt: 5 } }` compares numbers whatever their BSON type (Int32, Int64, Double)
 * and `{ "fullDocument.at": { $gte: { $date: ... } } }` compares Dates. Only allowed operators are
 * accepted (match-filter.ts); a bad filter throws a ValidationError naming `where` and the path.
 * Events are decoded only when a `match` is given.
 */
export function compileEventFilter(operationTypes: readonly string[] | undefined, match: Record<string, unknown> | undefined, where = 'match'): EventFilter {
  const ops = operationTypes && operationTypes.length > 0 ? new Set(operationTypes) : undefined;
  const filter = match && Object.keys(match).length > 0 ? compileMatch(match, where) : undefined;
  if (!ops && !filter) return () => true;
  // Decoding Extended JSON is most of the cost: decode only the top-level fields the filter reads.
  const roots = filter ? [...rootFields(filter)] : [];
  return (event) => {
    if (ops && !ops.has(event.op)) return false;
    if (!filter) return true;
    const fields = event as unknown as Record<string, unknown>;
    const read: Record<string, unknown> = {};
    // defineProperty, not assignment: a path such as "__proto__.x" must not set the prototype.
    for (const root of roots)
      if (Object.hasOwn(fields, root)) Object.defineProperty(read, root, { value: fields[root], enumerable: true, writable: true, configurable: true });
    // Canonical decoding keeps Int32, Int64 and Double apart (for $type); comparisons treat them alike.
    return matchesFilter(filter, EJSON.deserialize(read, { relaxed: false }));
  };
}
