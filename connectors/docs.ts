import { renderOptionTable } from '../core/component-spec.js';
import type { SourceKind } from './source.js';

/** The generated part of docs/sources.md: every registered source kind with its options, read from the kinds' config schemas. */
export function renderSourceKinds(kinds: readonly SourceKind[]): string {
  const out: string[] = [];
  for (const kind of kinds) {
    if (out.length > 0) out.push('');
    out.push(`### kind: ${kind.kind}`, '', kind.description, '', ...renderOptionTable(kind.configSchema));
  }
  return out.join('\n');
}
