import { z } from 'zod';
import { mongodbSourceKind } from './mongodb/source-kind.js';
import type { SourceKind } from './source.js';

/** Every source kind, one line each; the first is the default when an entry gives no `kind`. */
const kinds = [mongodbSourceKind] as const;

export const sourceKinds: readonly SourceKind[] = kinds;

/** A `sources:` entry of any registered kind, after its kind's schema accepted it. */
export type SourceEntry = z.output<(typeof kinds)[number]['configSchema']>;

type SchemasOf<T extends readonly { configSchema: unknown }[]> = { -readonly [I in keyof T]: T[I]['configSchema'] };

/** The kinds' schemas as a tuple (TypeScript types `map` over a tuple as a plain array). */
function schemasOf<T extends readonly { configSchema: unknown }[]>(list: T): SchemasOf<T> {
  return list.map((k) => k.configSchema) as SchemasOf<T>;
}

/** Validates a `sources:` entry against the schema of the kind it names. */
export const sourceEntrySchema = z.discriminatedUnion('kind', schemasOf(kinds), {
  error: (issue) => (issue.code === 'invalid_union' ? `unknown source kind; known kinds: ${kinds.map((k) => k.kind).join(', ')}` : undefined),
});

export function findSourceKind(kind: string): SourceKind | undefined {
  return sourceKinds.find((k) => k.kind === kind);
}
