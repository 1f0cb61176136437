import { canonicalText } from '../../schemas/ejson.js';
import { isPlainDocument } from '../bson-order.js';
import type { Document } from './document-stages.js';
import { ExpressionError, valueAtPath } from './expression.js';

/**
 * `$lookup` with `localField`/`foreignField`, kept incrementally: the foreign collection's documents
 * (from its own change topic) indexed by their `foreignField` values, and the local documents
 * indexed by their `localField` values, so a foreign change finds the local documents it joins in
 * O(joined documents) and only those are computed again.
 */
export interface LookupSpec {
  from: string;
  localField: string[];
  foreignField: string[];
  as: string;
}

export function compileLookup(spec: unknown, where: string): LookupSpec {
  if (!isPlainDocument(spec)) throw new ExpressionError(where, '$lookup takes { from, localField, foreignField, as }');
  const extra = Object.keys(spec).filter((k) => !['from', 'localField', 'foreignField', 'as'].includes(k));
  if (extra.length > 0) throw new ExpressionError(where, `only the localField/foreignField form of $lookup is supported (not ${extra.join(', ')})`);
  for (const key of ['from', 'localField', 'foreignField', 'as'] as const) {
    const value = spec[key];
    if (typeof value !== 'string' || value === '' || value.startsWith('$'))
      throw new ExpressionError(`${where}.${key}`, 'expected a name (a string not starting with "$")');
  }
  const from = spec['from'] as string;
  if (from.includes('.')) throw new ExpressionError(`${where}.from`, 'a collection of the source database (no "db.coll")');
  const as = spec['as'] as string;
  if (as.includes('.')) throw new ExpressionError(`${where}.as`, 'a top-level field name (no ".")');
  return { from, localField: (spec['localField'] as string).split('.'), foreignField: (spec['foreignField'] as string).split('.'), as };
}

/** The keys a value joins on: each element of an array (and the array itself, as MongoDB matches both), a missing value as null. */
function joinKeys(value: unknown): string[] {
  const wrap = (v: unknown): string => canonicalText({ v: v ?? null });
  if (Array.isArray(value)) return value.length === 0 ? [wrap(null)] : [...new Set([...value.map(wrap), wrap(value)])];
  return [wrap(value)];
}

function addTo(index: Map<string, Set<string>>, key: string, member: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(member);
}

function removeFrom(index: Map<string, Set<string>>, key: string, member: string): void {
  const set = index.get(key);
  set?.delete(member);
  if (set?.size === 0) index.delete(key);
}

export class LookupState {
  private readonly foreign = new Map<string, Document>();
  private readonly foreignByValue = new Map<string, Set<string>>();
  private readonly localByValue = new Map<string, Set<string>>();
  private readonly localKeys = new Map<string, string[]>();

  constructor(readonly spec: LookupSpec) {}

  /** Rows with the joined foreign documents in `as`, ordered by their key (MongoDB gives no order). */
  join(rows: readonly Document[]): Document[] {
    return rows.map((row) => {
      const matched = new Set<string>();
      for (const key of joinKeys(valueAtPath(row, this.spec.localField))) for (const f of this.foreignByValue.get(key) ?? []) matched.add(f);
      const docs = [...matched].sort().map((k) => this.foreign.get(k) as Document);
      return { ...row, [this.spec.as]: docs };
    });
  }

  /** Records which values a local document's rows join on (for `affectedBy`). */
  indexLocal(docKey: string, rows: readonly Document[]): void {
    for (const key of this.localKeys.get(docKey) ?? []) removeFrom(this.localByValue, key, docKey);
    const keys = [...new Set(rows.flatMap((row) => joinKeys(valueAtPath(row, this.spec.localField))))];
    if (keys.length === 0) this.localKeys.delete(docKey);
    else this.localKeys.set(docKey, keys);
    for (const key of keys) addTo(this.localByValue, key, docKey);
  }

  /** Sets a foreign document (null: deleted); returns the local documents whose join it changes. */
  setForeign(key: string, doc: Document | null): Set<string> {
    const affected = new Set<string>();
    const previous = this.foreign.get(key);
    const touched = [
      ...(previous ? joinKeys(valueAtPath(previous, this.spec.foreignField)) : []),
      ...(doc ? joinKeys(valueAtPath(doc, this.spec.foreignField)) : []),
    ];
    if (previous) for (const k of joinKeys(valueAtPath(previous, this.spec.foreignField))) removeFrom(this.foreignByValue, k, key);
    if (doc) {
      this.foreign.set(key, doc);
      for (const k of joinKeys(valueAtPath(doc, this.spec.foreignField))) addTo(this.foreignByValue, k, key);
    } else this.foreign.delete(key);
    for (const k of touched) for (const local of this.localByValue.get(k) ?? []) affected.add(local);
    return affected;
  }

  foreignKeys(): string[] {
    return [...this.foreign.keys()];
  }
}
