// A tiny scanner over JSON text: enough to split the batch into events and pick fields out of them
// without a JSON library (values stay raw JSON text, so documents pass through byte for byte).

/** Index just past the JSON value starting at `start` (strings, objects and arrays nest; the rest are scalars). */
export function valueEnd(s: string, start: i32): i32 {
  let i = start;
  const first = s.charCodeAt(i);
  if (first == 0x22) {
    i++;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c == 0x5c) i += 2;
      else if (c == 0x22) return i + 1;
      else i++;
    }
    return i;
  }
  if (first == 0x7b || first == 0x5b) {
    let depth = 0;
    let inString = false;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (inString) {
        if (c == 0x5c) i++;
        else if (c == 0x22) inString = false;
      } else if (c == 0x22) inString = true;
      else if (c == 0x7b || c == 0x5b) depth++;
      else if (c == 0x7d || c == 0x5d) {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c == 0x2c || c == 0x7d || c == 0x5d || c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) break;
    i++;
  }
  return i;
}

function skipSpace(s: string, start: i32): i32 {
  let i = start;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
    i++;
  }
  return i;
}

/** The elements of a JSON array, each as raw JSON text. */
export function elements(array: string): string[] {
  const out: string[] = [];
  let i = skipSpace(array, 0);
  if (i >= array.length || array.charCodeAt(i) != 0x5b) return out;
  i = skipSpace(array, i + 1);
  while (i < array.length && array.charCodeAt(i) != 0x5d) {
    const end = valueEnd(array, i);
    out.push(array.substring(i, end));
    i = skipSpace(array, end);
    if (i < array.length && array.charCodeAt(i) == 0x2c) i = skipSpace(array, i + 1);
  }
  return out;
}

/** The raw value of a top-level `key` in a JSON object, or null. */
export function field(object: string, key: string): string | null {
  let i = skipSpace(object, 0);
  if (i >= object.length || object.charCodeAt(i) != 0x7b) return null;
  i = skipSpace(object, i + 1);
  while (i < object.length && object.charCodeAt(i) == 0x22) {
    const keyEnd = valueEnd(object, i);
    const name = object.substring(i + 1, keyEnd - 1);
    i = skipSpace(object, keyEnd);
    if (i >= object.length || object.charCodeAt(i) != 0x3a) return null;
    i = skipSpace(object, i + 1);
    const end = valueEnd(object, i);
    if (name == key) return object.substring(i, end);
    i = skipSpace(object, end);
    if (i < object.length && object.charCodeAt(i) == 0x2c) i = skipSpace(object, i + 1);
  }
  return null;
}

/** A JSON string's text (escapes kept as written), or the raw value if it is not a string. */
export function unquote(raw: string): string {
  if (raw.length >= 2 && raw.charCodeAt(0) == 0x22) return raw.substring(1, raw.length - 1);
  return raw;
}

/** `text` as a JSON string literal. */
export function quote(text: string): string {
  return '"' + text.replaceAll('\\', '\\\\').replaceAll('"', '\\"') + '"';
}

/** The first sink name in the `sinks` config (a JSON array of names), or `fallback`. */
export function firstSink(sinksConfig: string | null, fallback: string): string {
  if (sinksConfig == null) return fallback;
  const names = elements(sinksConfig);
  return names.length > 0 ? unquote(names[0]) : fallback;
}

/** A number field's value: a JSON number, or canonical Extended JSON ({"$numberInt": "7"}, $numberLong, $numberDouble); NaN if neither. */
export function numberValue(raw: string | null): f64 {
  if (raw == null) return NaN;
  if (raw.charCodeAt(0) != 0x7b) return parseFloat(raw);
  const keys = ['$numberInt', '$numberLong', '$numberDouble', '$numberDecimal'];
  for (let i = 0; i < keys.length; i++) {
    const inner = field(raw, keys[i]);
    if (inner != null) return parseFloat(unquote(inner));
  }
  return NaN;
}

/** `field` along a path of keys (null as soon as one is missing). */
export function path(object: string, keys: string[]): string | null {
  let at: string = object;
  for (let i = 0; i < keys.length; i++) {
    const next = field(at, keys[i]);
    if (next == null) return null;
    at = next;
  }
  return at;
}
