import { ChangeflowError } from '../../core/errors.js';

/**
 * Host-side codec for the subset of QuickJS's binary object format (JS_WriteObject / JS_ReadObject,
 * exposed as encodeBinaryJSON / decodeBinaryJSON) that JSON values need. It lets events enter the VM and
 * actions leave it without QuickJS's JSON.parse / JSON.stringify, which cost ~10 µs per KiB each.
 * The format is QuickJS-version specific: the sandbox verifies it at start-up and falls
 * back to JSON strings if the round trip does not match.
 *
 * Layout: version byte, leb128 atom count, atoms (as strings), then one tagged value. Object keys are
 * leb128 atom refs: (index + 1) << 1 into the atom table, or (n << 1) | 1 for integer keys.
 * Strings are leb128 (length << 1 | isWide) followed by Latin-1 bytes or UTF-16LE code units.
 */

const TAG_NULL = 1;
const TAG_UNDEFINED = 2;
const TAG_FALSE = 3;
const TAG_TRUE = 4;
const TAG_INT32 = 5;
const TAG_FLOAT64 = 6;
const TAG_STRING = 7;
const TAG_OBJECT = 8;
const TAG_ARRAY = 9;
const TAG_BIG_INT = 10;
const TAG_DATE = 17;
const TAG_OBJECT_VALUE = 18;
const TAG_OBJECT_REFERENCE = 19;

const TAG_NAMES: Record<number, string> = {
  11: 'template object',
  12: 'function bytecode',
  13: 'module',
  14: 'typed array',
  15: 'ArrayBuffer',
  16: 'SharedArrayBuffer',
  20: 'RegExp',
  21: 'Map or Set',
};

// eslint-disable-next-line no-control-regex -- the range starts at U+0000 on purpose: every Latin-1 code unit
const NON_LATIN1 = /[^\u0000-\u00ff]/;
const MAX_DEPTH = 2000;

/** A value the codec cannot (or, mirroring JSON, must not) carry; `path` names where it was. */
export class BjsonValueError extends ChangeflowError {
  readonly path: string;
  readonly problem: string;
  constructor(path: string, problem: string) {
    super(`${path} ${problem}`, { code: 'FUNCTION_VALUE' });
    this.path = path;
    this.problem = problem;
  }
}

class Writer {
  buf = Buffer.allocUnsafe(64 * 1024);
  pos = 0;
  atoms = new Map<string, number>();
  atomList: string[] = [];

  reset(): void {
    this.pos = 0;
    this.atoms.clear();
    this.atomList.length = 0;
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  leb(n: number): void {
    this.ensure(5);
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
  }

  /** String body without tag (also used for atoms). */
  str(s: string): void {
    const n = s.length;
    if (n < 24) {
      this.ensure(5 + 2 * n);
      const start = this.pos;
      this.leb(n << 1);
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0xff) {
          this.pos = start;
          this.wide(s);
          return;
        }
        buf[p++] = c;
      }
      this.pos = p;
      return;
    }
    if (NON_LATIN1.test(s)) {
      this.wide(s);
      return;
    }
    this.leb(n << 1);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'latin1');
  }

  wide(s: string): void {
    const n = s.length;
    this.leb((n << 1) | 1);
    this.ensure(2 * n);
    this.pos += this.buf.write(s, this.pos, 2 * n, 'utf16le');
  }

  atom(key: string): void {
    let index = this.atoms.get(key);
    if (index === undefined) {
      index = this.atomList.length + 1;
      this.atoms.set(key, index);
      this.atomList.push(key);
    }
    this.leb(index << 1);
  }

  float(v: number): void {
    this.ensure(9);
    this.buf[this.pos++] = TAG_FLOAT64;
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** JSON.stringify semantics: toJSON, boxed primitives unwrapped, non-finite numbers become null. */
  value(v: unknown, key: string | number, depth: number): void {
    switch (typeof v) {
      case 'string':
        this.ensure(1);
        this.buf[this.pos++] = TAG_STRING;
        this.str(v);
        return;
      case 'number':
        if ((v | 0) === v && !Object.is(v, -0)) {
          this.ensure(6);
          this.buf[this.pos++] = TAG_INT32;
          this.leb(((v << 1) ^ (v >> 31)) >>> 0);
        } else if (Number.isFinite(v)) {
          this.float(v);
        } else {
          this.tag(TAG_NULL);
        }
        return;
      case 'boolean':
        this.tag(v ? TAG_TRUE : TAG_FALSE);
        return;
      case 'object':
        if (v === null) this.tag(TAG_NULL);
        else this.object(v, key, depth);
        return;
      case 'bigint':
        throw new TypeError('BigInt value cannot be serialised');
      default:
        this.tag(TAG_NULL);
    }
  }

  tag(t: number): void {
    this.ensure(1);
    this.buf[this.pos++] = t;
  }

  object(v: object, key: string | number, depth: number): void {
    if (depth > MAX_DEPTH) throw new TypeError('value nests too deeply (or contains a cycle)');
    if (Array.isArray(v)) {
      this.array(v, depth);
      return;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    // Plain objects (all of parsed JSON) skip the toJSON / boxed-primitive checks.
    if (proto !== Object.prototype && proto !== null) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        this.value(toJSON.call(v, String(key)), key, depth + 1);
        return;
      }
      if (v instanceof Number || v instanceof String || v instanceof Boolean) {
        this.value(v.valueOf(), key, depth);
        return;
      }
    }
    const record = v as Record<string, unknown>;
    const keys = Object.keys(record);
    this.tag(TAG_OBJECT);
    // Reserve the property count and patch it: one byte when it must fit, else a padded 5-byte leb128.
    const countAt = this.pos;
    const wide = keys.length >= 0x80;
    this.ensure(5);
    this.pos += wide ? 5 : 1;
    let count = 0;
    for (const k of keys) {
      const item = record[k];
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
      count++;
      this.atom(k);
      this.value(item, k, depth + 1);
    }
    const buf = this.buf;
    if (!wide) buf[countAt] = count;
    else for (let i = 0; i < 5; i++) buf[countAt + i] = ((count >>> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0);
  }

  array(v: readonly unknown[], depth: number): void {
    this.tag(TAG_ARRAY);
    const n = v.length;
    this.leb(n);
    for (let i = 0; i < n; i++) {
      const item = v[i];
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') this.tag(TAG_NULL);
      else this.value(item, i, depth + 1);
    }
  }

  /** Header (version + atom table) followed by the body, as one fresh buffer. */
  finish(version: number): Uint8Array {
    const bodyLength = this.pos;
    this.tag(version);
    this.leb(this.atomList.length);
    for (const a of this.atomList) this.str(a);
    const headerLength = this.pos - bodyLength;
    const out = new Uint8Array(headerLength + bodyLength);
    out.set(this.buf.subarray(bodyLength, this.pos), 0);
    out.set(this.buf.subarray(0, bodyLength), headerLength);
    return out;
  }
}

const writer = new Writer();

/** Encodes a JSON-compatible value (JSON.stringify semantics) for QuickJS's decodeBinaryJSON. */
export function encodeBjson(value: unknown, version: number): Uint8Array {
  writer.reset();
  try {
    writer.value(value, '', 0);
    return writer.finish(version);
  } finally {
    if (writer.buf.length > 16 * 1024 * 1024) writer.buf = Buffer.allocUnsafe(64 * 1024);
  }
}

const UNDEFINED_MARK = Symbol('undefined');

class Reader {
  pos = 0;
  atoms: string[] = [];
  refs: unknown[] = [];
  /** open[i] is true while object i is being read: a reference to it is a cycle. */
  open: boolean[] = [];
  /** Keys from the root to the value being read; joined into a path only when reporting an error. */
  trail: (string | number)[] = [];

  constructor(
    readonly buf: Buffer,
    readonly rootPath: string,
  ) {}

  fail(problem: string): never {
    let path = this.rootPath;
    for (const k of this.trail) path += typeof k === 'number' ? `[${k}]` : `.${k}`;
    // A path thousands of levels long says no more than its two ends.
    if (path.length > 200) path = `${path.slice(0, 80)}…${path.slice(-40)}`;
    throw new BjsonValueError(path, problem);
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new RangeError('truncated binary value');
    return this.buf[this.pos++] as number;
  }

  leb(): number {
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 28) throw new RangeError('bad leb128');
    }
  }

  str(): string {
    const header = this.leb();
    const len = header >>> 1;
    const start = this.pos;
    if (header & 1) {
      this.pos += 2 * len;
      if (this.pos > this.buf.length) throw new RangeError('truncated string');
      return this.buf.toString('utf16le', start, this.pos);
    }
    this.pos += len;
    if (this.pos > this.buf.length) throw new RangeError('truncated string');
    if (len < 16) {
      let s = '';
      for (let i = start; i < this.pos; i++) s += String.fromCharCode(this.buf[i] as number);
      return s;
    }
    return this.buf.toString('latin1', start, this.pos);
  }

  value(): unknown {
    const tag = this.u8();
    switch (tag) {
      case TAG_NULL:
        return null;
      case TAG_UNDEFINED:
        return UNDEFINED_MARK;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_INT32: {
        const z = this.leb();
        return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      }
      case TAG_FLOAT64: {
        const v = this.buf.readDoubleLE(this.pos);
        this.pos += 8;
        return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
      }
      case TAG_STRING:
        return this.str();
      case TAG_OBJECT:
        return this.object();
      case TAG_ARRAY:
        return this.array();
      case TAG_DATE: {
        const slot = this.refs.push(null) - 1;
        const time = this.value();
        const iso = typeof time === 'number' && Number.isFinite(new Date(time).getTime()) ? new Date(time).toISOString() : null;
        this.refs[slot] = iso;
        return iso;
      }
      case TAG_OBJECT_VALUE: {
        const slot = this.refs.push(null) - 1;
        const inner = this.value();
        this.refs[slot] = inner;
        return inner;
      }
      case TAG_OBJECT_REFERENCE: {
        const index = this.leb();
        if (this.open[index] === true) this.fail('is a circular reference');
        if (index >= this.refs.length) throw new RangeError('bad object reference');
        return this.refs[index];
      }
      case TAG_BIG_INT:
        return this.fail('is a BigInt, which is not serialisable (convert it to a string or number)');
      default:
        this.fail(`is a ${TAG_NAMES[tag] ?? `value with binary tag ${tag}`}, which is not serialisable`);
    }
  }

  object(): Record<string, unknown> {
    this.checkDepth();
    const obj: Record<string, unknown> = {};
    const slot = this.refs.push(obj) - 1;
    this.open[slot] = true;
    const count = this.leb();
    for (let i = 0; i < count; i++) {
      const ref = this.leb();
      let key: string;
      if (ref & 1) key = String(ref >>> 1);
      else {
        const atom = this.atoms[(ref >>> 1) - 1];
        if (atom === undefined) throw new RangeError('bad atom reference');
        key = atom;
      }
      this.trail.push(key);
      const item = this.value();
      this.trail.pop();
      if (item === UNDEFINED_MARK) continue;
      if (key === '__proto__') Object.defineProperty(obj, key, { value: item, enumerable: true, writable: true, configurable: true });
      else obj[key] = item;
    }
    this.open[slot] = false;
    return obj;
  }

  /** Values deeper than MAX_DEPTH are refused before the host stack overflows (which would cost the VM). */
  private checkDepth(): void {
    if (this.trail.length >= MAX_DEPTH) this.fail(`nests more than ${MAX_DEPTH} levels deep; flatten it`);
  }

  array(): unknown[] {
    this.checkDepth();
    const len = this.leb();
    if (len > this.buf.length) throw new RangeError('bad array length');
    const arr: unknown[] = [];
    const slot = this.refs.push(arr) - 1;
    this.open[slot] = true;
    for (let i = 0; i < len; i++) {
      this.trail.push(i);
      const item = this.value();
      this.trail.pop();
      arr.push(item === UNDEFINED_MARK ? null : item);
    }
    this.open[slot] = false;
    return arr;
  }
}

/**
 * Decodes QuickJS's encodeBinaryJSON output into plain JSON values (JSON.stringify semantics: undefined
 * properties dropped, undefined array items and non-finite numbers become null, Dates become ISO strings).
 * Throws BjsonValueError naming the path (rooted at `rootPath`) of a BigInt, cycle or non-JSON object.
 */
export function decodeBjson(bytes: Uint8Array, version: number, rootPath: string): unknown {
  const reader = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), rootPath);
  const v = reader.u8();
  if (v !== version) throw new RangeError(`binary value has version ${v}, expected ${version}`);
  const atomCount = reader.leb();
  for (let i = 0; i < atomCount; i++) reader.atoms.push(reader.str());
  const value = reader.value();
  return value === UNDEFINED_MARK ? undefined : value;
}
