import { counter, histogram, type Counter, type Histogram, type Registry } from '../../core/metrics.js';

export interface EventSyncMetrics {
  accepted: Counter<'service' | 'event_key' | 'via'>;
  published: Counter<'service' | 'trigger'>;
  parts: Counter<'service'>;
  rejected: Counter<'service'>;
  conflicts: Counter<'service'>;
  recovered: Counter<'service' | 'action'>;
  triggerLatency: Histogram<'service' | 'trigger'>;
}

export function eventSyncMetrics(registry: Registry): EventSyncMetrics {
  return {
    accepted: counter(registry, 'changeflow_eventsync_events_accepted_total', 'EventSync events stored, per endpoint', ['service', 'event_key', 'via']),
    published: counter(registry, 'changeflow_eventsync_messages_published_total', 'EventSync messages published (a split message counts once)', [
      'service',
      'trigger',
    ]),
    parts: counter(registry, 'changeflow_eventsync_records_published_total', 'Kafka records published by EventSync (parts of split messages count each)', [
      'service',
    ]),
    rejected: counter(registry, 'changeflow_eventsync_messages_rejected_total', 'EventSync messages rejected as larger than target.maxMessageBytes', [
      'service',
    ]),
    conflicts: counter(registry, 'changeflow_eventsync_claim_conflicts_total', 'Trigger runs that lost some events to another instance and retried', [
      'service',
    ]),
    recovered: counter(registry, 'changeflow_eventsync_claims_recovered_total', 'Claims of dead instances finished (republished) or undone (released)', [
      'service',
      'action',
    ]),
    triggerLatency: histogram(
      registry,
      'changeflow_eventsync_trigger_latency_seconds',
      'From the reception of the newest event in a message (or the manual trigger call) to the Kafka acknowledgement',
      ['service', 'trigger'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  };
}
