import { Registry, collectDefaultMetrics, Counter, Gauge, Histogram } from 'prom-client';

/**
 * The process's Prometheus registry. Components register their metrics here under the
 * `changeflow_` prefix; /metrics serves it.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'changeflow_' });
  return registry;
}

type LabelNames = readonly string[];

/** Returns the metric already registered under `name`, or registers a new one (components may start twice). */
function reuse<T>(registry: Registry, name: string, make: () => T): T {
  const existing = registry.getSingleMetric(name);
  return (existing as T | undefined) ?? make();
}

export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: LabelNames & readonly L[] = []): Counter<L> {
  return reuse(registry, name, () => new Counter<L>({ name, help, labelNames: [...labelNames], registers: [registry] }));
}

export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: LabelNames & readonly L[] = []): Gauge<L> {
  return reuse(registry, name, () => new Gauge<L>({ name, help, labelNames: [...labelNames], registers: [registry] }));
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: LabelNames & readonly L[] = [],
  buckets?: number[],
): Histogram<L> {
  return reuse(registry, name, () => new Histogram<L>({ name, help, labelNames: [...labelNames], registers: [registry], ...(buckets ? { buckets } : {}) }));
}

export type { Registry, Counter, Gauge, Histogram } from 'prom-client';
