import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { ChangeflowError, UnavailableError, ValidationError, errorMessage } from '../core/errors.js';
import { changeEventSchema, isChangeEventShape, type ChangeEvent } from './envelope.js';

/**
 * The Avro value format (docs/avro.md: Avro with a Confluent-compatible schema
 * registry). Values use Confluent's wire format — magic byte 0, the 4-byte big-endian schema id,
 * then the Avro binary of schemas/change-event.avsc — so any Confluent deserializer reads them.
 * Document-valued fields travel as the JSON text of their Extended JSON (as Debezium's MongoDB
 * connector does), which is why decode gives back exactly the ChangeEvent the JSON path gives.
 */

export type CompatibilityLevel = keyof typeof COMPATIBILITY;

export interface AvroCodecOptions {
  registryUrl: string;
  /** The subject of a topic's values. Default: Confluent's TopicNameStrategy, `<topic>-value`. */
  subjectFor?: (topic: string) => string;
  /** Level set on a subject when changeflow registers its first schema there. Default BACKWARD (Confluent's default). */
  compatibility?: CompatibilityLevel;
  /** Basic auth for the registry (Confluent Cloud: API key and secret). */
  auth?: { username: string; password: string };
  /** Per-request timeout, ms. Default 10 000. */
  timeoutMs?: number;
  /** Retries of a failed registry GET inside the client; callers retry retriable errors themselves. Default 2. */
  retries?: number;
}

/** Where a record came from, for error messages. */
export interface RecordOrigin {
  topic: string;
  partition?: number;
  offset?: string;
}

export interface AvroCodec {
  /** The Confluent-framed Avro value of `event` for `topic` (registers the schema under the topic's subject on first use). */
  encode(topic: string, event: ChangeEvent): Promise<Buffer>;
  /** A Confluent-framed Avro value back into the ChangeEvent the JSON path would give. */
  decode(value: Buffer, origin?: RecordOrigin): Promise<ChangeEvent>;
  /** The schema id of changeflow's envelope under the topic's subject, registering it if needed (cached). */
  schemaId(topic: string): Promise<number>;
  /** Resolves the schema ids of these topics (registering where needed), so `encodeSync` can serve them. */
  ready(topics: Iterable<string>): Promise<void>;
  /** `encode` without the wait, for synchronous record building; the topic must have been through `ready` (else throws). */
  encodeSync(topic: string, event: ChangeEvent): Buffer;
}

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/** True for a value in Confluent's wire format (magic byte 0, schema id). A JSON envelope starts with `{`, so the two never mix up. */
export function isConfluentAvro(value: Buffer | null | undefined): boolean {
  return value != null && value.length >= HEADER_BYTES && value[0] === MAGIC_BYTE;
}

/** schemas/change-event.avsc, found by walking up from this module (works from the sources, dist/ and an installed package). */
export function changeEventSchemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'schemas', 'change-event.avsc');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new ChangeflowError('cannot find schemas/change-event.avsc next to the changeflow package', { code: 'AVRO_SCHEMA_MISSING' });
}

let loaded: { text: string; type: avro.Type } | undefined;

/** The envelope's Avro schema: its JSON text (what is registered) and the avsc type that writes it. */
export function changeEventAvroSchema(): { text: string; type: avro.Type } {
  if (!loaded) {
    const parsed = JSON.parse(readFileSync(changeEventSchemaPath(), 'utf8')) as avro.Schema;
    // Registered compact: registries compare the canonical form anyway, and a compact text keeps `doc` for readers.
    loaded = { text: JSON.stringify(parsed), type: avro.Type.forSchema(parsed) };
  }
  return loaded;
}

/** The Avro record of schemas/change-event.avsc, as avsc reads and writes it. */
export interface AvroChangeRecord {
  v: number;
  id: string;
  op: string;
  ns: { db: string; coll: string | null };
  documentKey: string | null;
  fullDocument: string | null;
  fullDocumentBeforeChange: string | null;
  updateDescription: string | null;
  to: { db: string; coll: string } | null;
  clusterTime: { t: number; i: number } | null;
  wallTime: number | null;
  txn: string | null;
  source: { name: string; cluster: string };
}

const ENVELOPE_KEYS: ReadonlySet<string> = new Set([
  'v',
  'id',
  'op',
  'ns',
  'documentKey',
  'fullDocument',
  'fullDocumentBeforeChange',
  'updateDescription',
  'to',
  'clusterTime',
  'wallTime',
  'txn',
  'source',
]);

/** `undefined` (field absent) → Avro null; anything else, `null` included, → its JSON text. */
function jsonText(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** ChangeEvent → Avro record. Throws ValidationError for what Avro could not carry back unchanged. */
export function toAvroRecord(event: ChangeEvent): AvroChangeRecord {
  for (const key of Object.keys(event)) {
    if (!ENVELOPE_KEYS.has(key))
      throw new ValidationError(`change event ${event.id}: field "${key}" is not part of the envelope and has no place in the Avro record`, {
        code: 'AVRO_ENCODE',
      });
  }
  let wallTime: number | null = null;
  if (event.wallTime !== undefined) {
    wallTime = Date.parse(event.wallTime);
    // timestamp-millis keeps milliseconds; only the ISO form Date#toISOString writes comes back identical.
    if (Number.isNaN(wallTime) || new Date(wallTime).toISOString() !== event.wallTime) {
      throw new ValidationError(
        `change event ${event.id}: wallTime "${event.wallTime}" is not an ISO-8601 UTC time with milliseconds (YYYY-MM-DDTHH:mm:ss.sssZ)`,
        { code: 'AVRO_ENCODE' },
      );
    }
  }
  return {
    v: event.v,
    id: event.id,
    op: event.op,
    ns: { db: event.ns.db, coll: event.ns.coll ?? null },
    documentKey: jsonText(event.documentKey),
    fullDocument: jsonText(event.fullDocument),
    fullDocumentBeforeChange: jsonText(event.fullDocumentBeforeChange),
    updateDescription: jsonText(event.updateDescription),
    to: event.to ? { db: event.to.db, coll: event.to.coll } : null,
    clusterTime: event.clusterTime ? { t: event.clusterTime.t, i: event.clusterTime.i } : null,
    wallTime,
    txn: jsonText(event.txn),
    source: { name: event.source.name, cluster: event.source.cluster },
  };
}

/** Avro record → ChangeEvent, keys in the order the source's JSON envelope has them. Validated like a JSON value. */
export function fromAvroRecord(record: AvroChangeRecord): ChangeEvent {
  const event: Record<string, unknown> = {
    v: record.v,
    id: record.id,
    op: record.op,
    ns: record.ns.coll === null ? { db: record.ns.db } : { db: record.ns.db, coll: record.ns.coll },
    source: { name: record.source.name, cluster: record.source.cluster },
  };
  if (record.documentKey !== null) event['documentKey'] = JSON.parse(record.documentKey);
  if (record.fullDocument !== null) event['fullDocument'] = JSON.parse(record.fullDocument);
  if (record.fullDocumentBeforeChange !== null) event['fullDocumentBeforeChange'] = JSON.parse(record.fullDocumentBeforeChange);
  if (record.updateDescription !== null) event['updateDescription'] = JSON.parse(record.updateDescription);
  if (record.to !== null) event['to'] = { db: record.to.db, coll: record.to.coll };
  if (record.clusterTime !== null) event['clusterTime'] = { t: record.clusterTime.t, i: record.clusterTime.i };
  if (record.wallTime !== null) event['wallTime'] = new Date(record.wallTime).toISOString();
  if (record.txn !== null) event['txn'] = JSON.parse(record.txn);
  if (isChangeEventShape(event)) return event;
  return changeEventSchema.parse(event) as ChangeEvent;
}

type RegistryArgs = ConstructorParameters<typeof SchemaRegistry>[0];
type Middleware = NonNullable<RegistryArgs['middlewares']>[number];

/** Bounds every registry request (the client sets no timeout of its own). */
function requestTimeout(timeoutMs: number): Middleware {
  return () => ({ prepareRequest: (next) => next().then((request) => request.enhance({ timeout: timeoutMs })) });
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The client (mappersmith) reports a refused connection, a reset or a timeout as status 400 and keeps
 * the cause only as text; changeflow never sends a malformed request, so 400 counts as "could not ask".
 * Refusals the registry itself makes (404 unknown subject/id, 409 incompatible, 422 invalid schema,
 * 401/403) are not retriable.
 */
function isUnavailableStatus(status: number | undefined): boolean {
  return status !== undefined && (status === 400 || status === 408 || status === 429 || status >= 500);
}

/** A registry failure as a ChangeflowError: retriable when the registry could not answer, not when it refused. */
function registryError(error: unknown, what: string, registryUrl: string): ChangeflowError {
  if (error instanceof ChangeflowError) return error;
  const detail = `${what}: ${errorMessage(error)}`;
  if (isUnavailableStatus(httpStatus(error)))
    return new UnavailableError(`schema registry ${registryUrl} unavailable (${detail})`, { cause: error, code: 'SCHEMA_REGISTRY_UNAVAILABLE' });
  return new ChangeflowError(`schema registry ${registryUrl} refused (${detail})`, { cause: error, code: 'SCHEMA_REGISTRY' });
}

function describeOrigin(origin: RecordOrigin | undefined): string {
  if (!origin) return 'record';
  const partition = origin.partition === undefined ? '' : ` partition ${origin.partition}`;
  const offset = origin.offset === undefined ? '' : ` offset ${origin.offset}`;
  return `record of topic ${origin.topic}${partition}${offset}`;
}

/** How values written with one schema id are read: the writer's type and, when it differs from ours, a resolver. */
interface Reader {
  type: avro.Type;
  resolver?: avro.Resolver;
}

export function createAvroCodec(options: AvroCodecOptions): AvroCodec {
  const { registryUrl } = options;
  const subjectFor = options.subjectFor ?? ((topic: string) => `${topic}-value`);
  const compatibility = options.compatibility ?? 'BACKWARD';
  const envelope = changeEventAvroSchema();
  const registry = new SchemaRegistry({
    host: registryUrl.replace(/\/+$/, ''),
    clientId: 'changeflow',
    retry: { retries: options.retries ?? 2, maxRetryTimeInSecs: 2 },
    middlewares: [requestTimeout(options.timeoutMs ?? 10_000)],
    ...(options.auth ? { auth: options.auth } : {}),
  });
  const confluentSchema = { type: SchemaType.AVRO, schema: envelope.text } as const;

  // Promises, so concurrent first uses share one registry call; a failure is forgotten so the next call tries again.
  const idsBySubject = new Map<string, Promise<number>>();
  const headerBySubject = new Map<string, Buffer>();
  const readersById = new Map<number, Promise<Reader>>();

  async function lookUpOrRegister(subject: string): Promise<number> {
    try {
      return await registry.getRegistryIdBySchema(subject, confluentSchema);
    } catch (error) {
      // The client reports "subject or schema not found" as an error without an HTTP status; anything with one is a real failure.
      if (httpStatus(error) !== undefined) throw registryError(error, `looking up the schema of subject ${subject}`, registryUrl);
    }
    try {
      const { id } = await registry.register(confluentSchema, { subject, compatibility: COMPATIBILITY[compatibility] });
      return id;
    } catch (error) {
      throw registryError(error, `registering the change event schema under subject ${subject}`, registryUrl);
    }
  }

  function schemaId(topic: string): Promise<number> {
    const subject = subjectFor(topic);
    let id = idsBySubject.get(subject);
    if (!id) {
      id = lookUpOrRegister(subject);
      idsBySubject.set(subject, id);
      id.then(
        (value) => headerBySubject.set(subject, header(value)),
        () => idsBySubject.delete(subject),
      );
    }
    return id;
  }

  async function fetchReader(id: number): Promise<Reader> {
    let writer: unknown;
    try {
      writer = await registry.getSchema(id);
    } catch (error) {
      const status = httpStatus(error);
      if (status === 404)
        throw new ChangeflowError(`schema id ${id} is unknown to the schema registry ${registryUrl}`, { cause: error, code: 'AVRO_SCHEMA_UNKNOWN' });
      throw registryError(error, `fetching schema id ${id}`, registryUrl);
    }
    if (!avro.Type.isType(writer)) throw new ChangeflowError(`schema id ${id} is not an Avro schema`, { code: 'AVRO_SCHEMA_MISMATCH' });
    const type = writer as avro.Type;
    if (type.equals(envelope.type)) return { type: envelope.type };
    try {
      return { type: envelope.type, resolver: envelope.type.createResolver(type) };
    } catch (error) {
      throw new ChangeflowError(`schema id ${id} (${type.name ?? type.typeName}) cannot be read as a changeflow change event: ${errorMessage(error)}`, {
        cause: error,
        code: 'AVRO_SCHEMA_MISMATCH',
      });
    }
  }

  function readerFor(id: number): Promise<Reader> {
    let reader = readersById.get(id);
    if (!reader) {
      reader = fetchReader(id);
      readersById.set(id, reader);
      reader.catch(() => readersById.delete(id));
    }
    return reader;
  }

  function frame(framed: Buffer, topic: string, event: ChangeEvent): Buffer {
    let body: Buffer;
    try {
      body = envelope.type.toBuffer(toAvroRecord(event));
    } catch (error) {
      if (error instanceof ChangeflowError) throw error;
      throw new ValidationError(`change event ${event.id} for topic ${topic} does not fit the Avro envelope: ${errorMessage(error)}`, {
        cause: error,
        code: 'AVRO_ENCODE',
      });
    }
    return Buffer.concat([framed, body], HEADER_BYTES + body.length);
  }

  return {
    schemaId,

    async ready(topics) {
      const pending = [...new Set(topics)].filter((topic) => !headerBySubject.has(subjectFor(topic)));
      if (pending.length > 0) await Promise.all(pending.map(schemaId));
    },

    encodeSync(topic, event) {
      const framed = headerBySubject.get(subjectFor(topic));
      if (!framed)
        throw new ChangeflowError(`Avro encoding for topic ${topic} before its schema id was resolved: await ready([topic]) first`, { code: 'AVRO_NOT_READY' });
      return frame(framed, topic, event);
    },

    async encode(topic, event) {
      const framed = headerBySubject.get(subjectFor(topic)) ?? header(await schemaId(topic));
      return frame(framed, topic, event);
    },

    async decode(value, origin) {
      if (value.length < HEADER_BYTES || value[0] !== MAGIC_BYTE) {
        const what = value.length < HEADER_BYTES ? `${value.length} bytes, fewer than the 5-byte header` : `magic byte ${value[0]}, expected 0`;
        throw new ChangeflowError(`${describeOrigin(origin)} is not in the Confluent Avro wire format (${what})`, { code: 'AVRO_DECODE' });
      }
      const id = value.readInt32BE(1);
      let reader: Reader;
      try {
        reader = await readerFor(id);
      } catch (error) {
        if (error instanceof ChangeflowError && !error.retriable)
          throw new ChangeflowError(`${describeOrigin(origin)}: ${error.message}`, { cause: error, code: error.code });
        throw error;
      }
      let record: AvroChangeRecord;
      try {
        record = reader.type.fromBuffer(value.subarray(HEADER_BYTES), reader.resolver) as AvroChangeRecord;
      } catch (error) {
        throw new ChangeflowError(`${describeOrigin(origin)} (schema id ${id}) is not a valid Avro change event: ${errorMessage(error)}`, {
          cause: error,
          code: 'AVRO_DECODE',
        });
      }
      try {
        return fromAvroRecord(record);
      } catch (error) {
        throw new ChangeflowError(`${describeOrigin(origin)} (schema id ${id}) decoded to an invalid change event: ${errorMessage(error)}`, {
          cause: error,
          code: 'AVRO_DECODE',
        });
      }
    },
  };
}

function header(id: number): Buffer {
  const buffer = Buffer.alloc(HEADER_BYTES);
  buffer.writeUInt8(MAGIC_BYTE, 0);
  buffer.writeInt32BE(id, 1);
  return buffer;
}
