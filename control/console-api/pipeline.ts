import type { Registry } from 'prom-client';
import type { ComponentState, Health, HealthCheck } from '../../core/health.js';
import type { TopicNames } from '../../core/topics.js';
import type { Principal } from '../auth.js';
import type { TriggerMessage } from '../trigger-messages.js';
import type { PipelineTrend, TrendPoint } from './pipeline-trend.js';

/** A component's health as the console shows it: `unknown` when nothing reported it (yet) in this process. */
export interface StateView {
  state: ComponentState | 'unknown';
  ok: boolean;
  reason: string | null;
}

export interface SourceView extends StateView {
  name: string;
}

export interface PipelineTrigger extends StateView {
  id: string;
  name: string;
  userId: string;
  enabled: boolean;
  topic: string | null;
  sinks: { name: string; kind: string }[];
  eventsPerSecond: number;
  lag: number;
  secondsBehind: number;
  delivered: number;
  deadLettered: number;
  /** Rate and lag over the last minutes, oldest first (PipelineTrend: sampled in this process). */
  trend: TrendPoint[];
}

export interface PipelineSummary {
  at: string;
  sources: SourceView[];
  triggers: PipelineTrigger[];
}

/** Shown as the owner of a trigger defined in changeflow.yaml (it has no control-plane id). */
export const FILE_TRIGGER_OWNER = 'changeflow.yaml';

/**
 * Per-trigger values of one Prometheus metric, optionally of one `outcome`. Of a histogram, the count
 * of its observations (`<name>_count`, its only sample worth adding up).
 */
export async function byTrigger(metrics: Registry, name: string, outcome?: string): Promise<Map<string, number>> {
  const metric = metrics.getSingleMetric(name);
  const values = new Map<string, number>();
  if (!metric) return values;
  for (const sample of (await metric.get()).values as { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[]) {
    const trigger = sample.labels['trigger'];
    if (typeof trigger !== 'string' || (outcome !== undefined && sample.labels['outcome'] !== outcome)) continue;
    if (sample.metricName !== undefined && sample.metricName !== `${name}_count`) continue;
    values.set(trigger, (values.get(trigger) ?? 0) + sample.value);
  }
  return values;
}

export function stateOf(check: HealthCheck | undefined): StateView {
  if (!check) return { state: 'unknown', ok: true, reason: null };
  return { state: check.state, ok: check.ok, reason: check.ok && check.state === 'running' ? null : (check.detail ?? null) };
}

/** The topic a DATABASE trigger reads: its own `topic`, else the namespace topic. */
function topicOf(trigger: Partial<TriggerMessage>, topics: TopicNames): string | null {
  const db = trigger.database;
  if (!db) return null;
  if (db.topic) return db.topic;
  return db.database ? topics.change(db.database, db.collection || '*') : null;
}

/**
 * Sources → topics → triggers → sinks for one caller, from health and the processor metrics of
 * this process. `triggers` are what the control plane let the caller see; sources are the
 * instance's for an admin, and only the caller's own (`tenant:<user>`) for anyone else.
 */
export async function pipelineSummary(
  principal: Principal,
  triggers: readonly Partial<TriggerMessage>[],
  deps: { health: Health; metrics: Registry; topics: TopicNames; trend?: Pick<PipelineTrend, 'of'> },
): Promise<PipelineSummary> {
  const report = deps.health.report();
  const sources = Object.entries(report.components)
    .filter(([name, check]) => name.startsWith('source:') && (principal.admin || check.owner === `tenant:${principal.userId}`))
    .map(([name, check]) => ({ name: name.slice('source:'.length), ...stateOf(check) }));
  const [rate, lag, behind, delivered, deadLettered] = await Promise.all([
    byTrigger(deps.metrics, 'changeflow_processor_events_per_second'),
    byTrigger(deps.metrics, 'changeflow_processor_consumer_lag'),
    byTrigger(deps.metrics, 'changeflow_processor_seconds_behind'),
    byTrigger(deps.metrics, 'changeflow_processor_events_total', 'delivered'),
    byTrigger(deps.metrics, 'changeflow_processor_dead_letters_total'),
  ]);
  const apiKeys = new Set(triggers.map((t) => t.runtime_key ?? ''));
  // changeflow.yaml's triggers are not the control plane's objects: an admin sees them from health, read-only.
  const fileTriggers: Partial<TriggerMessage>[] = principal.admin
    ? Object.entries(report.components)
        .filter(([name, check]) => name.startsWith('processor:') && check.owner === 'instance' && !apiKeys.has(name.slice('processor:'.length)))
        .map(([name]) => ({
          id: `yaml:${name.slice('processor:'.length)}`,
          name: name.slice('processor:'.length),
          user_id: FILE_TRIGGER_OWNER,
          runtime_key: name.slice('processor:'.length),
        }))
    : [];
  return {
    at: new Date().toISOString(),
    sources,
    triggers: [...triggers, ...fileTriggers].map((t) => {
      const key = t.runtime_key ?? '';
      const check = report.components[`processor:${key}`];
      return {
        id: t.id ?? '',
        name: t.name ?? '',
        userId: t.user_id ?? '',
        enabled: t.enabled ?? check?.state !== 'disabled',
        topic: topicOf(t, deps.topics),
        sinks: (t.sinks ?? []).map((s) => ({ name: s.name, kind: s.kind })),
        ...stateOf(check),
        eventsPerSecond: rate.get(key) ?? 0,
        lag: lag.get(key) ?? 0,
        secondsBehind: behind.get(key) ?? 0,
        delivered: delivered.get(key) ?? 0,
        deadLettered: deadLettered.get(key) ?? 0,
        trend: deps.trend?.of(key) ?? [],
      };
    }),
  };
}
