import { describe, expect, it } from '@jest/globals';
import { BSON, EJSON, type Document } from '../schemas/bson.js';
import { encodeChange } from '../connectors/mongodb/change-encoder.js';
import { decodeSourceBson } from '../connectors/mongodb/raw-change-stream.js';
import { SplitEventJoiner } from '../connectors/mongodb/split-events.js';
import { loadRealEvents, type RealEventFixture } from '../testing/mongodb/real-events.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { applyDelta, needsWholeDocument } from './doc-paths.js';
import { intentFromRecord } from './mongodb-plan.js';
import { stableStringify } from '../schemas/values.js';

/** The envelopes the source publishes for a fixture (fragments joined). */
function envelopes(fixture: RealEventFixture): ChangeEvent[] {
  const joiner = new SplitEventJoiner();
  const out: ChangeEvent[] = [];
  for (const raw of fixture.events) {
    let event: Document | null = decodeSourceBson(BSON.serialize(raw));
    if (event['splitEvent'] !== undefined) event = joiner.add(event);
    if (event) out.push(encodeChange(event, { sourceName: 'real', cluster: 'rs0', watch: fixture.watch, mode: 'canonical' }).event);
  }
  return out;
}

const text = (docs: Iterable<Document>): string[] => [...docs].map((d) => stableStringify(EJSON.serialize(d, { relaxed: false }))).sort();

/** The MongoDB sink's plan for each event, applied to documents in memory as the target would apply it. */
function applyAll(fixture: RealEventFixture, updateMode: 'delta' | 'document'): Map<string, Document> {
  const docs = new Map<string, Document>((fixture.before ?? []).map((d) => [EJSON.stringify(d['_id'], { relaxed: false }), d]));
  envelopes(fixture).forEach((event, index) => {
    const result = intentFromRecord({ event, origin: { topic: 't', partition: 0, offset: String(index) } }, index, {
      targetColl: (e) => e.ns.coll,
      updateMode,
    });
    if ('skip' in result) return;
    if ('reject' in result) throw new Error(result.reject);
    const { intent } = result;
    const current = docs.get(intent.idText);
    const change = intent.change;
    if (change.kind === 'delete') docs.delete(intent.idText);
    else if (change.kind === 'replace') docs.set(intent.idText, change.doc);
    else if (current) docs.set(intent.idText, applyDelta(current, change.delta));
    else if (change.fallback) docs.set(intent.idText, change.fallback);
  });
  return docs;
}

const withAfter = loadRealEvents().filter((f) => f.after !== undefined);

describe('real server change events (fixtures) applied by the MongoDB sink’s plan', () => {
  it.each(withAfter.map((f) => [f.name, f] as const))('%s: the documents end as the source says', (_name, fixture) => {
    for (const mode of ['delta', 'document'] as const) expect(text(applyAll(fixture, mode).values())).toEqual(text(fixture.after ?? []));
  });

  it('keeps the server’s disambiguation: a field name with a dot is one field, and such a delta is written whole', () => {
    const fixture = withAfter.find((f) => f.name === 'server-expanded-update-description') as RealEventFixture;
    const plans = envelopes(fixture).map((event, index) =>
      intentFromRecord({ event, origin: { topic: 't', partition: 0, offset: String(index) } }, index, { targetColl: (e) => e.ns.coll, updateMode: 'delta' }),
    );
    const wholes = plans.map((p) => 'intent' in p && p.intent.change.kind === 'delta' && needsWholeDocument(p.intent.change.delta));
    // Events 6-8 name fields holding dots ("new.Field.", "sub.obj", "a.b"); 2 and 3 only numeric names, which $set paths express.
    expect(wholes).toEqual([false, false, false, false, false, true, true, true]);
  });
});
