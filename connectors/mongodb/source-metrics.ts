import type { Registry } from 'prom-client';
import { counter, gauge } from '../../core/metrics.js';

/** The source's Prometheus metrics (all labelled by source name). */
export function sourceMetrics(registry: Registry) {
  return {
    events: counter(registry, 'changeflow_source_events_total', 'Change events acknowledged by Kafka, per source and operation', ['source', 'op']),
    streamReads: counter(
      registry,
      'changeflow_source_stream_reads_total',
      'Change-stream reads (aggregate or getMore), per source and whether they returned events or nothing new',
      ['source', 'result'],
    ),
    lag: gauge(registry, 'changeflow_source_lag_seconds', 'Seconds between the cluster time of the newest acknowledged event and now (0 when caught up)', [
      'source',
    ]),
    checkpointAge: gauge(registry, 'changeflow_source_checkpoint_age_seconds', 'Seconds since the source position was last stored', ['source']),
    active: gauge(registry, 'changeflow_source_active', '1 while this instance holds the source lease and streams, 0 on standby', ['source']),
    snapshotCopied: gauge(registry, 'changeflow_source_snapshot_documents', 'Documents copied by the current or last snapshot', ['source']),
    snapshotTotal: gauge(registry, 'changeflow_source_snapshot_documents_total', 'Estimated documents to copy in the current snapshot', ['source']),
    dlq: counter(registry, 'changeflow_source_dead_letters_total', 'Events routed to the source dead-letter topic (oversized)', ['source']),
    unplaced: counter(
      registry,
      'changeflow_source_unplaced_events_total',
      'Events not published because their namespace could not be established (the server sent no ns)',
      ['source', 'op'],
    ),
    unkeyed: counter(registry, 'changeflow_source_unkeyed_events_total', 'Events whose document _id the server did not supply (keyed by namespace)', [
      'source',
    ]),
  };
}

export type SourceMetrics = ReturnType<typeof sourceMetrics>;
