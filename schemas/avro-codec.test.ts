import { createServer } from 'node:net';
import avro from 'avsc';
import { Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'mongodb';
import { encodeChange, encodeSnapshotDocument, type EncoderContext } from '../connectors/mongodb/change-encoder.js';
import { ChangeflowError, UnavailableError, ValidationError } from '../core/errors.js';
import { startTestSchemaRegistry, type TestSchemaRegistry } from '../testing/schema-registry.js';
import { changeEventAvroSchema, createAvroCodec, isConfluentAvro, type AvroCodec } from './avro-codec.js';
import { canonicalText, fromEJson } from './ejson.js';
import { changeOperations, parseChangeEvent, type ChangeEvent } from './envelope.js';

const context: EncoderContext = { sourceName: 'shop', cluster: 'rs0', watch: { db: 'shop', coll: 'orders' }, mode: 'canonical' };

const id = new ObjectId('65a1b2c3d4e5f60718293a4b');
const typed = {
  _id: id,
  at: new Date('2026-11-22T10:00:00.123Z'),
  price: Decimal128.fromString('12.340'),
  big: Long.fromString('9007199254740993'),
  n: new Int32(5),
  d: new Double(5),
  bin: new Binary(Buffer.from([0, 1, 2, 255]), 0),
  uuid: new Binary(Buffer.from(new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11').buffer), 4),
  none: null,
  nested: { deep: { list: [new Int32(1), Long.fromNumber(2), 'x', null, { y: new Date(0) }], text: 'é ✓ "quoted" \n' } },
};

const base = { ns: { db: 'shop', coll: 'orders' }, clusterTime: new Timestamp({ t: 1_700_000_000, i: 3 }), wallTime: new Date('2026-11-22T10:00:00.000Z') };

/** One event of every kind the source writes, built by the source's own encoder. */
function sampleEvents(): { name: string; event: ChangeEvent }[] {
  const change = (name: string, raw: Record<string, unknown>, mode: EncoderContext['mode'] = 'canonical') => ({
    name,
    event: encodeChange({ _id: { _data: `82${name}` }, ...base, ...raw }, { ...context, mode }).event,
  });
  return [
    change('insert', { operationType: 'insert', documentKey: { _id: id }, fullDocument: typed }),
    change('insert-relaxed', { operationType: 'insert', documentKey: { _id: id }, fullDocument: typed }, 'relaxed'),
    change('update', {
      operationType: 'update',
      documentKey: { _id: id },
      fullDocument: typed,
      fullDocumentBeforeChange: { _id: id, n: new Int32(4) },
      updateDescription: {
        updatedFields: { n: new Int32(5), 'nested.deep.text': 'x' },
        removedFields: ['old'],
        truncatedArrays: [{ field: 'arr', newSize: new Int32(2) }],
      },
    }),
    change('update-lookup-gone', {
      operationType: 'update',
      documentKey: { _id: id },
      fullDocument: null,
      updateDescription: { updatedFields: {}, removedFields: [] },
    }),
    change('replace', { operationType: 'replace', documentKey: { _id: id }, fullDocument: { _id: id, v: Long.fromNumber(-1) } }),
    change('delete', { operationType: 'delete', documentKey: { _id: id }, fullDocumentBeforeChange: null }),
    change('delete-in-txn', {
      operationType: 'delete',
      documentKey: { _id: Long.fromNumber(9) },
      lsid: { id: new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'), uid: new Binary(Buffer.alloc(32, 7), 0) },
      txnNumber: Long.fromNumber(7),
    }),
    change('drop', { operationType: 'drop' }),
    change('rename', { operationType: 'rename', to: { db: 'shop', coll: 'orders_old' } }),
    change('dropDatabase', { operationType: 'dropDatabase', ns: { db: 'shop' } }),
    change('invalidate', { operationType: 'invalidate', ns: undefined, clusterTime: undefined, wallTime: undefined }),
    { name: 'snapshot', event: encodeSnapshotDocument(typed, { db: 'shop', coll: 'orders' }, { ...context, multiNamespace: false }).event },
  ];
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function count(registry: TestSchemaRegistry, request: string): number {
  return registry.requests.filter((r) => r === request).length;
}

async function caught(promise: Promise<unknown>): Promise<ChangeflowError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ChangeflowError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('Avro codec (Confluent wire format) against the test schema registry', () => {
  let registry: TestSchemaRegistry;
  let codec: AvroCodec;

  beforeAll(async () => {
    registry = await startTestSchemaRegistry();
    codec = createAvroCodec({ registryUrl: registry.url });
  });
  afterAll(() => registry.close());

  it('declares exactly the envelope operations as the Avro enum', () => {
    const op = (changeEventAvroSchema().type as avro.types.RecordType).fields.find((f) => f.name === 'op');
    expect((op?.type as avro.types.EnumType).symbols).toEqual([...changeOperations]);
  });

  it.each(sampleEvents())('round-trips $name to the same ChangeEvent the JSON path gives', async ({ event }) => {
    const value = await codec.encode('shop.orders', event);
    expect(isConfluentAvro(value)).toBe(true);
    const decoded = await codec.decode(value, { topic: 'shop.orders', partition: 0 });
    const viaJson = parseChangeEvent(Buffer.from(JSON.stringify(event)));
    expect(decoded).toStrictEqual(viaJson);
    expect(decoded).toStrictEqual(event);
  });

  it('keeps every BSON type of the documents (ObjectId, Date, Decimal128, Int64, Int32, Double, Binary 0 and 4, null, nesting)', async () => {
    const event = sampleEvents().find((s) => s.name === 'insert')?.event;
    if (!event) throw new Error('no insert sample');
    const decoded = await codec.decode(await codec.encode('shop.orders', event));
    const back = fromEJson<typeof typed>(decoded.fullDocument);
    expect(canonicalText(back)).toBe(canonicalText(typed));
    expect(back._id).toBeInstanceOf(ObjectId);
    expect(back.at).toEqual(typed.at);
    expect(back.price.toString()).toBe('12.340');
    expect(back.big).toBeInstanceOf(Long);
    expect(back.big.toString()).toBe('9007199254740993');
    expect(back.n).toBeInstanceOf(Int32);
    expect(back.d).toBeInstanceOf(Double);
    expect(back.bin.sub_type).toBe(0);
    expect(Buffer.from(back.bin.buffer)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(back.uuid.sub_type).toBe(4);
    expect(back.none).toBeNull();
    expect(back.nested.deep.list[1]).toBeInstanceOf(Long);
    expect(back.nested.deep.text).toBe(typed.nested.deep.text);
  });

  it('tells an absent document from a null one (fullDocument, fullDocumentBeforeChange)', async () => {
    const samples = sampleEvents();
    const gone = samples.find((s) => s.name === 'update-lookup-gone')?.event;
    const deleted = samples.find((s) => s.name === 'delete')?.event;
    const dropped = samples.find((s) => s.name === 'drop')?.event;
    if (!gone || !deleted || !dropped) throw new Error('missing samples');
    expect((await codec.decode(await codec.encode('t', gone))).fullDocument).toBeNull();
    expect((await codec.decode(await codec.encode('t', deleted))).fullDocumentBeforeChange).toBeNull();
    const drop = await codec.decode(await codec.encode('t', dropped));
    expect('fullDocument' in drop).toBe(false);
    expect('documentKey' in drop).toBe(false);
  });

  it('writes magic byte 0 and the registered id, registering once per subject (TopicNameStrategy) however many events', async () => {
    const topic = 'cache.test';
    const events = sampleEvents().map((s) => s.event);
    const values = await Promise.all(Array.from({ length: 50 }, (_, i) => codec.encode(topic, events[i % events.length] as ChangeEvent)));
    for (const event of events) values.push(await codec.encode(topic, event));
    const ids = registry.subjects().get(`${topic}-value`);
    expect(ids).toHaveLength(1);
    for (const value of values) {
      expect(value[0]).toBe(0);
      expect(value.readInt32BE(1)).toBe(ids?.[0]);
    }
    expect(count(registry, `POST /subjects/${topic}-value/versions`)).toBe(1);
    expect(count(registry, `POST /subjects/${topic}-value`)).toBe(1);
    expect(await codec.schemaId(topic)).toBe(ids?.[0]);

    // A second codec (another process) finds the schema by look-up and never registers again.
    const other = createAvroCodec({ registryUrl: registry.url });
    await other.encode(topic, events[0] as ChangeEvent);
    expect(count(registry, `POST /subjects/${topic}-value/versions`)).toBe(1);
  });

  it('fetches a writer schema by id once, then decodes from its cache', async () => {
    const event = sampleEvents()[0]?.event as ChangeEvent;
    const value = await codec.encode('fetch.once', event);
    const reader = createAvroCodec({ registryUrl: registry.url });
    const schemaId = value.readInt32BE(1);
    const before = count(registry, `GET /schemas/ids/${schemaId}`);
    await Promise.all(Array.from({ length: 20 }, () => reader.decode(value)));
    await reader.decode(value);
    expect(count(registry, `GET /schemas/ids/${schemaId}`) - before).toBe(1);
  });

  it('encodes synchronously once ready() resolved the topics (for the source building records in a loop)', async () => {
    const event = sampleEvents()[2]?.event as ChangeEvent;
    const fresh = createAvroCodec({ registryUrl: registry.url });
    expect(() => fresh.encodeSync('sync.a', event)).toThrow(expect.objectContaining({ code: 'AVRO_NOT_READY' }));
    await fresh.ready(['sync.a', 'sync.b', 'sync.a']);
    const requests = registry.requests.length;
    await fresh.ready(['sync.b']);
    const value = fresh.encodeSync('sync.b', event);
    expect(registry.requests.length).toBe(requests);
    expect(value.readInt32BE(1)).toBe(registry.subjects().get('sync.b-value')?.[0]);
    expect(await fresh.decode(value)).toStrictEqual(event);
  });

  it('uses subjectFor when given', async () => {
    const named = createAvroCodec({ registryUrl: registry.url, subjectFor: () => 'io.changeflow.ChangeEvent' });
    await named.encode('any.topic', sampleEvents()[0]?.event as ChangeEvent);
    expect(registry.subjects().has('io.changeflow.ChangeEvent')).toBe(true);
    expect(registry.subjects().has('any.topic-value')).toBe(false);
  });

  it('reads values written with an evolved writer schema (a field added with a default)', async () => {
    const evolved = JSON.parse(changeEventAvroSchema().text) as { fields: unknown[] };
    evolved.fields.push({ name: 'tenant', type: ['null', 'string'], default: null });
    const response = await fetch(`${registry.url}/subjects/evolved-value/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(evolved) }),
    });
    const { id: evolvedId } = (await response.json()) as { id: number };
    const event = sampleEvents()[0]?.event as ChangeEvent;
    const plain = await codec.encode('evolved', event);
    const body = avro.Type.forSchema(evolved as avro.Schema).toBuffer({ ...changeEventAvroSchema().type.fromBuffer(plain.subarray(5)), tenant: 'a' });
    const header = Buffer.alloc(5);
    header.writeInt32BE(evolvedId, 1);
    expect(await codec.decode(Buffer.concat([header, body]))).toStrictEqual(event);
  });

  it('names the topic, partition, offset and schema id when the id is unknown (not retriable)', async () => {
    const value = Buffer.concat([Buffer.from([0, 0, 0, 0x27, 0x0f]), Buffer.from([2])]);
    const error = await caught(codec.decode(value, { topic: 'shop.orders', partition: 3, offset: '17' }));
    expect(error.retriable).toBe(false);
    expect(error.code).toBe('AVRO_SCHEMA_UNKNOWN');
    expect(error.message).toContain('schema id 9999');
    expect(error.message).toContain('topic shop.orders partition 3 offset 17');
  });

  it('rejects truncated and garbled bytes with the schema id named (not retriable)', async () => {
    const value = await codec.encode('shop.orders', sampleEvents()[2]?.event as ChangeEvent);
    const schemaId = value.readInt32BE(1);
    for (const bad of [value.subarray(0, value.length - 7), value.subarray(0, 5), Buffer.concat([value, Buffer.from([1, 2, 3])])]) {
      const error = await caught(codec.decode(bad, { topic: 'shop.orders', partition: 1 }));
      expect(error.retriable).toBe(false);
      expect(error.code).toBe('AVRO_DECODE');
      expect(error.message).toContain(`schema id ${schemaId}`);
      expect(error.message).toContain('topic shop.orders partition 1');
    }
    const short = await caught(codec.decode(Buffer.from([0, 0, 1])));
    expect(short.code).toBe('AVRO_DECODE');
    expect(short.message).toContain('fewer than the 5-byte header');
  });

  it('refuses a schema id that holds something else than a change event', async () => {
    const foreign = { type: 'record', name: 'Other', namespace: 'x', fields: [{ name: 'a', type: 'long' }] };
    const response = await fetch(`${registry.url}/subjects/foreign-value/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(foreign) }),
    });
    const { id: foreignId } = (await response.json()) as { id: number };
    const header = Buffer.alloc(5);
    header.writeInt32BE(foreignId, 1);
    const error = await caught(codec.decode(Buffer.concat([header, avro.Type.forSchema(foreign as avro.Schema).toBuffer({ a: 1 })]), { topic: 'foreign' }));
    expect(error.retriable).toBe(false);
    expect(error.code).toBe('AVRO_SCHEMA_MISMATCH');
    expect(error.message).toContain(`schema id ${foreignId}`);
  });

  it('tells JSON envelopes apart from Confluent Avro values', () => {
    expect(isConfluentAvro(Buffer.from(JSON.stringify(sampleEvents()[0]?.event)))).toBe(false);
    expect(isConfluentAvro(Buffer.from([0, 0, 0, 0]))).toBe(false);
    expect(isConfluentAvro(null)).toBe(false);
    expect(isConfluentAvro(Buffer.from([0, 0, 0, 0, 1]))).toBe(true);
  });

  it('refuses an event Avro could not give back unchanged', async () => {
    const event = sampleEvents()[0]?.event as ChangeEvent;
    await expect(codec.encode('t', { ...event, wallTime: '2026-11-22T10:00:00Z' })).rejects.toBeInstanceOf(ValidationError);
    await expect(codec.encode('t', { ...event, extra: 1 } as ChangeEvent)).rejects.toBeInstanceOf(ValidationError);
  });

  it('reports an unreachable registry as retriable UnavailableError, and recovers once it answers', async () => {
    const port = await closedPort();
    const offline = createAvroCodec({ registryUrl: `http://127.0.0.1:${port}`, retries: 0 });
    const encodeError = await caught(offline.encode('t', sampleEvents()[0]?.event as ChangeEvent));
    expect(encodeError).toBeInstanceOf(UnavailableError);
    expect(encodeError.retriable).toBe(true);
    const decodeError = await caught(offline.decode(Buffer.from([0, 0, 0, 0, 1, 2])));
    expect(decodeError).toBeInstanceOf(UnavailableError);

    // The failure is not cached: a registry that comes up on that address is used on the next call.
    const late = await startTestSchemaRegistry({ port });
    try {
      const value = await offline.encode('t', sampleEvents()[0]?.event as ChangeEvent);
      expect(await offline.decode(value)).toStrictEqual(sampleEvents()[0]?.event);
    } finally {
      await late.close();
    }
  });
});
