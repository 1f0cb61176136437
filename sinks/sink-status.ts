import { errorMessage } from '../core/errors.js';
import { counter } from '../core/metrics.js';
import type { SinkDependencies } from './sink.js';

export type RecordOutcome = 'written' | 'skipped' | 'rejected';

/**
 * Health (`sink:<trigger>:<name>`) and per-outcome record counts of one sink, so /healthz says which
 * sink is failing and /metrics how much each one wrote.
 */
export class SinkStatus {
  private readonly component: string;
  private readonly records;

  constructor(
    private readonly dependencies: SinkDependencies,
    private readonly kind: string,
    private readonly name: string,
  ) {
    this.component = `sink:${dependencies.trigger}:${name}`;
    this.records = counter(dependencies.context.metrics, 'changeflow_sink_records_total', 'Records handled by sinks, by outcome', [
      'trigger',
      'sink',
      'kind',
      'outcome',
    ]);
  }

  count(outcome: RecordOutcome, n: number): void {
    if (n > 0) this.records.inc({ trigger: this.dependencies.trigger, sink: this.name, kind: this.kind, outcome }, n);
  }

  ok(): void {
    this.dependencies.context.health.set(this.component, true, undefined, { owner: this.dependencies.owner ?? 'instance' });
  }

  failing(what: string, error: unknown): void {
    const detail = `${this.kind} sink "${this.name}": ${what}: ${errorMessage(error)} (retrying)`;
    this.dependencies.context.health.set(this.component, false, detail, { state: 'retrying', owner: this.dependencies.owner ?? 'instance' });
    this.dependencies.context.logger.warn({ trigger: this.dependencies.trigger, sink: this.name, kind: this.kind, err: errorMessage(error) }, what);
  }

  remove(): void {
    this.dependencies.context.health.remove(this.component);
  }
}
