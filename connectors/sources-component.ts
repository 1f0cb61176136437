import type { AppContext, Component } from '../core/app.js';
import { InternalError } from '../core/errors.js';
import { findSourceKind, type SourceEntry } from './registry.js';
import type { Source, SourceServices } from './source.js';

/**
 * All configured sources of this process, started and stopped together. Each works on its own: one
 * that fails is shown failed in health (`source:<name>`) while the others go on.
 */
export class SourcesComponent implements Component {
  readonly name = 'sources';
  private readonly running: Source[] = [];

  constructor(
    private readonly entries: readonly SourceEntry[],
    private readonly services: Pick<SourceServices, 'avro'> = {},
  ) {}

  async start(context: AppContext): Promise<void> {
    for (const entry of this.entries) {
      const kind = findSourceKind(entry.kind);
      // The config schema only accepts registered kinds, so this is a bug, not a user error.
      if (!kind) throw new InternalError(`source "${entry.name}" has kind "${entry.kind}", which is not registered`);
      // `entry` was accepted by this kind's schema when the config was compiled.
      const source = kind.create(entry, context, this.services);
      source.start();
      this.running.push(source);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.running.splice(0).map((source) => source.stop()));
  }
}

/** The configured sources' component, or null when the config has none. */
export function sourcesComponent(entries: readonly SourceEntry[], services: Pick<SourceServices, 'avro'> = {}): Component | null {
  return entries.length > 0 ? new SourcesComponent(entries, services) : null;
}
