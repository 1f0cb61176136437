import { EJSON } from 'bson';
import siftModule from 'sift';
import { ValidationError } from '../core/errors.js';
import type { ChangeEvent } from '../schemas/envelope.js';

// sift is CommonJS whose `module.exports` is the query function; TypeScript (NodeNext) types the
// default import as the module object instead, so name the function's type explicitly.
const sift = siftModule as unknown as typeof siftModule.default;

/** Decides, per change event, whether a trigger handles it. */
export type EventFilter = (event: ChangeEvent) => boolean;

/**
 * Builds a trigger's filter from its `operationTypes` and `match`.
 *
 * `match` is a MongoDB query over the change event as changeflow writes it (`op`, `ns`, `documentKey`,
 * `fullDocument`, `updateDescription`, ...), with BSON values decoded first, so
 * `{ "fullDocument.qty": { $gt: 5 } }` compares numbers whatever their BSON type (Int32, Int64, Double)
 * and `{ "fullDocument.at": { $gte: new Date(...) } }`-style comparisons see Dates.
 * Events are decoded only when a `match` is given.
 */
export function compileEventFilter(operationTypes: readonly string[] | undefined, match: Record<string, unknown> | undefined, where = 'match'): EventFilter {
  const ops = operationTypes && operationTypes.length > 0 ? new Set(operationTypes) : undefined;
  let test: ((value: unknown) => boolean) | undefined;
  if (match && Object.keys(match).length > 0) {
    let query: Record<string, unknown>;
    try {
      // The filter may use Extended JSON ({ $oid }, { $date }) to name BSON values (YAML and the API carry
      // only JSON); values already typed (a Date from code) survive the serialise step unchanged.
      query = EJSON.deserialize(EJSON.serialize(match, { relaxed: true }), { relaxed: true }) as Record<string, unknown>;
      test = sift(query);
    } catch (error) {
      throw new ValidationError(`${where}: not a valid MongoDB filter (${error instanceof Error ? error.message : String(error)})`, { code: 'CONFIG_INVALID', cause: error });
    }
  }
  if (!ops && !test) return () => true;
  return (event) => {
    if (ops && !ops.has(event.op)) return false;
    if (!test) return true;
    return test(EJSON.deserialize(event as unknown as Record<string, unknown>, { relaxed: true }));
  };
}
