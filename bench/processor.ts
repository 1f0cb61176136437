/**
 * Processor benchmark (`npm run bench:processor`): events/s through consume → sandbox → no-op sink,
 * beside raw consume throughput on the same broker, pass-through (no function), the sandbox's cost per
 * event batched vs one call per event, and the same function in plain V8.
 * Uses KAFKA_BROKERS when set, else starts a local broker in a temp folder and stops it afterwards.
 * PROCESSOR_BENCH_EVENTS (default 100000) sets the number of ~1 KiB events.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInfra, stopInfra } from '../core/infra/infra.js';
import type { KafkaTransport } from '../core/kafka/index.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { ProcessorManager } from '../processors/manager.js';
import { FunctionSandbox } from '../processors/sandbox/index.js';
import { processorContext } from '../processors/testing/context.js';
import { changeRecord, makeChangeEvent } from '../processors/testing/events.js';
import { noopSinkKind } from '../processors/testing/memory-sink.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';

const EVENTS = Number(process.env['PROCESSOR_BENCH_EVENTS'] ?? 100_000);
const PARTITIONS = 3;
const BATCH = 1000;
const CODE = `export default function handle(events) {
  return events.map((e) => ({ sink: 'out', op: 'set', key: 'order:' + e.documentKey._id.$numberInt, value: e.fullDocument }));
}`;
const plain = (events: readonly ChangeEvent[]): unknown[] =>
  events.map((e) => ({ sink: 'out', op: 'set', key: `order:${(e.documentKey?.['_id'] as { $numberInt: string }).$numberInt}`, value: e.fullDocument }));

const unique = (p: string): string => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

interface Row {
  measure: string;
  eventsPerSecond: number;
  microsPerEvent: number;
  note?: string;
}

function row(measure: string, events: number, ms: number, note?: string): Row {
  return { measure, eventsPerSecond: (events / ms) * 1000, microsPerEvent: (ms * 1000) / events, ...(note ? { note } : {}) };
}

function makeEvents(count: number): ChangeEvent[] {
  const base = Buffer.byteLength(JSON.stringify(makeChangeEvent({ db: 'shop', coll: 'orders', docId: 0, seq: 0 })));
  const pad = Math.max(0, 1024 - base - 10);
  return Array.from({ length: count }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq % 10_000, seq, padBytes: pad }));
}

async function produce(kafka: KafkaTransport, topic: string, events: readonly ChangeEvent[]): Promise<number> {
  const producer = kafka.producer();
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < events.length; i += 5_000) await producer.send(events.slice(i, i + 5_000).map((e) => changeRecord(topic, e)));
  const ms = performance.now() - started;
  await producer.disconnect();
  return ms;
}

/** Raw consume: the same group machinery, no decoding or processing, a commit per batch. */
async function rawConsume(kafka: KafkaTransport, topic: string, total: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: unique('bench-raw') });
  await consumer.connect();
  await consumer.subscribe([topic]);
  let seen = 0;
  let first = 0;
  const ms = await new Promise<number>((resolve, reject) => {
    consumer
      .run(
        async (batch) => {
          if (first === 0) first = performance.now();
          seen += batch.records.length;
          const last = batch.records[batch.records.length - 1];
          if (last) await consumer.commit([{ topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
          if (seen >= total) resolve(performance.now() - first);
        },
        { partitionsConsumedConcurrently: PARTITIONS },
      )
      .catch(reject);
  });
  await consumer.disconnect();
  return ms;
}

/** Time from the trigger's first delivered event to its last (group join excluded). */
async function throughTrigger(manager: ProcessorManager, topic: string, total: number, functionCode: string | undefined): Promise<number> {
  const name = unique('bench');
  const parsed = triggerConfigSchema.parse({ name, source: { topic }, sinks: [{ name: 'out', kind: 'noop' }], batch: { maxSize: BATCH, maxWaitMs: 20 } });
  await manager.apply({ ...parsed, key: name, ...(functionCode ? { functionCode: { name: 'bench', code: functionCode, memoryMiB: 64, timeoutMs: 5_000 } } : {}) });
  let first = 0;
  for (;;) {
    const stats = manager.status(name)?.stats;
    const done = (stats?.delivered ?? 0) + (stats?.deadLettered ?? 0);
    if (done > 0 && first === 0) first = performance.now();
    if (done >= total) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - first;
  if ((manager.status(name)?.stats?.deadLettered ?? 0) > 0) throw new Error('benchmark events were dead-lettered');
  await manager.remove(name);
  return ms;
}

function measure(iterations: number, fn: () => void): number {
  for (let i = 0; i < Math.max(2, Math.floor(iterations / 5)); i++) fn();
  const started = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  return (performance.now() - started) / iterations;
}

async function main(): Promise<void> {
  const ownDir = process.env['KAFKA_BROKERS'] ? null : mkdtempSync(join(tmpdir(), 'processor-bench-'));
  const infra = await startInfra(ownDir ? { stateDir: ownDir, onProgress: (l) => process.stderr.write(`[infra] ${l}\n`) } : {});
  const prefix = unique('bench');
  const context = processorContext({ brokers: infra.kafka, prefix });
  const admin = context.kafka.admin();
  await admin.connect();
  const manager = new ProcessorManager([], { extraSinkKinds: [noopSinkKind], topicRefreshMs: 0 });
  await manager.start(context);
  const rows: Row[] = [];
  try {
    const events = makeEvents(EVENTS);
    const bytes = Buffer.byteLength(JSON.stringify(events[0]));
    const topic = `${prefix}.shop.orders`;
    await admin.ensureTopics([{ topic, partitions: PARTITIONS }]);
    process.stderr.write(`producing ${EVENTS} events of ${bytes} bytes to ${topic}…\n`);
    rows.push(row('produce (acks=all, idempotent)', EVENTS, await produce(context.kafka, topic, events)));
    rows.push(row('raw consume (kafkajs, commit per batch)', EVENTS, await rawConsume(context.kafka, topic, EVENTS)));
    rows.push(row('trigger, no function → no-op sink', EVENTS, await throughTrigger(manager, topic, EVENTS, undefined), 'decode + filter + commit'));
    rows.push(row('trigger, sandboxed function → no-op sink', EVENTS, await throughTrigger(manager, topic, EVENTS, CODE), `batches of ${BATCH}`));

    // The function alone, on the decoded events of one batch.
    const sample = events.slice(0, BATCH).map((e) => parseChangeEvent(JSON.stringify(e)));
    const ctx = { trigger: 'bench', now: Date.now(), sinkNames: ['out'] };
    const sandbox = new FunctionSandbox({ name: 'bench', code: CODE });
    const batched = measure(30, () => void sandbox.runSync(sample, ctx));
    rows.push(row(`sandbox alone, batched (${BATCH}/call, ${sandbox.marshal})`, BATCH, batched));
    const single = measure(2, () => {
      for (const e of sample) sandbox.runSync([e], ctx);
    });
    rows.push(row('sandbox alone, one call per event', BATCH, single));
    sandbox.dispose();
    rows.push(row('plain V8, same function', BATCH, measure(300, () => void plain(sample))));
    rows.push(row('plain V8 + JSON copy in and out (what a VM must do)', BATCH, measure(30, () => void JSON.parse(JSON.stringify(plain(JSON.parse(JSON.stringify(sample)) as ChangeEvent[]))))));
    rows.push(row('decode alone (JSON.parse + envelope schema)', BATCH, measure(30, () => void events.slice(0, BATCH).map((e) => parseChangeEvent(JSON.stringify(e))))));

    console.log(`\nprocessor benchmark: ${EVENTS} events of ${bytes} bytes, ${PARTITIONS} partitions, broker ${infra.kafka}\n`);
    const header = ['measure'.padEnd(48), 'events/s'.padStart(12), 'µs/event'.padStart(10), '  note'].join('');
    console.log(header);
    console.log('-'.repeat(header.length + 10));
    for (const r of rows) console.log([r.measure.padEnd(48), Math.round(r.eventsPerSecond).toLocaleString('en-US').padStart(12), r.microsPerEvent.toFixed(2).padStart(10), r.note ? `  ${r.note}` : ''].join(''));
    console.log(`\ntarget: ≤ 12 µs per 1 KiB event through the sandbox (batched sandbox alone: ${(batched * 1000 / BATCH).toFixed(2)} µs)`);
  } finally {
    await manager.stop();
    await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix))).catch(() => undefined);
    await admin.disconnect();
    await context.close();
    if (ownDir) await stopInfra({ stateDir: ownDir });
  }
}

await main();
