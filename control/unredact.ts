import { redactOptions, redactUri } from './redact.js';
import type { SinkDoc } from './documents.js';

/**
 * Clients edit what `get` returned, which has secrets redacted. When an update sends a redacted
 * value back unchanged, keep the stored secret instead of overwriting it with `***`.
 */
export function keepDataSource(incoming: string, stored: string): string {
  return incoming !== stored && incoming === redactUri(stored) ? stored : incoming;
}

export function keepSinkSecrets(incoming: readonly SinkDoc[], stored: readonly SinkDoc[], secretKeysOf: (kind: string) => ReadonlySet<string>): SinkDoc[] {
  return incoming.map((sink) => {
    const old = stored.find((s) => s.name === sink.name && s.kind === sink.kind);
    if (!old) return sink;
    const shown = redactOptions(old.options, secretKeysOf(old.kind));
    const merge = (value: unknown, shownValue: unknown, oldValue: unknown): unknown => {
      if (typeof value === 'string' && value === shownValue && value !== oldValue) return oldValue;
      if (
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        typeof oldValue === 'object' &&
        oldValue !== null &&
        !Array.isArray(oldValue)
      ) {
        const v = value as Record<string, unknown>;
        const s = (shownValue ?? {}) as Record<string, unknown>;
        const o = oldValue as Record<string, unknown>;
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, merge(x, s[k], o[k])]));
      }
      return value;
    };
    return { ...sink, options: merge(sink.options, shown, old.options) as Record<string, unknown> };
  });
}
