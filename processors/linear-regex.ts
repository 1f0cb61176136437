import { setFlagsFromString } from 'node:v8';

/** Longest `$regex` pattern a filter may carry. */
export const MAX_PATTERN_LENGTH = 1_000;

/** `$options` MongoDB defines that the linear engine can honour. */
const SUPPORTED_OPTIONS = new Set(['i', 'm', 's']);

// V8's linear-time engine (the `l` flag) runs in time linear in the input for every pattern it accepts, so a
// tenant's pattern cannot backtrack catastrophically. The flag is process-wide; setting it again is harmless.
setFlagsFromString('--enable-experimental-regexp-engine');

function linearEngineAvailable(): boolean {
  try {
    // eslint-disable-next-line no-invalid-regexp -- the flag exists only when the engine above is enabled
    new RegExp('a', 'l');
    return true;
  } catch {
    return false;
  }
}
const LINEAR = linearEngineAvailable();

function swapCase(ch: string): string {
  const lower = ch.toLowerCase();
  return lower === ch ? ch.toUpperCase() : lower;
}

function isLetter(ch: string): boolean {
  return ch.toLowerCase() !== ch.toUpperCase();
}

/**
 * The pattern made case-insensitive by hand, since V8's linear engine refuses the `i` flag: each letter
 * outside a class becomes `[xX]`, and each class gains its letters in the other case. Escapes (`\d`, `\u0041`)
 * and group names are copied as they are.
 */
export function foldCase(pattern: string): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      out += pattern.slice(i, i + 2);
      i += 2;
    } else if (ch === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      const head = pattern[i + 1] === '^' ? '[^' : '[';
      const body = pattern.slice(i + head.length, j);
      let swapped = '';
      for (let k = 0; k < body.length; k++) {
        const c = body[k] as string;
        if (c === '\\') {
          swapped += body.slice(k, k + 2);
          k++;
        } else swapped += swapCase(c);
      }
      out += `${head}${body}${swapped === body ? '' : swapped}]`;
      i = j + 1;
    } else if (ch === '(' && pattern.startsWith('(?<', i) && !pattern.startsWith('(?<=', i) && !pattern.startsWith('(?<!', i)) {
      const end = pattern.indexOf('>', i);
      const stop = end < 0 ? pattern.length : end + 1;
      out += pattern.slice(i, stop);
      i = stop;
    } else if (ch === '{' && /^\{\d*(,\d*)?\}/.test(pattern.slice(i))) {
      const stop = pattern.indexOf('}', i) + 1;
      out += pattern.slice(i, stop);
      i = stop;
    } else {
      out += isLetter(ch) && swapCase(ch) !== ch ? `[${ch}${swapCase(ch)}]` : ch;
      i++;
    }
  }
  return out;
}

/** A problem with a pattern, or the compiled regex. */
export type LinearRegexResult = { regex: RegExp } | { problem: string };

/** Compiles a MongoDB `$regex` with `$options` for the linear-time engine, or says why it cannot. */
export function compileLinearRegex(pattern: string, options: string): LinearRegexResult {
  if (pattern.length > MAX_PATTERN_LENGTH) return { problem: `$regex patterns are at most ${MAX_PATTERN_LENGTH} characters (this one has ${pattern.length})` };
  for (const option of options) {
    if (!SUPPORTED_OPTIONS.has(option)) return { problem: `$options "${option}" is not supported (use i, m and s)` };
  }
  if (!LINEAR) return { problem: "$regex needs V8's linear-time regex engine, which this Node.js does not have" };
  const source = options.includes('i') ? foldCase(pattern) : pattern;
  const flags = `l${options.includes('m') ? 'm' : ''}${options.includes('s') ? 's' : ''}`;
  try {
    return { regex: new RegExp(source, flags) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (/linear time/i.test(reason)) {
      return {
        problem: `$regex /${pattern}/ cannot run in linear time (backreferences, lookahead and lookbehind are refused so a pattern cannot hang the service)`,
      };
    }
    return { problem: `$regex /${pattern}/ is not a valid regular expression (${reason.replace(/^Invalid regular expression: /, '')})` };
  }
}
