/**
 * EventSync benchmark (`npm run bench:eventsync`): accepted events/s over HTTP with the window
 * trigger running, and trigger latency (the completing event's POST → the message read from Kafka).
 * Uses KAFKA_BROKERS / MONGODB_URI when set, else starts local servers in a temp folder and stops them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { closeHttpAgent, collectMessages, httpCall, startEventSyncInstance } from '../connectors/eventsync/harness.js';
import type { EventSyncMessage } from '../connectors/eventsync/message.js';
import { startInfra, stopInfra } from '../core/infra/infra.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';

const EVENTS = Number(process.env['EVENTSYNC_BENCH_EVENTS'] ?? 5000);
const CONCURRENCY = Number(process.env['EVENTSYNC_BENCH_CONCURRENCY'] ?? 64);
const ROUNDS = Number(process.env['EVENTSYNC_BENCH_ROUNDS'] ?? 200);
const keys = ['a', 'b', 'c'] as const;

const unique = (p: string): string => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function main(): Promise<void> {
  const ownDir = process.env['KAFKA_BROKERS'] && process.env['MONGODB_URI'] ? null : mkdtempSync(join(tmpdir(), 'eventsync-bench-'));
  const infra = await startInfra(ownDir ? { stateDir: ownDir, onProgress: (l) => process.stderr.write(`[infra] ${l}\n`) } : {});
  const db = unique('eventsync-bench');
  const throughputTopic = unique('es-bench-tput');
  const latencyTopic = unique('es-bench-lat');
  const kafka = createKafkajsTransport({ brokers: infra.kafka.split(',') });
  const es = await startEventSyncInstance({
    services: [
      {
        serviceName: 'throughput',
        trigger: { type: 'window', observationPeriod: 3600 },
        endpoints: keys.map((eventKey) => ({ eventKey })),
        target: { topic: throughputTopic },
      },
      {
        serviceName: 'latency',
        trigger: { type: 'window', observationPeriod: 3600 },
        endpoints: [{ eventKey: 'a' }, { eventKey: 'b' }],
        target: { topic: latencyTopic },
      },
    ],
    brokers: infra.kafka,
    mongodbUri: infra.mongodb,
    db,
  });
  const mongo = new MongoClient(infra.mongodb);
  try {
    // 1. Accepted events/s: EVENTS POSTs, CONCURRENCY in flight, the window trigger publishing meanwhile.
    const tput = await collectMessages(kafka, throughputTopic, unique('es-bench-g'));
    let next = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < EVENTS) {
          const i = next++;
          const res = await httpCall('POST', `${es.url}/eventsync/throughput/event/${keys[i % 3]}`, `{"n":${i}}`, { 'Content-Type': 'application/json' });
          if (res.status !== 200) failed++;
        }
      }),
    );
    const acceptSeconds = (performance.now() - started) / 1000;
    await es.component.service('throughput').idle();
    await httpCall('GET', `${es.url}/eventsync/throughput/event/trigger`);
    const delivered = (): number => tput.messages.reduce((n, m) => n + Object.values(m.events).reduce((k, l) => k + l.events.length, 0), 0);
    await waitFor(() => delivered() >= EVENTS - failed, 'every event published');
    const drainSeconds = (performance.now() - started) / 1000;
    await tput.stop();

    // 2. Trigger latency: per round, POST a then b; time from b's POST to the message on the consumer.
    const lat = await collectMessages(kafka, latencyTopic, unique('es-bench-g'));
    const seen = (): number => lat.messages.length;
    const latencies: number[] = [];
    const warmup = 10;
    for (let round = 0; round < ROUNDS + warmup; round++) {
      await httpCall('POST', `${es.url}/eventsync/latency/event/a`, `a${round}`);
      const before = seen();
      const t0 = performance.now();
      await httpCall('POST', `${es.url}/eventsync/latency/event/b`, `b${round}`);
      await waitFor(() => seen() > before, `message of round ${round}`);
      if (round >= warmup) latencies.push(performance.now() - t0);
    }
    await lat.stop();
    const last = lat.messages[lat.messages.length - 1] as EventSyncMessage | undefined;
    latencies.sort((x, y) => x - y);
    const serverSide = await es.app.context.metrics.getSingleMetric('changeflow_eventsync_trigger_latency_seconds')?.get();
    const pick = (suffix: string): number =>
      serverSide?.values.find((v) => ((v as { metricName?: string }).metricName ?? '').endsWith(suffix) && v.labels['service'] === 'latency')?.value ?? NaN;
    const sum = pick('_sum');
    const count = pick('_count');

    const report = {
      events: EVENTS,
      concurrency: CONCURRENCY,
      failedRequests: failed,
      acceptedEventsPerSecond: Math.round((EVENTS - failed) / acceptSeconds),
      publishedWithinSeconds: Number(drainSeconds.toFixed(2)),
      throughputMessages: tput.messages.length,
      latencyRounds: ROUNDS,
      triggerLatencyMs: {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
        max: Number((latencies[latencies.length - 1] ?? NaN).toFixed(1)),
      },
      serverSideMeanMs: Number(((sum / count) * 1000).toFixed(1)),
      lastMessageEvents: last ? Object.values(last.events).reduce((n, l) => n + l.numberOfEvents, 0) : 0,
    };
    console.log(
      `EventSync bench: ${report.acceptedEventsPerSecond} accepted events/s (${EVENTS} events, ${CONCURRENCY} in flight, all published within ${report.publishedWithinSeconds} s in ${report.throughputMessages} messages)`,
    );
    console.log(
      `EventSync bench: trigger latency (completing POST → message consumed) p50 ${report.triggerLatencyMs.p50} ms, p99 ${report.triggerLatencyMs.p99} ms over ${ROUNDS} rounds; server-side mean (event stored → Kafka ack) ${report.serverSideMeanMs} ms`,
    );
    console.log(JSON.stringify(report));
  } finally {
    await es.stop();
    await mongo
      .connect()
      .then(() => mongo.db(db).dropDatabase())
      .catch(() => undefined);
    await mongo.close();
    closeHttpAgent();
    if (ownDir) await stopInfra({ stateDir: ownDir });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
