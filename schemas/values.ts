import { createHash } from 'node:crypto';
import { EJSON, type Document } from './bson.js';
import { canonicalText } from './ejson.js';
import { InvalidValueError, invalidEjsonMessage, tooDeepAt, tooDeepMessage } from './value-errors.js';
import { ChangeflowError } from '../core/errors.js';

/**
 * Extended JSON ↔ BSON for sinks. Events carry canonical EJSON; sinks turn it back into BSON values so
 * Int32/Int64/Double/Decimal128/ObjectId/Date/Binary reach the target exactly as they left the source.
 */
export function toBson<T = unknown>(ejson: unknown, path = 'value'): T {
  if (ejson === undefined) return undefined as T;
  try {
    return EJSON.deserialize(ejson as Document, { relaxed: false }) as T;
  } catch (error) {
    // Only on failure: name the field, so the dead letter says what to fix. Never retriable.
    const deep = tooDeepAt(ejson, path);
    if (deep !== undefined) throw new InvalidValueError(tooDeepMessage(deep), { cause: error });
    throw new InvalidValueError(invalidEjsonMessage(ejsonErrorPath(ejson, path), error), { cause: error });
  }
}

export function toBsonDocument(ejson: unknown, path = 'document'): Document {
  return toBson<Document>(ejson, path);
}

function decodes(value: unknown): boolean {
  try {
    EJSON.deserialize({ v: value }, { relaxed: false });
    return true;
  } catch {
    return false;
  }
}

/** The deepest field under `value` that fails to decode on its own (the value is known to be at most MAX_VALUE_DEPTH deep). */
function ejsonErrorPath(value: unknown, path: string): string {
  if (typeof value !== 'object' || value === null) return path;
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v]) : Object.entries(value).map(([k, v]) => [`.${k}`, v]);
  for (const [step, child] of entries) {
    if (!decodes(child)) return ejsonErrorPath(child, `${path}${step}`);
  }
  return path;
}

export { canonicalText };

/** Canonical text of the `_id` inside an EJSON documentKey, or undefined when there is none. */
export function idTextOf(ejsonKey: Record<string, unknown> | undefined | null): string | undefined {
  if (!ejsonKey || !('_id' in ejsonKey)) return undefined;
  return canonicalText(toBson(ejsonKey['_id']));
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = stable((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** JSON with object keys sorted at every level: the same content always gives the same text. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(stable(value));
}

/**
 * Hash of a document's content that both the sink (from the BSON it writes) and the echo filter
 * (from the EJSON the source publishes, canonical or relaxed) compute alike: relaxed EJSON with
 * sorted keys, so field order and number width (Int32 vs Double of equal value) do not matter.
 */
export function contentHash(doc: Document): string {
  return createHash('sha256')
    .update(stableStringify(EJSON.serialize(doc, { relaxed: true })))
    .digest('hex');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A BSON value as text inside a key: strings as they are, ObjectIds as hex, numbers as digits. */
export function displayValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null && '_bsontype' in value) {
    const bsonType = (value as { _bsontype: string })._bsontype;
    if (bsonType === 'ObjectId' || bsonType === 'ObjectID') return (value as unknown as { toHexString(): string }).toHexString();
    if (bsonType === 'Int32' || bsonType === 'Double' || bsonType === 'Long' || bsonType === 'Decimal128') return String(value.toString());
  }
  return EJSON.stringify(value, { relaxed: true });
}

/** The value at a dotted path (`documentKey._id`) of a plain object, or undefined. */
export function valueAtPath(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

const TEMPLATE_FIELD = /\{([^{}]+)\}/g;

/** Fails to render a template because a field is missing: names the field. */
export class TemplateError extends ChangeflowError {
  constructor(message: string) {
    super(message, { code: 'TEMPLATE' });
  }
}

/**
 * Renders `user:{documentKey._id}` against an event (its EJSON). Each `{path}` is looked up, turned
 * back into BSON and written as text (ObjectId → hex). A missing field is an error naming it.
 */
export function renderTemplate(template: string, event: unknown): string {
  return template.replace(TEMPLATE_FIELD, (_match, path: string) => {
    const raw = valueAtPath(event, path.trim());
    if (raw === undefined || raw === null) throw new TemplateError(`template "${template}": the event has no field "${path.trim()}"`);
    return displayValue(toBson(raw));
  });
}

/** Checks a template's syntax at config time: balanced braces, non-empty fields. */
export function isValidTemplate(template: string): boolean {
  const stripped = template.replace(TEMPLATE_FIELD, (_m, path: string) => (path.trim() ? '' : '{'));
  return !stripped.includes('{') && !stripped.includes('}');
}
