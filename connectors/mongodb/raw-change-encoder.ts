import type { ChangeOperation } from '../../schemas/envelope.js';
import {
  asBuffer,
  BsonElements,
  BsonType,
  fallBack,
  JsonWriter,
  MAX_DATE_MS,
  NotReproducible,
  writeDocument,
  writeJsonString,
  writeValue,
} from '../../schemas/raw-ejson.js';
import type { EncoderContext } from './change-encoder.js';

/**
 * encodeChange plus the JSON record value, straight from a change event's BSON bytes (the object path
 * spends its time decoding the BSON into objects, converting them to EJSON objects, and stringifying).
 * Covers insert, update, replace and delete in canonical mode. Anything else returns null, and the
 * caller takes the object path: `encodeChange(BSON.deserialize(bytes, { promoteValues: false, … }))`.
 */

/** What encodeChange and changeRecords make of the event. */
export interface RawEncodedChange {
  /** event.id: the resume token's `_data`. */
  id: string;
  op: ChangeOperation;
  ns: { db: string; coll?: string };
  /** encodeChange's key: the canonical EJSON text of the documentKey, null without one. */
  key: string | null;
  hasDocumentKey: boolean;
  clusterTime?: { t: number; i: number };
  /** Byte for byte `Buffer.from(JSON.stringify(encodeChange(…).event))`. */
  value: Buffer;
}

/**
 * Where the fields of one document are, by name (the event's top level, its resume token, …).
 * Fields of other names are validated (written and dropped): the object path decodes them too, and
 * throws where they are corrupt.
 */
class NamedFields {
  private readonly names: Buffer[];
  /** Field numbers by name length: most keys are told apart by their length alone. */
  private readonly fieldsByLength: number[][] = [];
  /** Offset of each named field's value, -1 when absent. */
  readonly offset: Int32Array;
  readonly end: Int32Array;
  private readonly types: Uint8Array;

  /** `rejected`: keys that make the object path see something other than a plain document. */
  constructor(names: readonly string[], rejected: readonly string[]) {
    this.names = [...names, ...rejected].map((text) => Buffer.from(text, 'latin1'));
    this.names.forEach((name, field) => (this.fieldsByLength[name.length] ??= []).push(field));
    this.offset = new Int32Array(names.length);
    this.end = new Int32Array(names.length);
    this.types = new Uint8Array(names.length);
  }

  private fieldOf(elements: BsonElements): number {
    const candidates = this.fieldsByLength[elements.keyEnd - elements.keyStart];
    if (candidates !== undefined) {
      for (const field of candidates) if (elements.keyIs(this.names[field] as Buffer)) return field;
    }
    return -1;
  }

  read(elements: BsonElements, offset: number, limit: number, out: JsonWriter): void {
    const count = this.offset.length;
    this.offset.fill(-1);
    elements.open(offset, limit);
    while (elements.next()) {
      const field = this.fieldOf(elements);
      if (field === -1) {
        validate(elements.bson, elements.type, elements.valueStart, elements.valueEnd, out);
        continue;
      }
      // A rejected name, or a repeated one: the object keeps the last value but decodes (and may throw on) the first too.
      if (field >= count || this.offset[field] !== -1) fallBack();
      this.offset[field] = elements.valueStart;
      this.end[field] = elements.valueEnd;
      this.types[field] = elements.type;
    }
  }

  has(field: number): boolean {
    return this.offset[field] !== -1;
  }

  /** The field's BSON type, 0 when absent. */
  type(field: number): number {
    return this.offset[field] === -1 ? 0 : (this.types[field] as number);
  }

  write(bson: Buffer, field: number, out: JsonWriter): void {
    writeValue(bson, this.types[field] as number, this.offset[field] as number, this.end[field] as number, out);
  }

  /** Validates the field's value, when there is one, without writing it. */
  validate(bson: Buffer, field: number, out: JsonWriter): void {
    if (this.has(field)) validate(bson, this.types[field] as number, this.offset[field] as number, this.end[field] as number, out);
  }

  /** [start, end) of a string field's UTF-8 bytes; falls back for anything but a string. */
  stringBytes(field: number): [number, number] {
    if (this.type(field) !== BsonType.string) fallBack();
    return [(this.offset[field] as number) + 4, (this.end[field] as number) - 1];
  }
}

function validate(bson: Buffer, type: number, offset: number, limit: number, out: JsonWriter): void {
  const mark = out.written;
  writeValue(bson, type, offset, limit, out);
  out.truncate(mark);
}

function bytesEqual(bson: Buffer, start: number, end: number, text: Buffer): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (bson[start + i] !== text[i]) return false;
  return true;
}

const ID = 0;
const OPERATION_TYPE = 1;
const NS = 2;
const DOCUMENT_KEY = 3;
const FULL_DOCUMENT = 4;
const FULL_DOCUMENT_BEFORE_CHANGE = 5;
const UPDATE_DESCRIPTION = 6;
const TO = 7;
const CLUSTER_TIME = 8;
const WALL_TIME = 9;
const LSID = 10;
const TXN_NUMBER = 11;
const EVENT_FIELDS = [
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
];
// `$ref` at the top could make the whole event a DBRef (conservatively: the driver also wants `$id`).
// `splitEvent`: a fragment of a large event, which the source joins as objects before encoding.
const event = new NamedFields(EVENT_FIELDS, ['$ref', 'splitEvent']);
const NOT_PLAIN = ['$ref', '_bsontype'];
const DATA = 0;
const token = new NamedFields(['_data'], NOT_PLAIN);
const DB = 0;
const COLL = 1;
const namespace = new NamedFields(['db', 'coll'], NOT_PLAIN);
const UPDATED_FIELDS = 0;
const REMOVED_FIELDS = 1;
const TRUNCATED_ARRAYS = 2;
const DISAMBIGUATED_PATHS = 3;
const update = new NamedFields(['updatedFields', 'removedFields', 'truncatedArrays', 'disambiguatedPaths'], NOT_PLAIN);

const OPERATIONS = ['insert', 'update', 'replace', 'delete'] as const satisfies readonly ChangeOperation[];
const OPERATION_NAMES = OPERATIONS.map((op) => Buffer.from(op, 'latin1'));

const out = new JsonWriter();
const QUOTE = 0x22;

let source = { name: '', cluster: '', json: Buffer.alloc(0) };

/** `,"source":{…}`, the same for every event of a source (snapshot documents' too). */
export function sourceJson(context: EncoderContext): Buffer {
  if (context.sourceName !== source.name || context.cluster !== source.cluster) {
    const json = `,"source":${JSON.stringify({ name: context.sourceName, cluster: context.cluster })}`;
    source = { name: context.sourceName, cluster: context.cluster, json: Buffer.from(json) };
  }
  return source.json;
}

/** A string from UTF-8 bytes, remembered: a source's events mostly repeat one namespace. */
class RepeatedString {
  private bytes = Buffer.alloc(0);
  private text = '';

  of(bson: Buffer, start: number, end: number): string {
    if (!bytesEqual(bson, start, end, this.bytes)) {
      this.bytes = Buffer.from(bson.subarray(start, end));
      this.text = bson.toString('utf8', start, end);
    }
    return this.text;
  }
}

const dbName = new RepeatedString();
const collName = new RepeatedString();

/** `value` (a non-negative int32) in `width` decimal digits at `pos`; returns the position after them. */
function putDigits(buffer: Buffer, pos: number, value: number, width: number): number {
  let n = value;
  for (let at = pos + width - 1; at >= pos; at--) {
    const quotient = (n / 10) | 0;
    buffer[at] = 0x30 + n - quotient * 10;
    n = quotient;
  }
  return pos + width;
}

const MS_PER_DAY = 86_400_000;

/** `new Date(ms).toISOString()`, without a Date (whose toISOString costs a fifth of a small event). */
function writeIsoDate(ms: number): void {
  const days = Math.floor(ms / MS_PER_DAY);
  const msOfDay = ms - days * MS_PER_DAY;
  // The proleptic Gregorian date of a day number: eras of 400 years (146097 days), years from March
  // (leap days last), months of 153 days per 5.
  const fromMarch0 = days + 719_468;
  const era = Math.floor(fromMarch0 / 146_097);
  const dayOfEra = fromMarch0 - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = era * 400 + yearOfEra + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {
    // Six-digit signed years: rare enough for the Date.
    out.ascii(new Date(ms).toISOString());
    return;
  }
  out.reserve(24);
  const buffer = out.buffer;
  let pos = putDigits(buffer, out.length, year, 4);
  buffer[pos++] = 0x2d; // -
  pos = putDigits(buffer, pos, month, 2);
  buffer[pos++] = 0x2d;
  pos = putDigits(buffer, pos, day, 2);
  buffer[pos++] = 0x54; // T
  pos = putDigits(buffer, pos, (msOfDay / 3_600_000) | 0, 2);
  buffer[pos++] = 0x3a; // :
  pos = putDigits(buffer, pos, ((msOfDay / 60_000) | 0) % 60, 2);
  buffer[pos++] = 0x3a;
  pos = putDigits(buffer, pos, ((msOfDay / 1000) | 0) % 60, 2);
  buffer[pos++] = 0x2e; // .
  pos = putDigits(buffer, pos, msOfDay % 1000, 3);
  buffer[pos++] = 0x5a; // Z
  out.length = pos;
}

function operationOf(bson: Buffer): ChangeOperation {
  const [start, end] = event.stringBytes(OPERATION_TYPE);
  const i = OPERATION_NAMES.findIndex((op) => bytesEqual(bson, start, end, op));
  return i === -1 ? fallBack() : (OPERATIONS[i] as ChangeOperation);
}

/** A field encodeChange writes as `null` when it is not a document. */
function writeDocumentOrNull(bson: Buffer, field: number): void {
  if (event.type(field) === BsonType.document) {
    event.write(bson, field, out);
  } else {
    event.validate(bson, field, out);
    out.ascii('null');
  }
}

/** ns as encodeChange reads it: the event's when it has a string `db`, else what is watched. */
function writeNamespace(bson: Buffer, elements: BsonElements, watch: EncoderContext['watch']): { db: string; coll?: string } {
  out.ascii(',"ns":{"db":');
  if (event.type(NS) === BsonType.document) {
    namespace.read(elements, event.offset[NS] as number, event.end[NS] as number, out);
    if (namespace.type(DB) === BsonType.string) {
      const [dbStart, dbEnd] = namespace.stringBytes(DB);
      writeJsonString(bson, dbStart, dbEnd, out);
      const ns: { db: string; coll?: string } = { db: dbName.of(bson, dbStart, dbEnd) };
      if (namespace.type(COLL) === BsonType.string) {
        const [collStart, collEnd] = namespace.stringBytes(COLL);
        out.ascii(',"coll":');
        writeJsonString(bson, collStart, collEnd, out);
        ns.coll = collName.of(bson, collStart, collEnd);
      } else {
        namespace.validate(bson, COLL, out);
      }
      out.byte(0x7d);
      return ns;
    }
    namespace.validate(bson, DB, out);
    namespace.validate(bson, COLL, out);
  } else {
    event.validate(bson, NS, out);
  }
  // Only a one-collection watch may name the namespace of a (document) event the server left it out
  // of; the object path refuses the others (UnplacedChangeError).
  if (watch.db === undefined || watch.coll === undefined) fallBack();
  const ns = { db: watch.db, coll: watch.coll };
  out.utf8(JSON.stringify(ns.db));
  out.ascii(',"coll":');
  out.utf8(JSON.stringify(ns.coll));
  out.byte(0x7d);
  return ns;
}

function writeUpdateDescription(bson: Buffer, elements: BsonElements): void {
  update.read(elements, event.offset[UPDATE_DESCRIPTION] as number, event.end[UPDATE_DESCRIPTION] as number, out);
  out.ascii(',"updateDescription":{"updatedFields":');
  if (update.type(UPDATED_FIELDS) === BsonType.document) {
    update.write(bson, UPDATED_FIELDS, out);
  } else {
    update.validate(bson, UPDATED_FIELDS, out);
    out.ascii('{}');
  }
  out.ascii(',"removedFields":[');
  if (update.type(REMOVED_FIELDS) === BsonType.array) {
    elements.open(update.offset[REMOVED_FIELDS] as number, update.end[REMOVED_FIELDS] as number);
    let first = true;
    while (elements.next()) {
      // encodeChange applies String() to each; a server only sends strings.
      if (elements.type !== BsonType.string) fallBack();
      if (!first) out.byte(0x2c);
      first = false;
      writeJsonString(bson, elements.valueStart + 4, elements.valueEnd - 1, out);
    }
  } else {
    update.validate(bson, REMOVED_FIELDS, out);
  }
  out.byte(0x5d);
  if (update.type(TRUNCATED_ARRAYS) === BsonType.array) {
    out.ascii(',"truncatedArrays":');
    update.write(bson, TRUNCATED_ARRAYS, out);
  } else {
    update.validate(bson, TRUNCATED_ARRAYS, out);
  }
  if (
    update.type(DISAMBIGUATED_PATHS) === BsonType.document &&
    allArrays(elements, update.offset[DISAMBIGUATED_PATHS] as number, update.end[DISAMBIGUATED_PATHS] as number)
  ) {
    out.ascii(',"disambiguatedPaths":');
    update.write(bson, DISAMBIGUATED_PATHS, out);
  } else {
    update.validate(bson, DISAMBIGUATED_PATHS, out);
  }
  out.byte(0x7d);
}

/** encodeChange keeps disambiguatedPaths only when each of its values is an array. */
function allArrays(elements: BsonElements, offset: number, end: number): boolean {
  elements.open(offset, end);
  while (elements.next()) if (elements.type !== BsonType.array) return false;
  return true;
}

// Writes the envelope's fields in the order encodeChange assigns them, whatever the BSON order.
function encode(bson: Buffer, context: EncoderContext): RawEncodedChange {
  if (bson.length < 5 || bson.readInt32LE(0) !== bson.length) fallBack();
  const elements = new BsonElements(bson);
  event.read(elements, 0, bson.length, out);
  for (let field = 0; field < EVENT_FIELDS.length; field++) {
    // The object path reads an undefined value as an absent field: rare, left to it.
    if (event.type(field) === BsonType.undefined) fallBack();
  }
  // `to` is for renames.
  if (event.has(TO)) fallBack();
  const op = operationOf(bson);
  // An update without updateDescription comes from mongo-java-server: encodeChange reads its specification.
  const hasUpdateDescription = event.type(UPDATE_DESCRIPTION) === BsonType.document;
  if (op === 'update' && !hasUpdateDescription) fallBack();

  if (event.type(ID) !== BsonType.document) fallBack();
  token.read(elements, event.offset[ID] as number, event.end[ID] as number, out);
  const [idStart, idEnd] = token.stringBytes(DATA);
  out.ascii('{"v":1,"id":');
  writeJsonString(bson, idStart, idEnd, out);
  out.ascii(',"op":"');
  out.ascii(op);
  out.byte(QUOTE);
  const ns = writeNamespace(bson, elements, context.watch);
  const sourceBytes = sourceJson(context);
  out.bytes(sourceBytes, 0, sourceBytes.length);

  let key: string | null = null;
  const hasDocumentKey = event.type(DOCUMENT_KEY) === BsonType.document;
  if (hasDocumentKey) {
    out.ascii(',"documentKey":');
    const start = out.written;
    writeDocument(bson, event.offset[DOCUMENT_KEY] as number, event.end[DOCUMENT_KEY] as number, out);
    key = out.text(start, out.written);
  } else {
    event.validate(bson, DOCUMENT_KEY, out);
  }
  if (event.has(FULL_DOCUMENT)) {
    out.ascii(',"fullDocument":');
    writeDocumentOrNull(bson, FULL_DOCUMENT);
  }
  if (event.has(FULL_DOCUMENT_BEFORE_CHANGE)) {
    out.ascii(',"fullDocumentBeforeChange":');
    writeDocumentOrNull(bson, FULL_DOCUMENT_BEFORE_CHANGE);
  }
  if (hasUpdateDescription) writeUpdateDescription(bson, elements);
  else event.validate(bson, UPDATE_DESCRIPTION, out);

  let clusterTime: { t: number; i: number } | undefined;
  if (event.type(CLUSTER_TIME) === BsonType.timestamp) {
    const at = event.offset[CLUSTER_TIME] as number;
    clusterTime = { t: bson.readUInt32LE(at + 4), i: bson.readUInt32LE(at) };
    out.ascii(',"clusterTime":{"t":');
    out.ascii(String(clusterTime.t));
    out.ascii(',"i":');
    out.ascii(String(clusterTime.i));
    out.byte(0x7d);
  } else {
    event.validate(bson, CLUSTER_TIME, out);
  }
  if (event.type(WALL_TIME) === BsonType.date) {
    const at = event.offset[WALL_TIME] as number;
    const ms = bson.readInt32LE(at + 4) * 2 ** 32 + bson.readUInt32LE(at);
    // Out of range, toISOString throws, in encodeChange too.
    if (!(Math.abs(ms) <= MAX_DATE_MS)) fallBack();
    out.ascii(',"wallTime":"');
    writeIsoDate(ms);
    out.byte(QUOTE);
  } else {
    event.validate(bson, WALL_TIME, out);
  }
  if (event.has(LSID) || event.has(TXN_NUMBER)) {
    out.ascii(',"txn":{"lsid":');
    if (event.has(LSID)) event.write(bson, LSID, out);
    else out.ascii('null');
    out.ascii(',"txnNumber":');
    if (event.has(TXN_NUMBER)) event.write(bson, TXN_NUMBER, out);
    else out.ascii('null');
    out.byte(0x7d);
  }
  out.byte(0x7d);

  const change: RawEncodedChange = { id: bson.toString('utf8', idStart, idEnd), op, ns, key, hasDocumentKey, value: out.finish() };
  if (clusterTime) change.clusterTime = clusterTime;
  return change;
}

/** The change's record value and what its records need, or null where only the object path is exact. */
export function encodeRawChange(bson: Uint8Array, context: EncoderContext): RawEncodedChange | null {
  if (context.mode !== 'canonical') return null;
  try {
    return encode(asBuffer(bson), context);
  } catch (e) {
    out.discard();
    if (e instanceof NotReproducible) return null;
    throw e;
  }
}
