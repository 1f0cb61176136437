import type { Document } from '../schemas/bson.js';
import { ChangeflowError } from '../core/errors.js';

/**
 * Applies an update description (`$set` of dotted paths, `$unset`, array truncation) to an in-memory
 * document, as MongoDB would. A path the server disambiguated (a field name holding a dot, or one
 * that looks like a number) is walked by its segments, not split at its dots. Used to fold several changes of one document into one write and to
 * know the post-image of a delta write (for the echo ledger). Throws when a path runs through a value
 * that is neither an object nor an array; callers then fall back to sending the operations as they are.
 */
export class PathConflictError extends ChangeflowError {
  constructor(message: string) {
    super(message, { code: 'PATH_CONFLICT' });
  }
}

function isPlainObject(value: unknown): value is Document {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !('_bsontype' in value);
}

/** Deep copy of plain objects and arrays; BSON values (ObjectId, Long, …) are shared, they are never mutated. */
export function cloneDocument<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => cloneDocument(v)) as T;
  if (isPlainObject(value)) {
    const out: Document = {};
    for (const [k, v] of Object.entries(value)) out[k] = cloneDocument(v);
    return out as T;
  }
  return value;
}

type Container = Document | unknown[];

/** A field name, or (a number) an array index. */
export type Segment = string | number;

function child(container: Container, segment: Segment): unknown {
  if (Array.isArray(container)) {
    const index = Number(segment);
    return Number.isInteger(index) ? container[index] : undefined;
  }
  return container[String(segment)];
}

function assign(container: Container, segment: Segment, value: unknown, path: string): void {
  if (Array.isArray(container)) {
    const index = Number(segment);
    if (!Number.isInteger(index) || index < 0) throw new PathConflictError(`cannot use "${segment}" as an array index in "${path}"`);
    while (container.length < index) container.push(null);
    container[index] = value;
  } else {
    if (typeof segment === 'number') throw new PathConflictError(`path "${path}" has an array index where the document has an object`);
    container[segment] = value;
  }
}

function walk(doc: Document, path: string, create: boolean, paths: Delta['paths']): { parent: Container; last: Segment } | undefined {
  const segments: Segment[] = [...(paths?.[path] ?? path.split('.'))];
  if (segments.length === 0) throw new PathConflictError(`path "${path}" has no segments`);
  const last = segments.pop() as Segment;
  let current: Container = doc;
  for (const segment of segments) {
    let next = child(current, segment);
    if (next === undefined || next === null) {
      if (!create) return undefined;
      next = {};
      assign(current, segment, next, path);
    }
    if (!isPlainObject(next) && !Array.isArray(next)) throw new PathConflictError(`path "${path}" runs through a non-object at "${segment}"`);
    current = next;
  }
  return { parent: current, last };
}

export interface Delta {
  set: Document;
  unset: readonly string[];
  truncated?: readonly { field: string; newSize: number }[];
  /** updateDescription.disambiguatedPaths: path → its segments, for the paths whose dots do not all separate fields. */
  paths?: Readonly<Record<string, readonly Segment[]>>;
}

/**
 * True when some path of the delta cannot be written as a `$set`/`$unset` path: one of its field
 * names holds a dot, is empty or starts with `$` (the server would read `a.b` as two fields). Those
 * deltas are applied to the current document and written whole.
 */
export function needsWholeDocument(delta: Delta): boolean {
  for (const segments of Object.values(delta.paths ?? {})) {
    for (const segment of segments) if (typeof segment === 'string' && (segment === '' || segment.includes('.') || segment.startsWith('$'))) return true;
  }
  return false;
}

/** A new document: `doc` with the delta applied (doc itself is not changed). */
export function applyDelta(doc: Document, delta: Delta): Document {
  const out = cloneDocument(doc);
  for (const t of delta.truncated ?? []) {
    const at = walk(out, t.field, false, delta.paths);
    const array = at ? child(at.parent, at.last) : undefined;
    if (Array.isArray(array)) array.length = Math.min(array.length, t.newSize);
  }
  for (const [path, value] of Object.entries(delta.set)) {
    const at = walk(out, path, true, delta.paths);
    if (at) assign(at.parent, at.last, cloneDocument(value), path);
  }
  for (const path of delta.unset) {
    const at = walk(out, path, false, delta.paths);
    if (!at) continue;
    if (Array.isArray(at.parent)) {
      const index = Number(at.last);
      if (Number.isInteger(index) && index < at.parent.length) at.parent[index] = null;
    } else {
      delete at.parent[String(at.last)];
    }
  }
  return out;
}

/** True when two sets of paths touch overlapping parts of a document (equal paths do not count). */
function conflicting(a: readonly string[], b: readonly string[]): boolean {
  for (const x of a) {
    for (const y of b) {
      if (x !== y && (x.startsWith(`${y}.`) || y.startsWith(`${x}.`))) return true;
    }
  }
  return false;
}

/**
 * `first` then `second` as one delta, or undefined when they cannot be merged safely (overlapping
 * paths, or array truncation, which depends on the document).
 */
export function mergeDeltas(first: Delta, second: Delta): Delta | undefined {
  if ((first.truncated?.length ?? 0) > 0 || (second.truncated?.length ?? 0) > 0) return undefined;
  // Prefix tests on paths mean nothing when a field name holds a dot.
  if (Object.keys(first.paths ?? {}).length > 0 || Object.keys(second.paths ?? {}).length > 0) return undefined;
  const firstPaths = [...Object.keys(first.set), ...first.unset];
  const secondPaths = [...Object.keys(second.set), ...second.unset];
  if (conflicting(firstPaths, secondPaths) || conflicting(firstPaths, firstPaths) || conflicting(secondPaths, secondPaths)) return undefined;
  const set: Document = {};
  const unset = new Set<string>();
  for (const [k, v] of Object.entries(first.set)) set[k] = v;
  for (const k of first.unset) unset.add(k);
  for (const [k, v] of Object.entries(second.set)) {
    set[k] = v;
    unset.delete(k);
  }
  for (const k of second.unset) {
    delete set[k];
    unset.add(k);
  }
  return { set, unset: [...unset] };
}
