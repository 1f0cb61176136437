import { EJSON, type Document } from './bson.js';

/**
 * BSON values as MongoDB Extended JSON (docs/sources.md "Records"). Canonical mode keeps every
 * type (Int32 vs Int64 vs Double, Decimal128, Binary subtypes); relaxed mode is for people reading topics.
 */
export type JsonMode = 'canonical' | 'relaxed';

/** Encodes a BSON value (as the driver returns it, ideally read with `promoteValues: false`) into EJSON. */
export function toEJson(value: unknown, mode: JsonMode = 'canonical'): unknown {
  if (value === undefined) return undefined;
  return EJSON.serialize(value, { relaxed: mode === 'relaxed' });
}

/** Encodes a BSON document into an EJSON document. */
export function toEJsonDocument(doc: Document, mode: JsonMode = 'canonical'): Record<string, unknown> {
  return EJSON.serialize(doc, { relaxed: mode === 'relaxed' }) as Record<string, unknown>;
}

/**
 * Decodes EJSON back into BSON values. `relaxed: false` keeps Int32/Int64/Double distinct
 * (a canonical `$numberLong` comes back as a Long, not a JS number).
 */
export function fromEJson<T = unknown>(value: unknown): T {
  return EJSON.deserialize(value as Document, { relaxed: false }) as T;
}

/** The canonical EJSON text of a value: the Kafka record key of a document key, stable across runs. */
export function canonicalText(value: unknown): string {
  return EJSON.stringify(value, { relaxed: false });
}

/** Parses canonical EJSON text back into BSON values. */
export function parseCanonicalText<T = unknown>(text: string): T {
  return EJSON.parse(text, { relaxed: false }) as T;
}
