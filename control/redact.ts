import { redactUri } from '../core/redact-uri.js';

export { redactUri };

const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|credential/i;

/**
 * A sink's options as shown to users: URIs with passwords redacted and values of keys that look
 * like secrets (or that the sink kind marks secret) replaced by `***`, at any depth.
 */
export function redactOptions(options: Record<string, unknown>, secretKeys: ReadonlySet<string> = new Set()): Record<string, unknown> {
  const walk = (value: unknown, key: string | undefined): unknown => {
    if (key !== undefined && (secretKeys.has(key) || SECRET_KEY.test(key)) && (typeof value === 'string' || typeof value === 'number')) return '***';
    if (typeof value === 'string') return redactUri(value);
    if (Array.isArray(value)) return value.map((v) => walk(v, undefined));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(options, undefined) as Record<string, unknown>;
}
