import type { Registry } from 'prom-client';
import { byTrigger } from './pipeline.js';

/** One sample of a trigger's rate and lag. */
export interface TrendPoint {
  at: string;
  eventsPerSecond: number;
  secondsBehind: number;
  lag: number;
}

export type TrendValues = Omit<TrendPoint, 'at'>;

export interface TrendOptions {
  /** How far back the trend reaches. */
  windowMs?: number;
  /** The least time between two samples of one trigger. */
  intervalMs?: number;
}

/**
 * Each trigger's rate and lag over the last minutes, sampled from this process's metrics. Bounded:
 * at most window / interval + 1 points per trigger, and a trigger that no longer reports is forgotten
 * at the next sample. In memory, per process: a restart begins an empty trend.
 */
export class PipelineTrend {
  readonly windowMs: number;
  readonly intervalMs: number;
  private readonly points = new Map<string, { at: number; values: TrendValues }[]>();

  constructor(options: TrendOptions = {}) {
    this.windowMs = options.windowMs ?? 10 * 60_000;
    this.intervalMs = options.intervalMs ?? 5_000;
  }

  get maxPoints(): number {
    return Math.floor(this.windowMs / this.intervalMs) + 1;
  }

  /** Adds a sample per trigger unless its last one is under an interval old; a sample from the past is ignored. */
  record(now: number, values: ReadonlyMap<string, TrendValues>): void {
    for (const key of [...this.points.keys()]) if (!values.has(key)) this.points.delete(key);
    for (const [key, value] of values) {
      const points = this.points.get(key) ?? [];
      const last = points.at(-1);
      if (last !== undefined && now - last.at < this.intervalMs) continue;
      points.push({ at: now, values: value });
      while (points.length > 0 && ((points[0]?.at ?? now) < now - this.windowMs || points.length > this.maxPoints)) points.shift();
      this.points.set(key, points);
    }
  }

  of(key: string): TrendPoint[] {
    return (this.points.get(key) ?? []).map((p) => ({ at: new Date(p.at).toISOString(), ...p.values }));
  }

  /** Samples every trigger's rate and lag from the processor metrics. */
  async sample(metrics: Registry, now = Date.now()): Promise<void> {
    const [rate, behind, lag] = await Promise.all([
      byTrigger(metrics, 'changeflow_processor_events_per_second'),
      byTrigger(metrics, 'changeflow_processor_seconds_behind'),
      byTrigger(metrics, 'changeflow_processor_consumer_lag'),
    ]);
    const values = new Map<string, TrendValues>();
    for (const key of new Set([...rate.keys(), ...behind.keys(), ...lag.keys()]))
      values.set(key, { eventsPerSecond: rate.get(key) ?? 0, secondsBehind: behind.get(key) ?? 0, lag: lag.get(key) ?? 0 });
    this.record(now, values);
  }
}
