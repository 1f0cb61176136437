import { ValidationError } from '../core/errors.js';
import { describeZodError } from '../core/schema-errors.js';
import { sinkKinds } from '../sinks/registry.js';
import type { Sink, SinkDependencies, SinkKind } from '../sinks/sink.js';
import type { TriggerConfig } from './trigger-config.js';

/** A trigger's sink entry after its kind's schema accepted it. */
export interface ResolvedSink {
  name: string;
  kind: SinkKind;
  config: unknown;
}

/** The kinds a processor can create: extra kinds (tests) first, then the registry. */
export function availableSinkKinds(extraKinds: readonly SinkKind[] = []): SinkKind[] {
  return [...extraKinds, ...sinkKinds.filter((k) => !extraKinds.some((e) => e.kind === k.kind))];
}

/**
 * Checks every sink entry of a trigger against its kind's `configSchema`. Returns one line per problem,
 * each naming the key path under `root`, e.g. `triggers[0].sinks[1].uri: expected a mongodb:// URI`.
 */
export function checkTriggerSinks(sinks: TriggerConfig['sinks'], kinds: readonly SinkKind[], root: string): { resolved: ResolvedSink[]; problems: string[] } {
  const resolved: ResolvedSink[] = [];
  const problems: string[] = [];
  sinks.forEach((entry, index) => {
    const at = `${root}.sinks[${index}]`;
    const kind = kinds.find((k) => k.kind === entry.kind);
    if (!kind) {
      problems.push(`${at}.kind: unknown sink kind "${entry.kind}"; known kinds: ${kinds.map((k) => k.kind).join(', ') || 'none'}`);
      return;
    }
    const parsed = kind.configSchema.safeParse(entry);
    if (!parsed.success) {
      problems.push(...describeZodError(parsed.error, at));
      return;
    }
    resolved.push({ name: entry.name, kind, config: parsed.data });
  });
  return { resolved, problems };
}

/** Validates and creates a trigger's sinks (not started). Throws a ValidationError listing every problem. */
export function createTriggerSinks(sinks: TriggerConfig['sinks'], kinds: readonly SinkKind[], root: string, dependencies: SinkDependencies): Sink[] {
  const { resolved, problems } = checkTriggerSinks(sinks, kinds, root);
  if (problems.length > 0) throw new ValidationError(`${root} is not valid:\n  - ${problems.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
  return resolved.map((r) => r.kind.create(r.config, dependencies));
}
