import { describe, expect, it } from '@jest/globals';
import { BSON, EJSON, type Document } from '../../schemas/bson.js';
import { changeEventAvroSchema, fromAvroRecord, toAvroRecord } from '../../schemas/avro-codec.js';
import type { JsonMode } from '../../schemas/ejson.js';
import { changeEventSchema, isChangeEventShape, type ChangeEvent } from '../../schemas/envelope.js';
import { encodeChange, type EncoderContext } from './change-encoder.js';
import { encodeRawChange } from './raw-change-encoder.js';
import { decodeSourceBson } from './raw-change-stream.js';
import { changeFromBytes, type SourceChange } from './source-change.js';
import { SplitEventJoiner, SplitFragment } from './split-events.js';
import { loadRealEvents, type RealEventFixture } from '../../testing/mongodb/real-events.js';

const fixtures = loadRealEvents();

function contextOf(fixture: RealEventFixture, mode: JsonMode): EncoderContext {
  return { sourceName: 'real', cluster: 'rs0', watch: fixture.watch, mode };
}

/**
 * The events as the driver decodes the server's bytes, fragments of a split event joined (the whole
 * of a split event is over BSON's 16 MB: it only ever exists as objects).
 */
function wholeEvents(fixture: RealEventFixture): Document[] {
  const joiner = new SplitEventJoiner();
  const out: Document[] = [];
  for (const raw of fixture.events) {
    const event = decodeSourceBson(BSON.serialize(raw));
    if (event['splitEvent'] === undefined) out.push(event);
    else {
      const whole = joiner.add(event);
      if (whole) out.push(whole);
    }
  }
  expect(joiner.pending).toBe(false);
  return out;
}

const ejsonOf = (value: unknown, mode: JsonMode): unknown => EJSON.serialize(value, { relaxed: mode === 'relaxed' });

/**
 * What the envelope must hold for a server event: every field the server sent, in its place. A
 * field of the event this does not know fails the test, so a new server field is never dropped unseen.
 */
function expectedEnvelope(raw: Document, fixture: RealEventFixture, mode: JsonMode): ChangeEvent {
  const known = new Set([
    '_id',
    'operationType',
    'ns',
    'documentKey',
    'fullDocument',
    'fullDocumentBeforeChange',
    'updateDescription',
    'to',
    'clusterTime',
    'wallTime',
    'lsid',
    'txnNumber',
  ]);
  expect(Object.keys(raw).filter((k) => !known.has(k))).toEqual([]);
  const ns = raw['ns'] as { db: string; coll?: string } | undefined;
  const expected: Record<string, unknown> = {
    v: 1,
    id: (raw['_id'] as { _data: string })._data,
    op: raw['operationType'],
    ns: ns ?? fixture.watch,
    source: { name: 'real', cluster: 'rs0' },
  };
  for (const field of ['documentKey', 'fullDocument', 'fullDocumentBeforeChange', 'updateDescription']) {
    if (raw[field] !== undefined) expected[field] = ejsonOf(raw[field], mode);
  }
  if (raw['to'] !== undefined) expected['to'] = raw['to'];
  const ts = raw['clusterTime'] as { t: number; i: number } | undefined;
  if (ts) expected['clusterTime'] = { t: ts.t, i: ts.i };
  if (raw['wallTime'] instanceof Date) expected['wallTime'] = raw['wallTime'].toISOString();
  if (raw['lsid'] !== undefined || raw['txnNumber'] !== undefined)
    expected['txn'] = { lsid: ejsonOf(raw['lsid'] ?? null, mode), txnNumber: ejsonOf(raw['txnNumber'] ?? null, mode) };
  return expected as unknown as ChangeEvent;
}

/** The raw path: each event as BSON bytes, as the source reads them, fragments joined by the source's rule. */
function throughBytes(fixture: RealEventFixture, mode: JsonMode): SourceChange[] {
  const context = contextOf(fixture, mode);
  const joiner = new SplitEventJoiner();
  const out: SourceChange[] = [];
  for (const event of fixture.events) {
    const bytes = BSON.serialize(event);
    try {
      out.push(changeFromBytes(bytes, context, false));
    } catch (error) {
      if (!(error instanceof SplitFragment)) throw error;
      // A fragment never goes out on its own, on either path.
      expect(encodeRawChange(bytes, context)).toBeNull();
      expect(() => encodeChange(decodeSourceBson(bytes), context)).toThrow(/split change event/);
      const whole = joiner.add(error.fragment);
      if (whole) out.push({ ...changeFromObject(whole, context) });
    }
  }
  return out;
}

function changeFromObject(whole: Document, context: EncoderContext): SourceChange {
  const { event, key } = encodeChange(whole, context);
  return {
    id: event.id,
    op: event.op,
    ns: event.ns,
    key,
    hasDocumentKey: event.documentKey !== undefined,
    clusterTime: event.clusterTime,
    event: () => event,
    token: () => whole['_id'],
  };
}

describe('real server change events (fixtures) through the source encoders', () => {
  it('has fixtures of every kind the issue asks for, each citing its source', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
    const all = fixtures.flatMap((f) => f.events);
    const ops = new Set(all.map((e) => e['operationType']));
    for (const op of ['insert', 'update', 'replace', 'delete', 'drop', 'rename', 'dropDatabase', 'invalidate']) expect(ops).toContain(op);
    const descriptions = all.map((e) => e['updateDescription'] as Document | undefined).filter((d) => d !== undefined);
    expect(descriptions.some((d) => Object.keys(d['updatedFields'] as Document).some((k) => k.includes('.')))).toBe(true);
    expect(descriptions.some((d) => (d['truncatedArrays'] as unknown[]).length > 0)).toBe(true);
    expect(descriptions.some((d) => Object.keys((d['disambiguatedPaths'] as Document | undefined) ?? {}).length > 0)).toBe(true);
    expect(all.some((e) => e['lsid'] !== undefined && e['txnNumber'] !== undefined)).toBe(true);
    expect(all.some((e) => e['fullDocumentBeforeChange'] !== undefined)).toBe(true);
    expect(all.some((e) => e['splitEvent'] !== undefined)).toBe(true);
    for (const f of fixtures) expect(f.source).toMatch(/^(https:\/\/www\.mongodb\.com\/docs\/|mongodb\/(specifications|mongo)@[0-9a-f]{40}:)/);
  });

  describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    it.each(['canonical', 'relaxed'] as const)('object path (%s): the envelope carries every field the server sent', (mode) => {
      for (const decoded of wholeEvents(fixture)) {
        const { event } = encodeChange(decoded, contextOf(fixture, mode));
        expect(event).toEqual(expectedEnvelope(decoded, fixture, mode));
        // What a consumer accepts, on the fast check and on the schema.
        const json: unknown = JSON.parse(JSON.stringify(event));
        expect(changeEventSchema.parse(json)).toEqual(event);
        if (event.txn === undefined) expect(isChangeEventShape(json)).toBe(true);
      }
    });

    it('raw path (BSON bytes): the same record value, byte for byte, and straight from the bytes where it can', () => {
      const context = contextOf(fixture, 'canonical');
      const fromBytes = throughBytes(fixture, 'canonical');
      const expected = wholeEvents(fixture).map((decoded) => encodeChange(decoded, context).event);
      expect(fromBytes.map((c) => c.event())).toEqual(expected);
      fromBytes.forEach((change, i) => {
        const event = expected[i] as ChangeEvent;
        expect(change.id).toBe(event.id);
        expect(change.op).toBe(event.op);
        expect(change.ns).toEqual(event.ns);
        const value = change.json ?? Buffer.from(JSON.stringify(change.event()));
        expect(value.toString('latin1')).toBe(Buffer.from(JSON.stringify(event)).toString('latin1'));
      });
      // Document events of a real server are written from the bytes, not through objects (renames and
      // database-level events take the object path by design).
      for (const change of fromBytes) {
        const direct = ['insert', 'update', 'replace', 'delete'].includes(change.op) && fixture.name !== 'manual-split-event';
        if (direct) expect(change.json).toBeDefined();
      }
    });

    it.each(['canonical', 'relaxed'] as const)('Avro record (%s) decodes to the same envelope', (mode) => {
      const { type } = changeEventAvroSchema();
      for (const decoded of wholeEvents(fixture)) {
        const { event } = encodeChange(decoded, contextOf(fixture, mode));
        const back = fromAvroRecord(type.fromBuffer(type.toBuffer(toAvroRecord(event))) as ReturnType<typeof toAvroRecord>);
        expect(back).toEqual(event);
      }
    });
  });
});
