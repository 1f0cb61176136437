import { escapeCell, renderOptionTable } from '../core/component-spec.js';
import type { SinkKind } from './sink.js';

/** The generated part of docs/sinks.md: every registered kind with its options, read from the kinds' config schemas. */
export function renderSinkKinds(kinds: readonly SinkKind[]): string {
  const out: string[] = ['| kind | what it does |', '| --- | --- |'];
  for (const kind of kinds)
    out.push(`| [\`${kind.kind}\`](#kind-${kind.kind}) | ${escapeCell((kind.description.split('. ')[0] ?? kind.description).replace(/\.$/, ''))}. |`);
  for (const kind of kinds) out.push('', `### kind: ${kind.kind}`, '', kind.description, '', ...renderOptionTable(kind.configSchema));
  return out.join('\n');
}
