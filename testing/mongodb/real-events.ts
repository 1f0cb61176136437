import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EJSON, type Document } from '../../schemas/bson.js';
import { z } from 'zod';

/**
 * Change events of real MongoDB servers, transcribed from MongoDB's manual, the specifications
 * repository's change-stream tests and the server's own change-stream tests (each file names its
 * source and what was filled in where the source leaves a value out). Extended JSON, canonical.
 */
export interface RealEventFixture {
  name: string;
  source: string;
  covers: string;
  filled: string[];
  /** What the stream watched (fills an invalidate's namespace). */
  watch: { db: string; coll?: string };
  /** The documents before the events, when the source gives them. */
  before?: Document[];
  /** As the server sends them, in order (a split event's fragments one by one). */
  events: Document[];
  /** The documents after the events, where the source says what they are (`afterFrom` says how). */
  after?: Document[];
  afterFrom?: string;
}

const fixtureSchema = z.strictObject({
  name: z.string().min(1),
  source: z.string().min(1),
  covers: z.string().min(1),
  filled: z.array(z.string()),
  watch: z.strictObject({ db: z.string(), coll: z.string().optional() }),
  before: z.array(z.record(z.string(), z.unknown())).optional(),
  events: z.array(z.record(z.string(), z.unknown())).min(1),
  after: z.array(z.record(z.string(), z.unknown())).optional(),
  afterFrom: z.string().optional(),
});

export const realEventsDir = join(process.cwd(), 'testing', 'mongodb', 'fixtures', 'real-events');

/** `{ "$repeat": [text, n] }` stands for text repeated n times (a 16 MB string is not written out). */
function expand(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expand);
  if (typeof value !== 'object' || value === null || '_bsontype' in value || value instanceof Date) return value;
  const entries = Object.entries(value);
  const [first] = entries;
  if (entries.length === 1 && first?.[0] === '$repeat') {
    const [text, times] = first[1] as [string, { valueOf(): number }];
    return text.repeat(Number(times.valueOf()));
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, expand(v)]));
}

/** Every fixture, BSON values decoded (`relaxed: false`: Int32, Int64 and Double stay apart). */
export function loadRealEvents(dir = realEventsDir): RealEventFixture[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const parsed = fixtureSchema.parse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      const decode = (docs: Record<string, unknown>[]): Document[] => docs.map((d) => expand(EJSON.deserialize(d, { relaxed: false })) as Document);
      const fixture: RealEventFixture = { ...parsed, events: decode(parsed.events), before: undefined, after: undefined };
      if (parsed.before) fixture.before = decode(parsed.before);
      else delete fixture.before;
      if (parsed.after) fixture.after = decode(parsed.after);
      else delete fixture.after;
      if (file !== `${parsed.name}.json`) throw new Error(`fixture ${file} is named "${parsed.name}"`);
      return fixture;
    });
}
