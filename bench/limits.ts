/**
 * Limit rows of `npm run bench`: what the broker, the Kafka client libraries and the MongoDB server do
 * on their own on this machine, so that every changeflow row can be read as a fraction of its limit.
 * One file past ~450 lines on purpose: each limit row is a small, self-contained loop, and keeping
 * them side by side is what lets a reader check that they measure the same thing the same way.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient, type Collection } from 'mongodb';
import { createKafkaTransport, librdkafkaAvailable, type KafkaClientName } from '../core/kafka/index.js';
import { loadLibrdkafka, type RdConsumer, type RdMessage, type RdProducer } from '../core/kafka/librdkafka-binding.js';
import { closeRdProducer } from '../core/kafka/librdkafka.js';
import type { KafkaTransport, OutgoingRecord } from '../core/kafka/transport.js';
import { backlogSize, insertBacklog, type BacklogDoc } from './lib/backlog.js';
import { parseConsumerPerf, parseProducerPerf, runKafkaTool } from './lib/kafka-tools.js';
import { payloadPool } from './lib/payload.js';
import { serverCpuMeter } from './lib/server-cpu.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { atFixedRate, forDuration, LatencySamples, nowMs } from './lib/timing.js';
import { WATCH_SCENARIO, watchScenario } from './watch-scenario.js';

/** Names of the limit rows, for changeflow stages' `limitName`. */
export const LIMIT = {
  producerPerf: 'kafka-producer-perf-test (Java)',
  consumerPerf: 'kafka-consumer-perf-test (Java)',
  produceRaw: (client: KafkaClientName) => `produce raw ${client} library`,
  produce: (client: KafkaClientName) => `produce bare loop, ${client} via transport`,
  consumeRaw: (client: KafkaClientName) => `consume raw ${client} library`,
  consume: (client: KafkaClientName) => `consume bare loop, ${client} via transport`,
  roundTrip: (client: KafkaClientName) => `produce→consume latency @1000/s, ${client}`,
  watch: 'mongodb watch() loop',
  watchCatchUp: 'mongodb watch() catch-up on a backlog',
  watchScenario: WATCH_SCENARIO,
  find: 'mongodb find() loop (raw documents, by _id)',
} as const;

/** Records per send() and sends in flight in the bare producer loops (the source's pipelining shape). */
export const PRODUCE_BATCH = 1_000;
export const PRODUCE_IN_FLIGHT = 4;

function unique(prefix: string): string {
  return `bench-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

function clients(): KafkaClientName[] {
  return librdkafkaAvailable() ? ['kafkajs', 'librdkafka'] : ['kafkajs'];
}

function transport(ctx: BenchContext, client: KafkaClientName): KafkaTransport {
  return createKafkaTransport(client, { brokers: [ctx.kafka], clientId: 'changeflow-bench' });
}

async function createTopic(ctx: BenchContext, prefix: string): Promise<string> {
  const topic = unique(prefix);
  const admin = transport(ctx, 'kafkajs').admin();
  await admin.connect();
  await admin.ensureTopics([{ topic, partitions: ctx.partitions }]);
  await admin.disconnect();
  ctx.trackTopic(topic);
  return topic;
}

function figure(ctx: BenchContext, events: number, seconds: number, latency?: LatencySamples, note?: string): BenchFigure {
  const eventsPerSec = seconds > 0 ? events / seconds : 0;
  const out: BenchFigure = { eventsPerSec, mbPerSec: (eventsPerSec * ctx.messageBytes) / 1048576, events, seconds };
  const p50 = latency?.percentile(50);
  const p99 = latency?.percentile(99);
  if (p50 !== undefined) out.p50Ms = p50;
  if (p99 !== undefined) out.p99Ms = p99;
  if (note) out.note = note;
  return out;
}

/** The topic every consumer row reads: filled once per run, ~duration × a fast producer's rate. */
let preloaded: Promise<{ topic: string; events: number }> | undefined;

function preloadedTopic(ctx: BenchContext): Promise<{ topic: string; events: number }> {
  preloaded ??= (async () => {
    const topic = await createTopic(ctx, 'consume-source');
    const events = ctx.quick ? 20_000 : 1_000_000;
    const client = librdkafkaAvailable() ? 'librdkafka' : 'kafkajs';
    ctx.log(`filling ${topic} with ${events.toLocaleString()} events of ${ctx.messageBytes} B for the consumer rows (${client})…`);
    const producer = transport(ctx, client).producer();
    await producer.connect();
    const pool = payloadPool(ctx.messageBytes);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < events; i += PRODUCE_BATCH) {
      const records: OutgoingRecord[] = [];
      for (let j = i; j < Math.min(events, i + PRODUCE_BATCH); j++) records.push({ topic, key: `doc-${j % 10_000}`, value: pool[j % pool.length] ?? null });
      sends.push(producer.send(records));
      if (sends.length >= PRODUCE_IN_FLIGHT) await sends.shift();
    }
    await Promise.all(sends);
    await producer.disconnect();
    return { topic, events };
  })();
  return preloaded;
}

function batchOf(topic: string, pool: Buffer[], seq: number): OutgoingRecord[] {
  return Array.from({ length: PRODUCE_BATCH }, (_, i) => ({ topic, key: `doc-${(seq + i) % 10_000}`, value: pool[(seq + i) % pool.length] ?? null }));
}

/** Bare producer loop through our transport: send() of 1,000 records, 4 in flight, each resolving on acks=all. */
function produceThroughTransport(client: KafkaClientName): BenchStage {
  return {
    name: LIMIT.produce(client),
    kind: 'limit',
    limitName: LIMIT.produceRaw(client),
    async run(ctx) {
      const topic = await createTopic(ctx, `produce-${client}`);
      const pool = payloadPool(ctx.messageBytes);
      const producer = transport(ctx, client).producer({ idempotent: true });
      await producer.connect();
      const latency = new LatencySamples();
      let seq = 0;
      const { events, seconds } = await forDuration(ctx.durationMs, PRODUCE_IN_FLIGHT, async () => {
        const records = batchOf(topic, pool, seq);
        seq += records.length;
        const started = nowMs();
        await producer.send(records);
        latency.add(nowMs() - started);
        return records.length;
      });
      await producer.disconnect();
      return figure(ctx, events, seconds, latency, `p50/p99: ack latency of one ${PRODUCE_BATCH}-record send`);
    },
  };
}

/** kafkajs itself: sendBatch with the same shape, no transport layer. */
const produceRawKafkajs: BenchStage = {
  name: LIMIT.produceRaw('kafkajs'),
  kind: 'limit',
  limitName: LIMIT.producerPerf,
  async run(ctx) {
    const topic = await createTopic(ctx, 'produce-raw-kafkajs');
    const pool = payloadPool(ctx.messageBytes);
    const producer = new Kafka({ brokers: [ctx.kafka], logLevel: logLevel.ERROR }).producer({ idempotent: true, maxInFlightRequests: 5 });
    await producer.connect();
    let seq = 0;
    const { events, seconds } = await forDuration(ctx.durationMs, PRODUCE_IN_FLIGHT, async () => {
      const messages = batchOf(topic, pool, seq).map((r) => ({ key: r.key, value: r.value }));
      seq += messages.length;
      await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] });
      return messages.length;
    });
    await producer.disconnect();
    return figure(ctx, events, seconds);
  },
};

/** librdkafka itself: produce() as fast as its queue takes them, counting delivery reports. */
const produceRawLibrdkafka: BenchStage = {
  name: LIMIT.produceRaw('librdkafka'),
  kind: 'limit',
  limitName: LIMIT.producerPerf,
  async run(ctx) {
    const loaded = loadLibrdkafka();
    if ('error' in loaded) throw loaded.error;
    const topic = await createTopic(ctx, 'produce-raw-rdkafka');
    const pool = payloadPool(ctx.messageBytes);
    const producer: RdProducer = new loaded.module.Producer({
      'metadata.broker.list': ctx.kafka,
      dr_cb: true,
      'enable.idempotence': true,
      acks: -1,
      'linger.ms': 5,
      'batch.size': 1_000_000,
      partitioner: 'murmur2_random',
    });
    let delivered = 0;
    let failed: Error | undefined;
    producer.on('delivery-report', (err) => {
      if (err) failed = err;
      else delivered += 1;
    });
    await new Promise<void>((resolve, reject) => producer.connect({ timeout: 15_000 }, (err) => (err ? reject(err) : resolve())));
    producer.setPollInterval(2);
    const started = nowMs();
    let seq = 0;
    while (nowMs() - started < ctx.durationMs && !failed) {
      // Keep about 20,000 records outstanding: enough to fill batches, bounded memory.
      if (seq - delivered > 20_000) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      producer.produce(topic, null, pool[seq % pool.length] ?? null, `doc-${seq % 10_000}`, null, null);
      seq += 1;
      if (seq % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    const end = nowMs();
    const countedAtEnd = delivered;
    await closeRdProducer(producer, 30_000);
    if (failed) throw failed;
    return figure(ctx, countedAtEnd, (end - started) / 1000, undefined, 'counts records acknowledged within the window');
  },
};

/** Kafka's own Java producer benchmark against the same broker, same payloads, acks=all + idempotence. */
const producerPerf: BenchStage = {
  name: LIMIT.producerPerf,
  kind: 'limit',
  async run(ctx) {
    const topic = await createTopic(ctx, 'perf-producer');
    const payloadFile = join(tmpdir(), `changeflow-bench-payloads-${process.pid}.txt`);
    writeFileSync(
      payloadFile,
      payloadPool(ctx.messageBytes, 256)
        .map((b) => b.toString())
        .join('\n'),
    );
    const run = async (records: number) =>
      parseProducerPerf(
        await runKafkaTool(
          'org.apache.kafka.tools.ProducerPerformance',
          [
            '--topic',
            topic,
            '--num-records',
            String(records),
            '--payload-file',
            payloadFile,
            '--throughput',
            '-1',
            '--command-property',
            `bootstrap.servers=${ctx.kafka}`,
            'acks=all',
            'enable.idempotence=true',
            'linger.ms=5',
            'batch.size=262144',
          ],
          180_000,
        ),
      );
    // A short calibration run sizes the measured one to last about `durationMs`.
    const probe = await run(ctx.quick ? 20_000 : 100_000);
    const sizedBy = (rate: number): number => Math.max(100_000, Math.round((rate * ctx.durationMs) / 1000));
    let result = ctx.quick ? probe : await run(sizedBy(probe.recordsPerSec));
    // The probe includes the JVM's warm-up and underrates a fast broker (measured runs of 3.5-4.2 s for
    // 10 s asked): size once more from the measured run when it ended that early.
    if (!ctx.quick && result.records / result.recordsPerSec < (0.8 * ctx.durationMs) / 1000) result = await run(sizedBy(result.recordsPerSec));
    return {
      eventsPerSec: result.recordsPerSec,
      mbPerSec: result.mbPerSec,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      events: result.records,
      seconds: result.records / result.recordsPerSec,
      note: 'p50/p99: per-record send→ack latency at full speed',
    };
  },
};

/** Kafka's own Java consumer benchmark: passes over the preloaded topic until `durationMs` of fetching. */
const consumerPerf: BenchStage = {
  name: LIMIT.consumerPerf,
  kind: 'limit',
  async run(ctx) {
    const { topic, events } = await preloadedTopic(ctx);
    let messages = 0;
    let fetchMs = 0;
    for (let pass = 0; pass < 10 && fetchMs < ctx.durationMs; pass++) {
      const result = parseConsumerPerf(
        await runKafkaTool(
          'org.apache.kafka.tools.ConsumerPerformance',
          ['--bootstrap-server', ctx.kafka, '--topic', topic, '--num-records', String(events), '--group', unique('perf-g'), '--timeout', '60000'],
          180_000,
        ),
      );
      messages += result.messages;
      fetchMs += result.fetchMs;
    }
    return figure(ctx, messages, fetchMs / 1000, undefined, 'fetch time only (group join left out), passes over one preloaded topic');
  },
};

/**
 * Bare consumer loop through our transport: a fresh group reads the preloaded topic; a partition that
 * reaches its end is sought back to 0, so the loop runs for `durationMs` on a bounded topic.
 */
function consumeThroughTransport(client: KafkaClientName): BenchStage {
  return {
    name: LIMIT.consume(client),
    kind: 'limit',
    limitName: LIMIT.consumeRaw(client),
    async run(ctx) {
      const { topic } = await preloadedTopic(ctx);
      const kafka = transport(ctx, client);
      const admin = kafka.admin();
      await admin.connect();
      const ends = new Map((await admin.topicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
      await admin.disconnect();
      const consumer = kafka.consumer({ groupId: unique(`consume-${client}`), fromBeginning: true });
      await consumer.connect();
      await consumer.subscribe([topic]);
      let count = 0;
      let started = 0;
      let stoppedAt = 0;
      let done: () => void = () => undefined;
      const finished = new Promise<void>((resolve) => (done = resolve));
      await consumer.run(async (batch) => {
        if (stoppedAt) return;
        if (!started) started = nowMs();
        count += batch.records.length;
        const last = batch.records[batch.records.length - 1];
        if (last && Number(last.offset) + 1 >= (ends.get(batch.partition) ?? Infinity)) consumer.seek({ topic, partition: batch.partition, offset: '0' });
        if (nowMs() - started >= ctx.durationMs) {
          stoppedAt = nowMs();
          done();
        }
      });
      await finished;
      await consumer.disconnect();
      return figure(ctx, count, (stoppedAt - started) / 1000, undefined, 'from the first batch (group join left out); no commits');
    },
  };
}

const consumeRawKafkajs: BenchStage = {
  name: LIMIT.consumeRaw('kafkajs'),
  kind: 'limit',
  limitName: LIMIT.consumerPerf,
  async run(ctx) {
    const { topic } = await preloadedTopic(ctx);
    const kafka = new Kafka({ brokers: [ctx.kafka], logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: unique('consume-raw-kafkajs') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let count = 0;
    let started = 0;
    let stoppedAt = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (stoppedAt) return;
        if (!started) started = nowMs();
        count += batch.messages.length;
        const last = batch.messages[batch.messages.length - 1];
        if (last && Number(last.offset) + 1 >= (ends.get(batch.partition) ?? Infinity)) consumer.seek({ topic, partition: batch.partition, offset: '0' });
        if (nowMs() - started >= ctx.durationMs) {
          stoppedAt = nowMs();
          done();
        }
      },
    });
    await finished;
    await consumer.disconnect();
    return figure(ctx, count, (stoppedAt - started) / 1000);
  },
};

const consumeRawLibrdkafka: BenchStage = {
  name: LIMIT.consumeRaw('librdkafka'),
  kind: 'limit',
  limitName: LIMIT.consumerPerf,
  async run(ctx) {
    const loaded = loadLibrdkafka();
    if ('error' in loaded) throw loaded.error;
    const { topic } = await preloadedTopic(ctx);
    const consumer: RdConsumer = new loaded.module.KafkaConsumer({
      'metadata.broker.list': ctx.kafka,
      'group.id': unique('consume-raw-rdkafka'),
      'enable.auto.commit': false,
      'auto.offset.reset': 'earliest',
    });
    await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 15_000 }, (err) => (err ? reject(err) : resolve())));
    consumer.subscribe([topic]);
    consumer.setDefaultConsumeTimeout(200);
    consumer.setDefaultIsTimeoutOnlyForFirstMessage?.(true);
    let count = 0;
    let started = 0;
    // One consume call ahead, as the transport does: the binding pops messages on a libuv thread while
    // this thread counts the previous call's.
    const consume = () => new Promise<RdMessage[]>((resolve, reject) => consumer.consume(2_000, (err, m) => (err ? reject(err) : resolve(m))));
    let next = consume();
    for (;;) {
      const messages = await next;
      next = consume();
      if (messages.length === 0) continue;
      if (!started) started = nowMs();
      count += messages.length;
      if (nowMs() - started >= ctx.durationMs) break;
      // Wrap around at the end of each partition, as the transport loop does.
      const lastOffsets = new Map(messages.map((m) => [m.partition, m.offset]));
      for (const [partition, offset] of lastOffsets) {
        const high = consumer.getWatermarkOffsets(topic, partition).highOffset;
        if (offset + 1 >= high) consumer.seek({ topic, partition, offset: 0 }, 0, () => undefined);
      }
    }
    const seconds = (nowMs() - started) / 1000;
    await next.catch(() => undefined);
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    return figure(ctx, count, seconds);
  },
};

/** One record at a time at 1,000/s; latency from send() to the consumer's eachBatch (the e2e floor). */
function roundTrip(client: KafkaClientName): BenchStage {
  return {
    name: LIMIT.roundTrip(client),
    kind: 'limit',
    async run(ctx) {
      const topic = await createTopic(ctx, `rtt-${client}`);
      const kafka = transport(ctx, client);
      const consumer = kafka.consumer({ groupId: unique('rtt'), fromBeginning: false });
      const latency = new LatencySamples();
      let received = 0;
      let ready = false;
      await consumer.connect();
      await consumer.subscribe([topic]);
      await consumer.run(async (batch) => {
        const now = Date.now();
        for (const r of batch.records) {
          const sentAt = Number(r.headers['sent-at']);
          if (r.headers['warmup'] === '1') ready = true;
          else {
            received += 1;
            latency.add(now - sentAt);
          }
        }
      });
      const producer = kafka.producer({ idempotent: true, lingerMs: 0 });
      await producer.connect();
      // Wait until the group owns the partitions: warm-up records go through first.
      const warmDeadline = Date.now() + 30_000;
      while (!ready && Date.now() < warmDeadline) {
        await producer.send([{ topic, key: 'w', value: 'w', headers: { 'sent-at': String(Date.now()), warmup: '1' } }]);
        await new Promise((r) => setTimeout(r, 200));
      }
      const pool = payloadPool(ctx.messageBytes, 64);
      const { sent } = await atFixedRate(1000, ctx.durationMs, async (i) => {
        await producer.send([{ topic, key: `doc-${i % 10_000}`, value: pool[i % pool.length] ?? null, headers: { 'sent-at': String(Date.now()) } }]);
      });
      const deadline = Date.now() + 10_000;
      while (received < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await producer.disconnect();
      await consumer.disconnect();
      return figure(ctx, received, ctx.durationMs / 1000, latency, `offered 1000/s; ${received}/${sent} received; ms clock`);
    },
  };
}

/** One client inserts documents as fast as it can while another watches the collection; events/s received. */
const watchLoop: BenchStage = {
  name: LIMIT.watch,
  kind: 'limit',
  async run(ctx) {
    const dbName = unique('watch').replace(/-/g, '_');
    const writer = new MongoClient(ctx.mongodb);
    const watcher = new MongoClient(ctx.mongodb);
    await Promise.all([writer.connect(), watcher.connect()]);
    const coll = writer.db(dbName).collection<{ _id: number; t: number; pad: string }>('events');
    const stream = watcher.db(dbName).collection('events').watch([], { batchSize: 1000 });
    const latency = new LatencySamples();
    let received = 0;
    let firstAt = 0;
    let lastAt = 0;
    let markerSeen = false;
    stream.on('change', (change: { operationType: string; fullDocument?: { _id: number; t: number } }) => {
      if (change.operationType !== 'insert' || !change.fullDocument) return;
      if (change.fullDocument._id < 0) {
        markerSeen = true;
        return;
      }
      const now = Date.now();
      if (!firstAt) firstAt = now;
      lastAt = now;
      received += 1;
      latency.add(now - change.fullDocument.t);
    });
    // The stream is open once a marker inserted after watch() comes back.
    const pad = 'x'.repeat(Math.max(0, ctx.messageBytes - 60));
    const openDeadline = Date.now() + 30_000;
    for (let i = 1; !markerSeen && Date.now() < openDeadline; i++) {
      await coll.insertOne({ _id: -i, t: Date.now(), pad: '' });
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!markerSeen) throw new Error('the change stream delivered no event within 30 s');
    let inserted = 0;
    const cpu = serverCpuMeter(ctx.mongodbPid);
    const started = Date.now();
    while (Date.now() - started < ctx.durationMs) {
      const t = Date.now();
      const docs = Array.from({ length: 500 }, (_, i) => ({ _id: inserted + i, t, pad }));
      await coll.insertMany(docs, { ordered: false });
      inserted += docs.length;
    }
    const deadline = Date.now() + 30_000;
    while (received < inserted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const serverCpuSecPer1k = cpu.per1k(received);
    await stream.close();
    await writer.db(dbName).dropDatabase();
    await Promise.all([writer.close(), watcher.close()]);
    const seconds = Math.max(ctx.durationMs, lastAt - started) / 1000;
    return {
      ...figure(
        ctx,
        received,
        seconds,
        latency,
        `inserts of 500 docs from a second client; ${received}/${inserted} events; p50/p99: insert→event under full load`,
      ),
      serverCpuSecPer1k,
    };
  },
};

/** A resume token just after a marker document, so a later watch() reads everything written after it. */
async function positionAfterMarker(coll: Collection<BacklogDoc>): Promise<unknown> {
  const stream = coll.watch([]);
  try {
    // watch() is lazy: the first read opens the stream at the current position, before the marker.
    await stream.tryNext();
    await coll.insertOne({ _id: -1, t: Date.now(), pad: '' });
    const change = await Promise.race([
      stream.next(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the change stream delivered no event within 30 s')), 30_000).unref()),
    ]);
    return change._id;
  } finally {
    await stream.close();
  }
}

/**
 * The server streaming a backlog with nothing else running: `--seconds` × 15,000 documents are written
 * first, then a change stream resumes before them and reads them all; events/s from watch() to the last
 * event. Its changeflow counterpart is the source catching up on the same kind of backlog.
 */
export const watchCatchUp: BenchStage = {
  name: LIMIT.watchCatchUp,
  kind: 'limit',
  async run(ctx) {
    const dbName = unique('watchcu').replace(/-/g, '_');
    const client = new MongoClient(ctx.mongodb);
    await client.connect();
    try {
      const coll = client.db(dbName).collection<BacklogDoc>('events');
      const resumeAfter = await positionAfterMarker(coll);
      const count = backlogSize(ctx);
      const insertSeconds = await insertBacklog(coll, count, ctx);
      const cpu = serverCpuMeter(ctx.mongodbPid);
      const stream = coll.watch([], { batchSize: 1000, resumeAfter });
      const started = nowMs();
      let received = 0;
      let lastAt = started;
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`watch() read ${received} of ${count} backlog events within 300 s`)), 300_000);
          stream.on('change', (change: { operationType: string }) => {
            if (change.operationType !== 'insert') return;
            received += 1;
            lastAt = nowMs();
            if (received >= count) {
              clearTimeout(timer);
              resolve();
            }
          });
          stream.on('error', (error) => {
            clearTimeout(timer);
            reject(error);
          });
        });
      } finally {
        await stream.close();
      }
      const serverCpuSecPer1k = cpu.per1k(received);
      return {
        ...figure(
          ctx,
          received,
          (lastAt - started) / 1000,
          undefined,
          `${count} documents written first (${insertSeconds.toFixed(1)} s), then read from a resume token before them`,
        ),
        serverCpuSecPer1k,
      };
    } finally {
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
    }
  },
};

/** Documents the find() row reads per pass (its collection is written once, before the figure). */
const FIND_DOCUMENTS = 50_000;

/**
 * The server handing out a collection as the snapshot reads it: passes of `find({}).sort({ _id: 1 })` in
 * batches of 1,000 (the source's `snapshotBatchSize` default), documents left as BSON bytes, nothing
 * else done with them; events/s over the passes. Its changeflow counterpart is the initial snapshot.
 */
const findLoop: BenchStage = {
  name: LIMIT.find,
  kind: 'limit',
  async run(ctx) {
    const dbName = unique('find').replace(/-/g, '_');
    const client = new MongoClient(ctx.mongodb);
    await client.connect();
    try {
      const coll = client.db(dbName).collection<BacklogDoc>('docs');
      const count = ctx.quick ? 5_000 : FIND_DOCUMENTS;
      const insertSeconds = await insertBacklog(coll, count, ctx);
      let read = 0;
      let bytes = 0;
      const cpu = serverCpuMeter(ctx.mongodbPid);
      const started = nowMs();
      do {
        for await (const doc of coll.find({}, { sort: { _id: 1 }, batchSize: 1_000, raw: true })) {
          bytes += (doc as unknown as Uint8Array).length;
          read += 1;
        }
      } while (nowMs() - started < ctx.durationMs);
      const seconds = (nowMs() - started) / 1000;
      const serverCpuSecPer1k = cpu.per1k(read);
      return {
        ...figure(
          ctx,
          read,
          seconds,
          undefined,
          `passes over ${count} documents (written first, ${insertSeconds.toFixed(1)} s), ${Math.round(bytes / read)} B each`,
        ),
        serverCpuSecPer1k,
      };
    } finally {
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
    }
  },
};

/** The limit rows, in table order. Rows for a client that is not built are left out. */
export function limitStages(): BenchStage[] {
  const all = clients();
  return [
    producerPerf,
    ...(all.includes('librdkafka') ? [produceRawLibrdkafka] : []),
    produceRawKafkajs,
    ...all.map(produceThroughTransport),
    consumerPerf,
    ...(all.includes('librdkafka') ? [consumeRawLibrdkafka] : []),
    consumeRawKafkajs,
    ...all.map(consumeThroughTransport),
    ...all.map(roundTrip),
    watchLoop,
    watchCatchUp,
    watchScenario,
    findLoop,
  ];
}

export const stages = limitStages();
