import type { AppContext, Component } from '../../core/app.js';
import { ValidationError } from '../../core/errors.js';
import type { SourceEntry } from '../../connectors/registry.js';
import type { ViewConfig } from './view-config.js';
import { ViewRuntime } from './view-runtime.js';
import { viewTopics } from './view-source.js';

/** The file's views (`views:`), each a ViewRuntime; started in order, stopped together. */
export class ViewsComponent implements Component {
  readonly name = 'views';
  private readonly running: ViewRuntime[] = [];

  constructor(
    private readonly views: readonly ViewConfig[],
    private readonly sources: readonly SourceEntry[],
  ) {}

  /** The running views (tests and benches). */
  get runtimes(): readonly ViewRuntime[] {
    return this.running;
  }

  async start(context: AppContext): Promise<void> {
    for (const [i, view] of this.views.entries()) {
      if (!view.enabled) continue;
      const found = viewTopics(view, this.sources, context.topics);
      // compileConfig checked this already; a view built in code may not have been.
      if ('problem' in found) throw new ValidationError(`views[${i}].source: ${found.problem}`, { code: 'CONFIG_INVALID' });
      const runtime = new ViewRuntime({ view, sourceTopic: found.source, ...(found.foreign ? { foreignTopic: found.foreign } : {}), context });
      await runtime.start();
      this.running.push(runtime);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.running.splice(0).map((view) => view.stop()));
  }
}

/** The views' component, or null when the config has none. */
export function viewsComponent(config: { views: readonly ViewConfig[]; sources: readonly SourceEntry[] }): ViewsComponent | null {
  return config.views.length > 0 ? new ViewsComponent(config.views, config.sources) : null;
}
