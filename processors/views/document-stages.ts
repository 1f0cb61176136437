import { isPlainDocument } from '../bson-order.js';
import { matchesFilter } from '../match-evaluate.js';
import { compileMatch } from '../match-filter.js';
import { compileExpression, EvaluationError, ExpressionError, valueAtPath, type Expression } from './expression.js';

/**
 * The stages that turn one document into zero or more documents, each on its own, so a view keeps them
 * per source document: `$match`, `$project`, `$addFields`/`$set`, `$unset`, `$replaceRoot`, `$unwind`.
 */
export type Document = Record<string, unknown>;
export type DocumentStage = (doc: Document) => Document[];

function defineField(target: Document, key: string, value: unknown): void {
  // defineProperty, not assignment: a field named "__proto__" must stay a field.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A copy of `doc` with `path` set (missing intermediate documents are created, scalars replaced). */
function withPath(doc: Document, path: readonly string[], value: unknown): Document {
  const [head, ...rest] = path as [string, ...string[]];
  const out: Document = { ...doc };
  if (rest.length === 0) {
    if (value === undefined) delete out[head];
    else defineField(out, head, value);
    return out;
  }
  const current = doc[head];
  if (Array.isArray(current)) {
    defineField(
      out,
      head,
      current.map((e) => (isPlainDocument(e) ? withPath(e, rest, value) : e)),
    );
  } else defineField(out, head, withPath(isPlainDocument(current) ? current : {}, rest, value));
  return out;
}

function withoutPath(doc: Document, path: readonly string[]): Document {
  const [head, ...rest] = path as [string, ...string[]];
  if (!Object.hasOwn(doc, head)) return doc;
  const out: Document = { ...doc };
  if (rest.length === 0) {
    delete out[head];
    return out;
  }
  const current = doc[head];
  if (Array.isArray(current))
    defineField(
      out,
      head,
      current.map((e) => (isPlainDocument(e) ? withoutPath(e, rest) : e)),
    );
  else if (isPlainDocument(current)) defineField(out, head, withoutPath(current, rest));
  return out;
}

function splitPath(key: string, where: string): string[] {
  const segments = key.split('.');
  if (segments.some((s) => s === '' || s.startsWith('$'))) throw new ExpressionError(where, `"${key}" is not a field name`);
  return segments;
}

type InclusionTree = Map<string, true | InclusionTree>;

function include(doc: Document, tree: InclusionTree): Document {
  const out: Document = {};
  for (const key of Object.keys(doc)) {
    const node = tree.get(key);
    if (node === undefined) continue;
    const value = doc[key];
    if (node === true) defineField(out, key, value);
    else if (isPlainDocument(value)) defineField(out, key, include(value, node));
    else if (Array.isArray(value))
      defineField(
        out,
        key,
        value.filter(isPlainDocument).map((e) => include(e, node)),
      );
  }
  return out;
}

function isFlag(value: unknown): value is boolean | number {
  return typeof value === 'boolean' || typeof value === 'number';
}

function compileProject(spec: Document, where: string): DocumentStage {
  const entries = Object.entries(spec);
  if (entries.length === 0) throw new ExpressionError(where, '$project needs at least one field');
  const excludeId = entries.some(([k, v]) => k === '_id' && isFlag(v) && !v);
  const rest = entries.filter(([k]) => k !== '_id' || !isFlag(spec['_id']));
  const exclusions = rest.filter(([, v]) => isFlag(v) && !v);
  if (exclusions.length > 0) {
    if (exclusions.length !== rest.length)
      throw new ExpressionError(where, 'a $project either includes or excludes fields (only _id may be excluded in an inclusion)');
    const paths = [...(excludeId ? [['_id']] : []), ...exclusions.map(([k]) => splitPath(k, `${where}.${k}`))];
    return (doc) => [paths.reduce(withoutPath, doc)];
  }
  if (excludeId && rest.length === 0) return (doc) => [withoutPath(doc, ['_id'])];
  const tree: InclusionTree = new Map();
  if (!excludeId) tree.set('_id', true);
  const computed: [string[], Expression][] = [];
  for (const [key, value] of rest) {
    const segments = splitPath(key, `${where}.${key}`);
    if (isFlag(value)) {
      let node = tree;
      segments.forEach((segment, i) => {
        if (i === segments.length - 1) node.set(segment, true);
        else {
          const next = node.get(segment);
          if (next === true) return;
          const child: InclusionTree = next ?? new Map();
          node.set(segment, child);
          node = child;
        }
      });
    } else computed.push([segments, compileExpression(value, `${where}.${key}`)]);
  }
  return (doc) => [computed.reduce((out, [path, e]) => withPath(out, path, e(doc)), include(doc, tree))];
}

function compileAddFields(spec: Document, where: string): DocumentStage {
  const fields = Object.entries(spec).map(([key, value]) => [splitPath(key, `${where}.${key}`), compileExpression(value, `${where}.${key}`)] as const);
  // Every value is computed from the input document, then set.
  return (doc) => {
    const values = fields.map(([, e]) => e(doc));
    return [fields.reduce((out, [path], i) => withPath(out, path, values[i]), doc)];
  };
}

function compileUnset(spec: unknown, where: string): DocumentStage {
  const list = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0 || !list.every((f) => typeof f === 'string')) throw new ExpressionError(where, '$unset takes a field name or a list of field names');
  const paths = list.map((f) => splitPath(f, where));
  return (doc) => [paths.reduce(withoutPath, doc)];
}

function compileReplaceRoot(spec: unknown, where: string): DocumentStage {
  if (!isPlainDocument(spec) || !Object.hasOwn(spec, 'newRoot')) throw new ExpressionError(where, '$replaceRoot takes { newRoot: <expression> }');
  const root = compileExpression(spec['newRoot'], `${where}.newRoot`);
  return (doc) => {
    const value = root(doc);
    if (!isPlainDocument(value)) throw new EvaluationError(`${where}: 'newRoot' must evaluate to a document`);
    return [value];
  };
}

function compileUnwind(spec: unknown, where: string): DocumentStage {
  const options = typeof spec === 'string' ? { path: spec } : spec;
  if (!isPlainDocument(options) || typeof options['path'] !== 'string' || !options['path'].startsWith('$'))
    throw new ExpressionError(where, '$unwind takes a field path ("$items") or { path, preserveNullAndEmptyArrays, includeArrayIndex }');
  const unknown = Object.keys(options).filter((k) => !['path', 'preserveNullAndEmptyArrays', 'includeArrayIndex'].includes(k));
  if (unknown.length > 0) throw new ExpressionError(where, `unknown $unwind option ${unknown.join(', ')}`);
  const path = splitPath(options['path'].slice(1), `${where}.path`);
  const preserve = options['preserveNullAndEmptyArrays'] === true;
  const indexField = typeof options['includeArrayIndex'] === 'string' ? splitPath(options['includeArrayIndex'], `${where}.includeArrayIndex`) : undefined;
  return (doc) => {
    let value: unknown = doc;
    for (const segment of path) value = isPlainDocument(value) && Object.hasOwn(value, segment) ? value[segment] : undefined;
    const indexed = (out: Document, index: number | null): Document => (indexField ? withPath(out, indexField, index) : out);
    if (Array.isArray(value)) {
      if (value.length === 0) return preserve ? [indexed(withPath(doc, path, undefined), null)] : [];
      return value.map((element, i) => indexed(withPath(doc, path, element), i));
    }
    if (value === undefined || value === null) return preserve ? [indexed(doc, null)] : [];
    return [indexed(doc, null)];
  };
}

function compileMatchStage(spec: unknown, where: string): DocumentStage {
  const filter = compileMatch(spec, `${where}`);
  return (doc) => (matchesFilter(filter, doc) ? [doc] : []);
}

export const DOCUMENT_STAGES = ['$match', '$project', '$addFields', '$set', '$unset', '$replaceRoot', '$unwind'] as const;

/** One per-document stage, or undefined when `name` is not one. `where` names it in errors (`pipeline[2].$project`). */
export function compileDocumentStage(name: string, spec: unknown, where: string): DocumentStage | undefined {
  const asDocument = (): Document => {
    if (!isPlainDocument(spec)) throw new ExpressionError(where, `${name} takes a document`);
    return spec;
  };
  switch (name) {
    case '$match':
      return compileMatchStage(spec, where);
    case '$project':
      return compileProject(asDocument(), where);
    case '$addFields':
    case '$set':
      return compileAddFields(asDocument(), where);
    case '$unset':
      return compileUnset(spec, where);
    case '$replaceRoot':
      return compileReplaceRoot(spec, where);
    case '$unwind':
      return compileUnwind(spec, where);
    default:
      return undefined;
  }
}

/** Runs documents through stages in order. */
export function runStages(stages: readonly DocumentStage[], docs: Document[]): Document[] {
  return stages.reduce((current, stage) => current.flatMap(stage), docs);
}

export { valueAtPath };
