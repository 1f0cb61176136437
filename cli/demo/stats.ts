import type { Registry } from 'prom-client';
import type { HealthCheck } from '../../core/health.js';
import type { DemoNames } from './config.js';
import { GENERATOR_METRIC } from './generator.js';

type Labels = Record<string, string | number | undefined>;

/** One metric's samples: labels and value. */
export type Samples = { labels: Labels; value: number }[];

/** Reads a metric's current samples from the registry (empty when nothing registered it yet). */
export async function readSamples(registry: Registry, name: string): Promise<Samples> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  const data = await metric.get();
  return data.values.map((v) => ({ labels: v.labels as Labels, value: v.value }));
}

/** Sum of the samples whose labels include `match`. */
export function sumWhere(samples: Samples, match: Labels = {}): number {
  return samples.filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

export interface TriggerRow {
  trigger: string;
  /** "mongodb demo_copy.users", "redis users:<_id>", "audit (deletes)". */
  target: string;
  delivered: number;
  filtered: number;
  deadLettered: number;
  /** Records behind the partitions' high watermarks. */
  lag: number;
  /** Per sink outcome (written / skipped / rejected), summed over the trigger's sinks. */
  written: number;
  skipped: number;
  rejected: number;
  running: boolean;
}

/** What the live view shows, read from the metrics registry and the health checks. */
export interface DemoSnapshot {
  at: number;
  generator: { total: number; byOp: Record<string, number> };
  source: { published: number; snapshot: number; lagSeconds: number; snapshotCopied: number; snapshotTotal: number; active: boolean };
  triggers: TriggerRow[];
  deadLetters: number;
  /** Components that are not ok, with their detail. */
  unhealthy: { component: string; detail: string }[];
}

export interface TriggerTarget {
  trigger: string;
  target: string;
}

/** The triggers of the demo with a short description of where each writes. */
export function demoTargets(names: DemoNames, redis: boolean): TriggerTarget[] {
  return [
    { trigger: names.copyTrigger, target: `mongodb ${names.copyDb}.${names.coll}` },
    ...(redis ? [{ trigger: names.cacheTrigger, target: `redis ${names.redisKeyPrefix}users:<_id>` }] : []),
    { trigger: names.auditTrigger, target: 'audit (deletes)' },
  ];
}

export async function readSnapshot(
  registry: Registry,
  health: { report(): { components: Record<string, HealthCheck> } },
  names: DemoNames,
  targets: readonly TriggerTarget[],
): Promise<DemoSnapshot> {
  const [writes, sourceEvents, sourceLag, copied, toCopy, active, processed, lag, running, sinkRecords, dlq] = await Promise.all([
    readSamples(registry, GENERATOR_METRIC),
    readSamples(registry, 'changeflow_source_events_total'),
    readSamples(registry, 'changeflow_source_lag_seconds'),
    readSamples(registry, 'changeflow_source_snapshot_documents'),
    readSamples(registry, 'changeflow_source_snapshot_documents_total'),
    readSamples(registry, 'changeflow_source_active'),
    readSamples(registry, 'changeflow_processor_events_total'),
    readSamples(registry, 'changeflow_processor_consumer_lag'),
    readSamples(registry, 'changeflow_processor_trigger_running'),
    readSamples(registry, 'changeflow_sink_records_total'),
    readSamples(registry, 'changeflow_processor_dead_letters_total'),
  ]);
  const byOp: Record<string, number> = {};
  for (const s of writes) byOp[String(s.labels['op'])] = (byOp[String(s.labels['op'])] ?? 0) + s.value;
  const source = { source: names.source };
  const triggers = targets.map(({ trigger, target }): TriggerRow => {
    const t = { trigger };
    return {
      trigger,
      target,
      delivered: sumWhere(processed, { ...t, outcome: 'delivered' }),
      filtered: sumWhere(processed, { ...t, outcome: 'filtered' }),
      deadLettered: sumWhere(processed, { ...t, outcome: 'dead_lettered' }),
      lag: sumWhere(lag, t),
      written: sumWhere(sinkRecords, { ...t, outcome: 'written' }),
      skipped: sumWhere(sinkRecords, { ...t, outcome: 'skipped' }),
      rejected: sumWhere(sinkRecords, { ...t, outcome: 'rejected' }),
      running: sumWhere(running, t) > 0,
    };
  });
  const unhealthy = Object.entries(health.report().components)
    .filter(([, check]) => !check.ok)
    .map(([component, check]) => ({ component, detail: check.detail ?? 'failing' }));
  return {
    at: Date.now(),
    generator: { total: sumWhere(writes), byOp },
    source: {
      published: sumWhere(sourceEvents, source),
      snapshot: sumWhere(sourceEvents, { ...source, op: 'snapshot' }),
      lagSeconds: sumWhere(sourceLag, source),
      snapshotCopied: sumWhere(copied, source),
      snapshotTotal: sumWhere(toCopy, source),
      active: sumWhere(active, source) > 0,
    },
    triggers,
    deadLetters: triggers.reduce((sum, t) => sum + sumWhere(dlq, { trigger: t.trigger }), 0),
    unhealthy,
  };
}
