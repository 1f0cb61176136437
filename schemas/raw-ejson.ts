import { isUtf8 } from 'node:buffer';
import { BSON } from 'mongodb';
import { ChangeflowError } from '../core/errors.js';

/**
 * BSON bytes → canonical Extended JSON text, straight from the bytes: byte for byte what
 * `JSON.stringify(EJSON.serialize(BSON.deserialize(bytes, { promoteValues: false, promoteLongs: false,
 * promoteBuffers: false }), { relaxed: false }))` gives, without building JS objects, or JS strings for
 * string contents (their UTF-8 bytes are copied, escaped where JSON requires).
 *
 * Whatever it does not reproduce exactly throws NotReproducible, and the caller takes the object path:
 * rare or awkward types (regex, code, symbol, DBPointer, undefined, binary subtypes 2 and 9), dates out
 * of the JS range, invalid UTF-8 (the driver throws there), corrupt sizes, and documents whose JS object
 * would not keep their BSON key order or keys: integer-like keys (enumerated first), duplicate keys
 * (collapsed), `__proto__`, and the keys the driver turns into something else (`$ref`: a DBRef;
 * `_bsontype`: EJSON rejects it).
 *
 * Longer than the project's ~450 lines on purpose: one byte walker whose per-type writers share the
 * cursor, the output buffer and the fallback rule; split apart they would pass all three around on
 * the hottest path of the source (every event's bytes go through here).
 */

/** The bytes hold something this module does not reproduce exactly: use the object path. */
export class NotReproducible extends ChangeflowError {
  constructor() {
    super('BSON not reproducible as canonical EJSON from its bytes', { code: 'NOT_REPRODUCIBLE' });
  }
}

// One instance: a fallback costs no stack trace.
const notReproducible = new NotReproducible();

/** Throws NotReproducible. */
export function fallBack(): never {
  throw notReproducible;
}

const SLAB_SIZE = 64 * 1024;

/**
 * The output, written into slabs that are never written twice: a finished output is handed out as a
 * view of its slab, not copied (allocating and copying cost more than writing, per event). Like
 * Node's Buffer pool, a view keeps its whole slab alive; an output larger than a slab gets a slab of
 * its own. Positions callers keep are relative to the output's start (`written`), as a slab change
 * moves the output.
 */
export class JsonWriter {
  buffer: Buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
  /** Where the output being written begins in `buffer`. */
  private start = 0;
  /** Where it ends. */
  length = 0;

  /** Bytes written since the last finish() or discard(). */
  get written(): number {
    return this.length - this.start;
  }

  reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const written = this.length - this.start;
    let size = SLAB_SIZE;
    while (size < written + extra) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buffer.copy(next, 0, this.start, this.length);
    this.buffer = next;
    this.start = 0;
    this.length = written;
  }

  /** Drops what was written after `written` bytes. */
  truncate(written: number): void {
    this.length = this.start + written;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buffer[this.length++] = b;
  }

  /** `text` must be ASCII. */
  ascii(text: string): void {
    const n = text.length;
    this.reserve(n);
    const buffer = this.buffer;
    let pos = this.length;
    for (let i = 0; i < n; i++) buffer[pos++] = text.charCodeAt(i);
    this.length = pos;
  }

  /** Any JS string, as UTF-8. */
  utf8(text: string): void {
    this.reserve(text.length * 3);
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  bytes(source: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.reserve(n);
    // Buffer#copy costs more than a short loop.
    if (n < 32) {
      const buffer = this.buffer;
      let pos = this.length;
      for (let i = start; i < end; i++) buffer[pos++] = source[i] as number;
      this.length = pos;
    } else {
      this.buffer.set(source.subarray(start, end), this.length);
      this.length += n;
    }
  }

  /** The output's bytes [from, to) (relative to its start) as a string. */
  text(from: number, to: number): string {
    return this.buffer.toString('utf8', this.start + from, this.start + to);
  }

  /** The output, as a view no later write touches; the next output starts after it. */
  finish(): Buffer {
    const output = this.buffer.subarray(this.start, this.length);
    if (this.buffer.length > SLAB_SIZE) {
      this.buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.length = 0;
    }
    this.start = this.length;
    return output;
  }

  /** Drops the output being written. */
  discard(): void {
    this.length = this.start;
  }
}

const TYPE_DOUBLE = 0x01;
const TYPE_STRING = 0x02;
const TYPE_DOCUMENT = 0x03;
const TYPE_ARRAY = 0x04;
const TYPE_BINARY = 0x05;
const TYPE_OBJECT_ID = 0x07;
const TYPE_BOOLEAN = 0x08;
const TYPE_DATE = 0x09;
const TYPE_NULL = 0x0a;
const TYPE_INT32 = 0x10;
const TYPE_TIMESTAMP = 0x11;
const TYPE_INT64 = 0x12;
const TYPE_DECIMAL128 = 0x13;
const TYPE_MIN_KEY = 0xff;
const TYPE_MAX_KEY = 0x7f;

export const BsonType = {
  string: TYPE_STRING,
  document: TYPE_DOCUMENT,
  array: TYPE_ARRAY,
  undefined: 0x06,
  date: TYPE_DATE,
  timestamp: TYPE_TIMESTAMP,
} as const;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Deeper documents are left to the object path (MongoDB itself stores at most 100 levels). */
const MAX_DEPTH = 200;
/** The JS Date range, in ms either side of the epoch. */
export const MAX_DATE_MS = 8.64e15;

function int32At(bson: Buffer, offset: number): number {
  return (bson[offset] as number) | ((bson[offset + 1] as number) << 8) | ((bson[offset + 2] as number) << 16) | ((bson[offset + 3] as number) << 24);
}

/** An int64's value when it is a safe integer, NaN otherwise. */
function safeInt64At(bson: Buffer, offset: number): number {
  const high = int32At(bson, offset + 4);
  if (high < -0x200000 || high >= 0x200000) return NaN;
  return high * 2 ** 32 + (int32At(bson, offset) >>> 0);
}

/** The offset of the NUL that ends the C string at `offset`, which must come before `limit`. */
function cStringEnd(bson: Buffer, offset: number, limit: number): number {
  let i = offset;
  while (i < limit && bson[i] !== 0) i++;
  if (i >= limit) fallBack();
  return i;
}

/** The offset just past the value of `type` at `offset`, checking only its framing: it fits before `limit`, a string ends in NUL. */
function valueEnd(bson: Buffer, type: number, offset: number, limit: number): number {
  let end: number;
  switch (type) {
    case TYPE_NULL:
    case TYPE_MIN_KEY:
    case TYPE_MAX_KEY:
    case 0x06: // undefined
      end = offset;
      break;
    case TYPE_BOOLEAN:
      end = offset + 1;
      break;
    case TYPE_INT32:
      end = offset + 4;
      break;
    case TYPE_DOUBLE:
    case TYPE_DATE:
    case TYPE_TIMESTAMP:
    case TYPE_INT64:
      end = offset + 8;
      break;
    case TYPE_OBJECT_ID:
      end = offset + 12;
      break;
    case TYPE_DECIMAL128:
      end = offset + 16;
      break;
    case TYPE_STRING:
      if (offset + 4 > limit) fallBack();
      end = offset + 4 + int32At(bson, offset);
      if (end <= offset + 4) fallBack();
      break;
    case TYPE_DOCUMENT:
    case TYPE_ARRAY:
      if (offset + 4 > limit) fallBack();
      end = offset + int32At(bson, offset);
      if (end < offset + 5) fallBack();
      break;
    case TYPE_BINARY:
      if (offset + 5 > limit) fallBack();
      end = offset + 5 + int32At(bson, offset);
      if (end < offset + 5) fallBack();
      break;
    default:
      fallBack();
  }
  if (end > limit) fallBack();
  if (type === TYPE_STRING && bson[end - 1] !== 0) fallBack();
  return end;
}

/** The offset of the document's (or array's) terminating NUL, after checking its size against `limit`. */
function documentLast(bson: Buffer, offset: number, limit: number): number {
  if (offset + 5 > limit) fallBack();
  const size = int32At(bson, offset);
  if (size < 5 || size > limit - offset) fallBack();
  const last = offset + size - 1;
  if (bson[last] !== 0) fallBack();
  return last;
}

/**
 * Walks the elements of one document or array. For the top levels of a change event, whose fields are
 * picked by name; the values are left to writeValue.
 */
export class BsonElements {
  type = 0;
  keyStart = 0;
  keyEnd = 0;
  valueStart = 0;
  valueEnd = 0;
  private last = 0;

  constructor(readonly bson: Buffer) {}

  /** Starts on the document at `offset`, which must end by `limit`. */
  open(offset: number, limit: number): this {
    this.last = documentLast(this.bson, offset, limit);
    this.valueEnd = offset + 4;
    return this;
  }

  /** Moves to the next element; false at the document's end. */
  next(): boolean {
    const bson = this.bson;
    const at = this.valueEnd;
    if (at >= this.last) {
      if (at !== this.last) fallBack();
      return false;
    }
    this.type = bson[at] as number;
    this.keyStart = at + 1;
    this.keyEnd = cStringEnd(bson, at + 1, this.last);
    this.valueStart = this.keyEnd + 1;
    this.valueEnd = valueEnd(bson, this.type, this.valueStart, this.last);
    return true;
  }

  keyIs(name: Uint8Array): boolean {
    const n = name.length;
    if (this.keyEnd - this.keyStart !== n) return false;
    const bson = this.bson;
    const start = this.keyStart;
    for (let i = 0; i < n; i++) if (bson[start + i] !== name[i]) return false;
    return true;
  }
}

const PLAIN = 0;
const ESCAPED = 1;
const NON_ASCII = 2;
const BYTE_CLASS = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) BYTE_CLASS[b] = ESCAPED;
BYTE_CLASS[QUOTE] = ESCAPED;
BYTE_CLASS[BACKSLASH] = ESCAPED;
for (let b = 0x80; b < 0x100; b++) BYTE_CLASS[b] = NON_ASCII;

/** The letter after the backslash of a two-character escape; 0 where JSON.stringify writes \u00xx. */
const SHORT_ESCAPES = new Uint8Array(256);
for (const [b, letter] of [
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [QUOTE, '"'],
  [BACKSLASH, '\\'],
] as const)
  SHORT_ESCAPES[b] = letter.charCodeAt(0);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

function writeEscape(b: number, out: JsonWriter): void {
  out.reserve(6);
  const buffer = out.buffer;
  let pos = out.length;
  buffer[pos++] = BACKSLASH;
  const short = SHORT_ESCAPES[b] as number;
  if (short !== 0) {
    buffer[pos++] = short;
  } else {
    buffer[pos++] = 0x75; // u00xx
    buffer[pos++] = 0x30;
    buffer[pos++] = 0x30;
    buffer[pos++] = HEX_DIGITS[b >> 4] as number;
    buffer[pos++] = HEX_DIGITS[b & 15] as number;
  }
  out.length = pos;
}

/** UTF-8 bytes [start, end) as a JSON string literal, as JSON.stringify writes the decoded string. */
export function writeJsonString(bson: Buffer, start: number, end: number, out: JsonWriter): void {
  out.byte(QUOTE);
  let run = start;
  let classes = PLAIN;
  // Eight bytes at a time (the hot loop), one at a time in a block that needs escaping and at the end.
  for (let i = start; i < end; i += 8) {
    const blockEnd = i + 8;
    if (blockEnd <= end) {
      const c =
        (BYTE_CLASS[bson[i] as number] as number) |
        (BYTE_CLASS[bson[i + 1] as number] as number) |
        (BYTE_CLASS[bson[i + 2] as number] as number) |
        (BYTE_CLASS[bson[i + 3] as number] as number) |
        (BYTE_CLASS[bson[i + 4] as number] as number) |
        (BYTE_CLASS[bson[i + 5] as number] as number) |
        (BYTE_CLASS[bson[i + 6] as number] as number) |
        (BYTE_CLASS[bson[i + 7] as number] as number);
      classes |= c;
      if ((c & ESCAPED) === 0) continue;
    }
    const stop = blockEnd < end ? blockEnd : end;
    for (let j = i; j < stop; j++) {
      const c = BYTE_CLASS[bson[j] as number] as number;
      classes |= c;
      if (c === ESCAPED) {
        out.bytes(bson, run, j);
        writeEscape(bson[j] as number, out);
        run = j + 1;
      }
    }
  }
  out.bytes(bson, run, end);
  out.byte(QUOTE);
  if (classes & NON_ASCII && !isUtf8(bson.subarray(start, end))) fallBack();
}

const BASE64_DIGITS = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');

function writeBase64(bson: Buffer, start: number, end: number, out: JsonWriter): void {
  out.reserve(Math.ceil((end - start) / 3) * 4);
  const buffer = out.buffer;
  let pos = out.length;
  let i = start;
  for (; i + 2 < end; i += 3) {
    const bits = ((bson[i] as number) << 16) | ((bson[i + 1] as number) << 8) | (bson[i + 2] as number);
    buffer[pos++] = BASE64_DIGITS[bits >>> 18] as number;
    buffer[pos++] = BASE64_DIGITS[(bits >>> 12) & 63] as number;
    buffer[pos++] = BASE64_DIGITS[(bits >>> 6) & 63] as number;
    buffer[pos++] = BASE64_DIGITS[bits & 63] as number;
  }
  if (i < end) {
    const two = i + 1 < end;
    const bits = ((bson[i] as number) << 16) | (two ? (bson[i + 1] as number) << 8 : 0);
    buffer[pos++] = BASE64_DIGITS[bits >>> 18] as number;
    buffer[pos++] = BASE64_DIGITS[(bits >>> 12) & 63] as number;
    buffer[pos++] = two ? (BASE64_DIGITS[(bits >>> 6) & 63] as number) : 0x3d;
    buffer[pos++] = 0x3d;
  }
  out.length = pos;
}

function writeHex(bson: Buffer, start: number, end: number, out: JsonWriter): void {
  out.reserve(2 * (end - start));
  const buffer = out.buffer;
  let pos = out.length;
  for (let i = start; i < end; i++) {
    const b = bson[i] as number;
    buffer[pos++] = HEX_DIGITS[b >> 4] as number;
    buffer[pos++] = HEX_DIGITS[b & 15] as number;
  }
  out.length = pos;
}

/** Double#toExtendedJSON, canonical. */
function doubleText(value: number): string {
  if (Object.is(value, -0)) return '-0.0';
  return Number.isInteger(value) ? value.toFixed(1) : value.toString();
}

function sameCString(bson: Buffer, a: number, b: number): boolean {
  for (;;) {
    const x = bson[a++];
    if (x !== bson[b++]) return false;
    if (x === 0) return true;
  }
}

/**
 * The keys of the documents being written, to find duplicates: a stack, innermost document last (a
 * document's keys are those from its base to the top), indexed by an open-addressing hash table.
 * Keys leave in the reverse order they came, which leaves the table as it was before them.
 */
class KeySet {
  private offsets: Int32Array = new Int32Array(256);
  private hashes: Int32Array = new Int32Array(256);
  private slots: Int32Array = new Int32Array(256);
  /** Stack index + 1 of the key in each slot, 0 for a free slot; a quarter full at most. */
  private table: Int32Array = new Int32Array(1024);
  top = 0;

  /** Adds the key at `offset` to the document whose keys start at `base`; false if it has it already. */
  add(bson: Buffer, offset: number, hash: number, base: number): boolean {
    if (this.top === this.offsets.length) this.grow();
    const mask = this.table.length - 1;
    let slot = (hash ^ (hash >>> 15)) & mask;
    for (let entry = this.table[slot] as number; entry !== 0; entry = this.table[slot] as number) {
      const index = entry - 1;
      if (index >= base && this.hashes[index] === hash && sameCString(bson, this.offsets[index] as number, offset)) return false;
      slot = (slot + 1) & mask;
    }
    const top = this.top++;
    this.offsets[top] = offset;
    this.hashes[top] = hash;
    this.slots[top] = slot;
    this.table[slot] = top + 1;
    return true;
  }

  /** Removes the keys from `base` up: those of the document that ends. */
  truncate(base: number): void {
    while (this.top > base) this.table[this.slots[--this.top] as number] = 0;
  }

  private grow(): void {
    const count = this.top;
    const size = this.offsets.length * 2;
    const copy = (from: Int32Array): Int32Array => {
      const to = new Int32Array(size);
      to.set(from);
      return to;
    };
    this.offsets = copy(this.offsets);
    this.hashes = copy(this.hashes);
    this.slots = copy(this.slots);
    this.table = new Int32Array(size * 4);
    const mask = this.table.length - 1;
    for (let index = 0; index < count; index++) {
      const hash = this.hashes[index] as number;
      let slot = (hash ^ (hash >>> 15)) & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.slots[index] = slot;
      this.table[slot] = index + 1;
    }
  }
}

const keys = new KeySet();

function keyHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/** Keys whose document the JS object path changes: reproduced by falling back. */
const SPECIAL_KEYS = ['__proto__', '$ref', '_bsontype'].map((key) => ({ hash: keyHash(key), bytes: Buffer.from(key, 'latin1') }));

function isSpecialKey(bson: Buffer, start: number, end: number, hash: number): boolean {
  for (const key of SPECIAL_KEYS) {
    if (key.hash === hash && key.bytes.length === end - start && key.bytes.equals(bson.subarray(start, end))) return true;
  }
  return false;
}

function writeDocumentAt(bson: Buffer, offset: number, limit: number, out: JsonWriter, depth: number): number {
  if (depth > MAX_DEPTH) fallBack();
  const last = documentLast(bson, offset, limit);
  const keyBase = keys.top;
  out.byte(0x7b); // {
  let at = offset + 4;
  while (at < last) {
    const type = bson[at] as number;
    const keyStart = at + 1;
    let keyEnd = keyStart;
    let hash = 0;
    let classes = PLAIN;
    let digitsOnly = true;
    for (;;) {
      if (keyEnd >= last) fallBack();
      const b = bson[keyEnd] as number;
      if (b === 0) break;
      hash = (Math.imul(hash, 31) + b) | 0;
      classes |= BYTE_CLASS[b] as number;
      if (b < 0x30 || b > 0x39) digitsOnly = false;
      keyEnd++;
    }
    if (digitsOnly && keyEnd > keyStart) fallBack();
    if ((keyEnd - keyStart === 4 || keyEnd - keyStart === 9) && isSpecialKey(bson, keyStart, keyEnd, hash)) fallBack();
    if (!keys.add(bson, keyStart, hash, keyBase)) fallBack();

    if (at !== offset + 4) out.byte(0x2c); // ,
    if (classes === PLAIN) {
      out.byte(QUOTE);
      out.bytes(bson, keyStart, keyEnd);
      out.byte(QUOTE);
    } else {
      writeJsonString(bson, keyStart, keyEnd, out);
    }
    out.byte(0x3a); // :
    at = writeValueAt(bson, type, keyEnd + 1, last, out, depth);
  }
  keys.truncate(keyBase);
  out.byte(0x7d); // }
  return last + 1;
}

function writeArrayAt(bson: Buffer, offset: number, limit: number, out: JsonWriter, depth: number): number {
  if (depth > MAX_DEPTH) fallBack();
  const last = documentLast(bson, offset, limit);
  out.byte(0x5b); // [
  let at = offset + 4;
  while (at < last) {
    const type = bson[at] as number;
    // The driver numbers elements itself: their keys are not read.
    const keyEnd = cStringEnd(bson, at + 1, last);
    if (at !== offset + 4) out.byte(0x2c); // ,
    at = writeValueAt(bson, type, keyEnd + 1, last, out, depth);
  }
  out.byte(0x5d); // ]
  return last + 1;
}

function writeValueAt(bson: Buffer, type: number, offset: number, limit: number, out: JsonWriter, depth: number): number {
  switch (type) {
    case TYPE_STRING: {
      const end = valueEnd(bson, type, offset, limit);
      writeJsonString(bson, offset + 4, end - 1, out);
      return end;
    }
    case TYPE_DOCUMENT:
      return writeDocumentAt(bson, offset, limit, out, depth + 1);
    case TYPE_ARRAY:
      return writeArrayAt(bson, offset, limit, out, depth + 1);
    case TYPE_INT32:
      if (offset + 4 > limit) fallBack();
      out.ascii('{"$numberInt":"');
      out.ascii(String(int32At(bson, offset)));
      out.ascii('"}');
      return offset + 4;
    case TYPE_DOUBLE:
      if (offset + 8 > limit) fallBack();
      out.ascii('{"$numberDouble":"');
      out.ascii(doubleText(bson.readDoubleLE(offset)));
      out.ascii('"}');
      return offset + 8;
    case TYPE_INT64: {
      if (offset + 8 > limit) fallBack();
      const value = safeInt64At(bson, offset);
      out.ascii('{"$numberLong":"');
      out.ascii(Number.isNaN(value) ? bson.readBigInt64LE(offset).toString() : String(value));
      out.ascii('"}');
      return offset + 8;
    }
    case TYPE_BOOLEAN: {
      if (offset + 1 > limit) fallBack();
      const b = bson[offset];
      if (b === 1) out.ascii('true');
      else if (b === 0) out.ascii('false');
      else fallBack();
      return offset + 1;
    }
    case TYPE_NULL:
      out.ascii('null');
      return offset;
    case TYPE_OBJECT_ID:
      if (offset + 12 > limit) fallBack();
      out.ascii('{"$oid":"');
      writeHex(bson, offset, offset + 12, out);
      out.ascii('"}');
      return offset + 12;
    case TYPE_DATE: {
      if (offset + 8 > limit) fallBack();
      const ms = safeInt64At(bson, offset);
      if (!(Math.abs(ms) <= MAX_DATE_MS)) fallBack();
      out.ascii('{"$date":{"$numberLong":"');
      out.ascii(String(ms));
      out.ascii('"}}');
      return offset + 8;
    }
    case TYPE_TIMESTAMP:
      if (offset + 8 > limit) fallBack();
      out.ascii('{"$timestamp":{"t":');
      out.ascii(String(int32At(bson, offset + 4) >>> 0));
      out.ascii(',"i":');
      out.ascii(String(int32At(bson, offset) >>> 0));
      out.ascii('}}');
      return offset + 8;
    case TYPE_BINARY: {
      const end = valueEnd(bson, type, offset, limit);
      const subType = bson[offset + 4] as number;
      // 2 (old binary) has its own inner length; 9 (vector) EJSON validates.
      if (subType === 2 || subType === 9) fallBack();
      out.ascii('{"$binary":{"base64":"');
      writeBase64(bson, offset + 5, end, out);
      out.ascii('","subType":"');
      writeHex(bson, offset + 4, offset + 5, out);
      out.ascii('"}}');
      return end;
    }
    case TYPE_DECIMAL128:
      if (offset + 16 > limit) fallBack();
      out.ascii('{"$numberDecimal":"');
      out.ascii(new BSON.Decimal128(bson.subarray(offset, offset + 16)).toString());
      out.ascii('"}');
      return offset + 16;
    case TYPE_MIN_KEY:
      out.ascii('{"$minKey":1}');
      return offset;
    case TYPE_MAX_KEY:
      out.ascii('{"$maxKey":1}');
      return offset;
    default:
      return fallBack();
  }
}

/**
 * Writes the document at `offset` (ending by `limit`) as canonical EJSON text; returns the offset just
 * past it. Throws NotReproducible.
 */
export function writeDocument(bson: Buffer, offset: number, limit: number, out: JsonWriter): number {
  keys.truncate(0);
  return writeDocumentAt(bson, offset, limit, out, 0);
}

/** Writes the value of BSON `type` at `offset` (ending by `limit`); returns the offset just past it. Throws NotReproducible. */
export function writeValue(bson: Buffer, type: number, offset: number, limit: number, out: JsonWriter): number {
  keys.truncate(0);
  return writeValueAt(bson, type, offset, limit, out, 0);
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const scratch = new JsonWriter();

/** A whole BSON document as canonical EJSON text, or null where only the object path is exact. */
export function documentToCanonicalEJson(bytes: Uint8Array): Buffer | null {
  const bson = asBuffer(bytes);
  try {
    if (bson.length < 5 || int32At(bson, 0) !== bson.length) return null;
    writeDocument(bson, 0, bson.length, scratch);
    return scratch.finish();
  } catch (e) {
    scratch.discard();
    if (e instanceof NotReproducible) return null;
    throw e;
  }
}
