import { ChangeflowError, errorMessage } from '../core/errors.js';

/**
 * Nesting levels a value may have: MongoDB's own limit for BSON documents (`maxBSONDepth`, 200). Deeper
 * values cannot be stored, and decoding them recursively would overflow the stack.
 */
export const MAX_VALUE_DEPTH = 200;

/** A value no sink can ever write (invalid Extended JSON, too deep): the record's fault, never retried. */
export class InvalidValueError extends ChangeflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retriable: false, code: 'VALUE_INVALID' });
  }
}

/**
 * The path of the first object or array nested deeper than `limit` levels under `root` (named `rootPath`),
 * or undefined. Iterative, so a value of any depth is measured without recursion.
 */
export function tooDeepAt(root: unknown, rootPath: string, limit = MAX_VALUE_DEPTH): string | undefined {
  const stack: { value: unknown; depth: number; path: string }[] = [{ value: root, depth: 0, path: rootPath }];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop() as { value: unknown; depth: number; path: string };
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= limit) return path;
    if (Array.isArray(value)) value.forEach((item, i) => stack.push({ value: item, depth: depth + 1, path: `${path}[${i}]` }));
    else for (const [key, item] of Object.entries(value)) stack.push({ value: item, depth: depth + 1, path: `${path}.${key}` });
  }
  return undefined;
}

export function tooDeepMessage(path: string, limit = MAX_VALUE_DEPTH): string {
  const shown = path.length > 120 ? `${path.slice(0, 60)}…${path.slice(-40)}` : path;
  return `${shown}: the value nests more than ${limit} levels deep (MongoDB's limit); flatten it`;
}

/** Names where an Extended JSON value failed to decode, in words a function author can act on. */
export function invalidEjsonMessage(path: string, error: unknown): string {
  return `${path}: invalid Extended JSON: ${errorMessage(error)}`;
}
