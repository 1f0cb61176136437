import { counter, gauge, histogram, type Counter, type Gauge, type Histogram, type Registry } from '../core/metrics.js';

const WINDOW_MS = 10_000;

/** Per-trigger numbers kept beside the Prometheus metrics, for status views and tests. */
export interface TriggerStats {
  delivered: number;
  filtered: number;
  deadLettered: number;
  errors: number;
  batches: number;
  /** Events per second over the last 10 s. */
  eventsPerSecond: number;
  /** Records behind the partitions' log ends (log end - first unprocessed offset), summed; true while stuck too. */
  lag: number;
  /** Age in seconds of the oldest unprocessed record over the partitions (0 when caught up). */
  secondsBehind: number;
}

/** The processor's metrics (`changeflow_processor_*`, label `trigger`). */
export class ProcessorMetrics {
  private readonly m: Metrics;

  constructor(registry: Registry) {
    this.m = {
      events: counter(registry, 'changeflow_processor_events_total', 'Change events handled, by outcome (delivered, filtered, dead_lettered)', [
        'trigger',
        'outcome',
      ]),
      eventsPerSecond: gauge(registry, 'changeflow_processor_events_per_second', 'Events handled per second over the last 10 seconds', ['trigger']),
      batchSeconds: histogram(
        registry,
        'changeflow_processor_batch_seconds',
        'Time from a batch being taken until its offsets are committed',
        ['trigger'],
        [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ),
      functionSeconds: histogram(
        registry,
        'changeflow_processor_function_seconds',
        'Time the sandboxed function ran per call (in its worker; the wait for a worker is changeflow_processor_function_queue_seconds)',
        ['trigger'],
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      ),
      functionQueueSeconds: histogram(
        registry,
        'changeflow_processor_function_queue_seconds',
        'Time a call waited for a function worker (the pool is shared by every trigger; served round robin per tenant)',
        ['trigger'],
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      ),
      errors: counter(registry, 'changeflow_processor_errors_total', 'Failed attempts (function or sink), by kind', ['trigger', 'kind']),
      deadLetters: counter(registry, 'changeflow_processor_dead_letters_total', 'Events written to the dead-letter topic', ['trigger']),
      lag: gauge(
        registry,
        'changeflow_processor_consumer_lag',
        'Records not yet processed: log end offset minus the next offset to process, summed over partitions (also while a partition is stuck)',
        ['trigger'],
      ),
      secondsBehind: gauge(
        registry,
        'changeflow_processor_seconds_behind',
        'Age in seconds of the oldest record not yet processed, over partitions (0 when caught up)',
        ['trigger'],
      ),
      running: gauge(registry, 'changeflow_processor_trigger_running', '1 while the trigger consumes, 0 when stopped or disabled', ['trigger']),
    };
  }

  forTrigger(trigger: string): TriggerMetrics {
    return new TriggerMetrics(trigger, this.m);
  }
}

interface Metrics {
  events: Counter<'trigger' | 'outcome'>;
  eventsPerSecond: Gauge<'trigger'>;
  batchSeconds: Histogram<'trigger'>;
  functionSeconds: Histogram<'trigger'>;
  functionQueueSeconds: Histogram<'trigger'>;
  errors: Counter<'trigger' | 'kind'>;
  deadLetters: Counter<'trigger'>;
  lag: Gauge<'trigger'>;
  secondsBehind: Gauge<'trigger'>;
  running: Gauge<'trigger'>;
}

export class TriggerMetrics {
  readonly stats: TriggerStats = { delivered: 0, filtered: 0, deadLettered: 0, errors: 0, batches: 0, eventsPerSecond: 0, lag: 0, secondsBehind: 0 };
  /** Batches of the last WINDOW_MS from `windowStart` on (older ones are dropped in chunks), and their events. */
  private window: { at: number; count: number }[] = [];
  private windowStart = 0;
  private windowTotal = 0;
  private readonly lagByPartition = new Map<string, { records: number; seconds: number }>();

  constructor(
    readonly trigger: string,
    private readonly m: Metrics,
  ) {}

  batch(outcome: { delivered: number; filtered: number; deadLettered: number }, seconds: number): void {
    const labels = { trigger: this.trigger };
    this.stats.batches++;
    this.stats.delivered += outcome.delivered;
    this.stats.filtered += outcome.filtered;
    this.stats.deadLettered += outcome.deadLettered;
    if (outcome.delivered) this.m.events.inc({ ...labels, outcome: 'delivered' }, outcome.delivered);
    if (outcome.filtered) this.m.events.inc({ ...labels, outcome: 'filtered' }, outcome.filtered);
    if (outcome.deadLettered) {
      this.m.events.inc({ ...labels, outcome: 'dead_lettered' }, outcome.deadLettered);
      this.m.deadLetters.inc(labels, outcome.deadLettered);
    }
    this.m.batchSeconds.observe(labels, seconds);
    this.stats.eventsPerSecond = this.countInWindow(outcome.delivered + outcome.filtered + outcome.deadLettered);
    this.m.eventsPerSecond.set(labels, this.stats.eventsPerSecond);
  }

  /**
   * Adds a batch's events to the window and returns events/s over it. Constant time per batch: at
   * hundreds of small batches a second, summing the whole window each time showed in profiles.
   */
  private countInWindow(count: number): number {
    const now = Date.now();
    this.window.push({ at: now, count });
    this.windowTotal += count;
    let oldest = this.window[this.windowStart];
    while (oldest && oldest.at < now - WINDOW_MS) {
      this.windowTotal -= oldest.count;
      oldest = this.window[++this.windowStart];
    }
    if (this.windowStart > 1_024 && this.windowStart * 2 > this.window.length) {
      this.window = this.window.slice(this.windowStart);
      this.windowStart = 0;
    }
    const batches = this.window.length - this.windowStart;
    const span = Math.max(1, Math.min(WINDOW_MS, now - (oldest?.at ?? now))) / 1000;
    return batches > 1 ? this.windowTotal / span : 0;
  }

  functionTime(seconds: number, queued?: number): void {
    this.m.functionSeconds.observe({ trigger: this.trigger }, seconds);
    if (queued !== undefined) this.m.functionQueueSeconds.observe({ trigger: this.trigger }, queued);
  }

  error(kind: string): void {
    this.stats.errors++;
    this.m.errors.inc({ trigger: this.trigger, kind });
  }

  partitionLag(topic: string, partition: number, lag: number, secondsBehind = 0): void {
    this.lagByPartition.set(`${topic}:${partition}`, { records: Math.max(0, lag), seconds: Math.max(0, secondsBehind) });
    const all = [...this.lagByPartition.values()];
    this.stats.lag = all.reduce((sum, p) => sum + p.records, 0);
    this.stats.secondsBehind = Math.round(all.reduce((max, p) => Math.max(max, p.seconds), 0) * 1000) / 1000;
    this.m.lag.set({ trigger: this.trigger }, this.stats.lag);
    this.m.secondsBehind.set({ trigger: this.trigger }, this.stats.secondsBehind);
  }

  setRunning(running: boolean): void {
    this.m.running.set({ trigger: this.trigger }, running ? 1 : 0);
    if (!running) this.m.eventsPerSecond.set({ trigger: this.trigger }, 0);
  }
}
