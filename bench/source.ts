/**
 * Source rows of `npm run bench` (and `npm run bench:source` alone): events/s the MongoDB source puts
 * into Kafka (acknowledged, acks=all) for documents of `--size` bytes, on the client of `--client`.
 *   - change stream: a second client inserts 500-document batches for the figure's duration, as the
 *     `mongodb watch() loop` limit row does, while the source tails the collection; events/s until every
 *     change is acknowledged, beside that row (the source cannot read faster than the server streams);
 *   - change stream catch-up: the source resumes before a backlog written while it was stopped, beside
 *     `mongodb watch() catch-up on a backlog` (the same backlog read by a bare change stream);
 *   - initial snapshot: fresh sources copy the same collection, pass after pass, beside
 *     `mongodb find() loop` (the server handing out a collection in _id order, nothing done with it).
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { Health } from '../core/health.js';
import { createKafkaTransport } from '../core/kafka/index.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { TopicNames } from '../core/topics.js';
import { MongoSource } from '../connectors/mongodb/mongo-source.js';
import { sourceConfigSchema } from '../connectors/mongodb/source-config.js';
import { sourceMetrics } from '../connectors/mongodb/source-metrics.js';
import { LIMIT } from './limits.js';
import { backlogSize, insertBacklog, type BacklogDoc } from './lib/backlog.js';
import { describeReads } from './lib/get-more-counter.js';
import { runIfMain } from './lib/runner.js';
import { serverCpuMeter } from './lib/server-cpu.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { LatencySamples, nowMs, rssMiB } from './lib/timing.js';
import { scenarioSize } from './watch-scenario.js';

/** Documents per insertMany, as in the watch() limit row. */
const INSERT_BATCH = 500;

interface Rig {
  ctx: BenchContext;
  client: MongoClient;
  dbName: string;
  /** Events the sources acknowledged so far (their own metric), all sources of the rig together. */
  acked(): Promise<number>;
  /** Change-stream reads of the rig's sources so far: all, and those that returned nothing. */
  reads(): Promise<{ reads: number; empty: number }>;
  source(name: string, snapshot: 'never' | 'initial', overrides?: SourceOverrides): MongoSource;
  /** Polls `check` every 20 ms until it holds, or throws naming `what`. */
  until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void>;
  health: Health;
  close(): Promise<void>;
}

/** Source settings a row or variant changes from the defaults. */
export interface SourceOverrides {
  batchSize?: number;
  maxBatchSize?: number;
  snapshotParallelism?: number;
}

async function openRig(ctx: BenchContext): Promise<Rig> {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const topics = new TopicNames(`bench-src-${run}`);
  const dbName = `bench_src_${run}`;
  const metaDb = `bench_src_meta_${run}`;
  ctx.trackTopic(topics.change(dbName, 'docs'));
  ctx.trackTopic(topics.offsets());
  const kafka = createKafkaTransport(ctx.client, { brokers: [ctx.kafka], clientId: 'changeflow-bench' }, undefined, ctx.producerClient);
  const client = new MongoClient(ctx.mongodb);
  await client.connect();
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const metrics = sourceMetrics(registry);
  const health = new Health();
  const sources: MongoSource[] = [];
  return {
    ctx,
    client,
    dbName,
    health,
    async acked() {
      const metric = await registry.getSingleMetric('changeflow_source_events_total')?.get();
      return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    },
    async reads() {
      const metric = await registry.getSingleMetric('changeflow_source_stream_reads_total')?.get();
      const values = metric?.values ?? [];
      return {
        reads: values.reduce((sum, v) => sum + v.value, 0),
        empty: values.filter((v) => v.labels['result'] === 'empty').reduce((sum, v) => sum + v.value, 0),
      };
    },
    source(name, snapshot, overrides = {}) {
      const source = new MongoSource(sourceConfigSchema.parse({ name, uri: ctx.mongodb, watch: { db: dbName, coll: 'docs' }, snapshot, ...overrides }), {
        kafka,
        topics,
        logger: silentLogger,
        health,
        metrics,
        metadataDb: client.db(metaDb),
        partitions: ctx.partitions,
      });
      sources.push(source);
      return source;
    },
    async until(check, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await Promise.all(sources.map((s) => s.stop().catch(() => undefined)));
      for (const db of [dbName, metaDb])
        await client
          .db(db)
          .dropDatabase()
          .catch(() => undefined);
      await client.close();
    },
  };
}

function streamingOf(rig: Rig, name: string): () => boolean {
  return () => rig.health.report().components[`source:${name}`]?.detail === 'streaming';
}

/** The change-stream row; leaves the documents in the collection for `snapshotFigure` when given a rig. */
async function changeStreamFigure(rig: Rig): Promise<BenchFigure> {
  const { ctx } = rig;
  const name = 'bench-stream';
  const source = rig.source(name, 'never');
  source.start();
  await rig.until(streamingOf(rig, name), 60_000, 'the source to stream');
  const coll = rig.client.db(rig.dbName).collection<{ _id: number; t: number; pad: string }>('docs');
  // The stream position is fixed when the source starts; a marker proves events flow before timing starts.
  await coll.insertOne({ _id: -1, t: Date.now(), pad: '' });
  await rig.until(async () => (await rig.acked()) >= 1, 60_000, 'the first change in Kafka');
  const before = await rig.acked();
  const pad = 'x'.repeat(Math.max(0, ctx.messageBytes - 60));
  // Ack latency per insert batch: from the insert until the source's count covers it.
  const latency = new LatencySamples();
  const pendingBatches: { upTo: number; at: number }[] = [];
  let inserted = 0;
  let lastAckAt = 0;
  let lastAcked = 0;
  let done = false;
  const cpu = serverCpuMeter(ctx.mongodbPid);
  const watcher = (async () => {
    while (!done || pendingBatches.length > 0) {
      const acked = (await rig.acked()) - before;
      const now = nowMs();
      while (pendingBatches[0] && pendingBatches[0].upTo <= acked) latency.add(now - (pendingBatches.shift() as { at: number }).at);
      if (acked > lastAcked) {
        lastAcked = acked;
        lastAckAt = now;
      }
      if (done && acked >= inserted) break;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const started = nowMs();
  while (nowMs() - started < ctx.durationMs) {
    const at = nowMs();
    const docs = Array.from({ length: INSERT_BATCH }, (_, i) => ({ _id: inserted + i, t: Date.now(), pad }));
    await coll.insertMany(docs, { ordered: false });
    inserted += docs.length;
    pendingBatches.push({ upTo: inserted, at });
  }
  const insertSeconds = (nowMs() - started) / 1000;
  done = true;
  const timeout = setTimeout(() => pendingBatches.splice(0), 300_000);
  await watcher;
  clearTimeout(timeout);
  const acked = (await rig.acked()) - before;
  if (acked < inserted) throw new Error(`the source acknowledged ${acked} of ${inserted} changes within 300 s`);
  const seconds = Math.max(ctx.durationMs, lastAckAt - started) / 1000;
  const figure: BenchFigure = {
    eventsPerSec: inserted / seconds,
    events: inserted,
    seconds,
    rssMiB: rssMiB(),
    serverCpuSecPer1k: cpu.per1k(inserted),
    note: `inserts of ${INSERT_BATCH} docs from a second client (${insertSeconds.toFixed(1)} s); p50/p99: insert → Kafka ack per insert batch, under full load`,
  };
  const p50 = latency.percentile(50);
  const p99 = latency.percentile(99);
  if (p50 !== undefined) figure.p50Ms = p50;
  if (p99 !== undefined) figure.p99Ms = p99;
  await source.stop();
  return figure;
}

/** The `snapshotParallelism` values the snapshot rows compare: the first is the headline row's. */
const SNAPSHOT_PARALLELISM = [2, 1] as const;

/**
 * Snapshot passes over the collection the change-stream figure filled, each by a new source, for every
 * `SNAPSHOT_PARALLELISM` value: passes alternate between the values (their order swapped every round),
 * three rounds at least and until each has run for the figure's duration, so load from other work on the machine falls on all
 * of them alike.
 */
async function snapshotFigures(rig: Rig): Promise<Map<number, BenchFigure>> {
  const { ctx } = rig;
  const docs = await rig.client.db(rig.dbName).collection('docs').countDocuments();
  if (docs === 0) throw new Error('no documents to copy');
  const totals = new Map(SNAPSHOT_PARALLELISM.map((p) => [p, { copied: 0, seconds: 0, passes: 0, serverCpuSec: 0 }]));
  const cpu = serverCpuMeter(ctx.mongodbPid);
  let pass = 0;
  const minRounds = ctx.quick ? 1 : 3;
  const more = (round: number): boolean => round < minRounds || (round < 20 && [...totals.values()].some((t) => t.seconds * 1000 < ctx.durationMs));
  for (let round = 0; more(round); round++) {
    const order = round % 2 === 0 ? [...SNAPSHOT_PARALLELISM] : [...SNAPSHOT_PARALLELISM].reverse();
    for (const parallelism of order) {
      const total = totals.get(parallelism) as { copied: number; seconds: number; passes: number; serverCpuSec: number };
      pass += 1;
      const before = await rig.acked();
      const cpuBefore = cpu.seconds();
      const started = nowMs();
      const source = rig.source(`bench-snapshot-${pass}`, 'initial', { snapshotParallelism: parallelism });
      source.start();
      await rig.until(async () => (await rig.acked()) - before >= docs, 300_000, `snapshot pass ${pass} in Kafka`);
      total.seconds += (nowMs() - started) / 1000;
      total.copied += docs;
      total.passes += 1;
      const cpuAfter = cpu.seconds();
      if (cpuBefore !== null && cpuAfter !== null) total.serverCpuSec += cpuAfter - cpuBefore;
      await source.stop();
    }
  }
  const figures = new Map<number, BenchFigure>();
  for (const [parallelism, total] of totals) {
    const figure: BenchFigure = {
      eventsPerSec: total.copied / total.seconds,
      events: total.copied,
      seconds: total.seconds,
      rssMiB: rssMiB(),
      note: `snapshotParallelism ${parallelism}: ${total.passes} passes over ${docs} documents, each by a new source (start-up included), alternating with ${SNAPSHOT_PARALLELISM.filter((p) => p !== parallelism).join(', ')}`,
    };
    if (ctx.mongodbPid !== undefined) figure.serverCpuSecPer1k = (total.serverCpuSec * 1000) / total.copied;
    figures.set(parallelism, figure);
  }
  return figures;
}

/**
 * The source catching up on a backlog, as `mongodb watch() catch-up on a backlog` reads one: a source
 * fixes its position (a marker in Kafka) and stops, the backlog is written, then a new instance of the
 * same source resumes from the stored position; events/s from its start to the last Kafka ack, start-up
 * (lease, connections) included. Nothing else runs meanwhile, so this is what the source carries, not
 * how it shares the machine with a writer.
 */
export async function catchUpFigure(ctx: BenchContext, overrides: SourceOverrides = {}): Promise<BenchFigure> {
  const rig = await openRig(ctx);
  try {
    const name = 'bench-catch-up';
    const first = rig.source(name, 'never', overrides);
    first.start();
    await rig.until(streamingOf(rig, name), 60_000, 'the source to stream');
    const coll = rig.client.db(rig.dbName).collection<BacklogDoc>('docs');
    await coll.insertOne({ _id: -1, t: Date.now(), pad: '' });
    await rig.until(async () => (await rig.acked()) >= 1, 60_000, 'the marker in Kafka');
    await first.stop();
    const count = backlogSize(ctx);
    const insertSeconds = await insertBacklog(coll, count, ctx);
    const before = await rig.acked();
    const readsBefore = await rig.reads();
    const cpu = serverCpuMeter(ctx.mongodbPid);
    const started = nowMs();
    let acked = 0;
    let lastAckAt = started;
    const resumed = rig.source(name, 'never', overrides);
    resumed.start();
    await rig.until(
      async () => {
        const now = (await rig.acked()) - before;
        if (now > acked) {
          acked = now;
          lastAckAt = nowMs();
        }
        return acked >= count;
      },
      300_000,
      `the source to catch up on ${count} changes`,
    );
    const seconds = (lastAckAt - started) / 1000;
    const serverCpuSecPer1k = cpu.per1k(count);
    const reads = await rig.reads();
    return {
      eventsPerSec: count / seconds,
      events: count,
      seconds,
      rssMiB: rssMiB(),
      serverCpuSecPer1k,
      note: `${count} documents written first (${insertSeconds.toFixed(1)} s), then read by the source${describeOverrides(overrides)} resuming from its stored position; start-up included; ${describeReads(reads.reads - readsBefore.reads, reads.empty - readsBefore.empty, count)}`,
    };
  } finally {
    await rig.close();
  }
}

/**
 * Issue 20's scenario, beside `mongodb watch() loop, scenario …`: the source streams while a second
 * client writes `scenarioSize` documents in insertMany batches of 1,000; events/s and the server's CPU
 * from the first insert until the last change is acknowledged by Kafka.
 */
export async function scenarioFigure(ctx: BenchContext, overrides: SourceOverrides = {}): Promise<BenchFigure> {
  const rig = await openRig(ctx);
  try {
    const name = 'bench-scenario';
    rig.source(name, 'never', overrides).start();
    await rig.until(streamingOf(rig, name), 60_000, 'the source to stream');
    const coll = rig.client.db(rig.dbName).collection<BacklogDoc>('docs');
    await coll.insertOne({ _id: -1, t: Date.now(), pad: '' });
    await rig.until(async () => (await rig.acked()) >= 1, 60_000, 'the marker in Kafka');
    const count = scenarioSize(ctx);
    const before = await rig.acked();
    const readsBefore = await rig.reads();
    const cpu = serverCpuMeter(ctx.mongodbPid);
    const started = nowMs();
    let lastAckAt = started;
    const writing = insertBacklog(coll, count, ctx);
    let insertSeconds: number | undefined;
    let writeError: unknown;
    void writing.then(
      (s) => (insertSeconds = s),
      (error: unknown) => (writeError = error ?? new Error('the writer failed')),
    );
    await rig.until(
      async () => {
        if (writeError !== undefined) throw writeError;
        const acked = (await rig.acked()) - before;
        lastAckAt = nowMs();
        return acked >= count;
      },
      300_000,
      `the source to acknowledge ${count} changes`,
    );
    const serverCpuSecPer1k = cpu.per1k(count);
    await writing;
    const seconds = (lastAckAt - started) / 1000;
    const reads = await rig.reads();
    const readsNote = describeReads(reads.reads - readsBefore.reads, reads.empty - readsBefore.empty, count);
    return {
      eventsPerSec: count / seconds,
      events: count,
      seconds,
      rssMiB: rssMiB(),
      serverCpuSecPer1k,
      note: `${count} inserts in batches of 1,000 (${(insertSeconds ?? seconds).toFixed(1)} s) while the source streams${describeOverrides(overrides)}; until the last Kafka ack; ${readsNote}`,
    };
  } finally {
    await rig.close();
  }
}

function describeOverrides(overrides: SourceOverrides): string {
  const set = Object.entries(overrides).filter(([, v]) => v !== undefined);
  return set.length === 0 ? '' : ` (${set.map(([k, v]) => `${k} ${String(v)}`).join(', ')})`;
}

/** The snapshot rows' figures, measured together by the first of them. */
let snapshots: Map<number, BenchFigure> | undefined;

function snapshotRow(parallelism: number): BenchFigure {
  const figure = snapshots?.get(parallelism);
  if (!figure) throw new Error('the snapshot rows are measured by "source, initial snapshot", which did not run');
  return figure;
}

/** One rig for both rows when both run: the snapshot copies what the stream figure inserted. */
let shared: Promise<Rig> | undefined;
let streamed = false;

async function rigFor(ctx: BenchContext): Promise<Rig> {
  shared ??= openRig(ctx);
  return shared;
}

async function closeRig(): Promise<void> {
  const rig = await shared;
  shared = undefined;
  streamed = false;
  await rig?.close();
}

export const stages: BenchStage[] = [
  {
    name: 'source, change stream (insert → Kafka ack)',
    kind: 'changeflow',
    limitName: LIMIT.watch,
    async run(ctx) {
      const rig = await rigFor(ctx);
      try {
        const figure = await changeStreamFigure(rig);
        streamed = true;
        return figure;
      } catch (error) {
        await closeRig();
        throw error;
      }
    },
    // Kept open for the snapshot row when it runs next; closed here when it does not (`--only`).
    finish: closeRig,
  },
  {
    name: 'source, scenario: 200k inserts in batches of 1,000 (→ Kafka ack)',
    kind: 'changeflow',
    limitName: LIMIT.watchScenario,
    run: (ctx) => scenarioFigure(ctx),
  },
  {
    name: 'source, change stream catch-up on a backlog (→ Kafka ack)',
    kind: 'changeflow',
    limitName: LIMIT.watchCatchUp,
    run: (ctx) => catchUpFigure(ctx),
  },
  {
    name: 'source, initial snapshot',
    kind: 'changeflow',
    limitName: LIMIT.find,
    async run(ctx) {
      try {
        const rig = await rigFor(ctx);
        if (!streamed) await changeStreamFigure(rig);
        snapshots = await snapshotFigures(rig);
        return snapshotRow(SNAPSHOT_PARALLELISM[0]);
      } finally {
        await closeRig();
      }
    },
  },
  {
    name: `source, initial snapshot, snapshotParallelism ${SNAPSHOT_PARALLELISM[1]}`,
    kind: 'changeflow',
    limitName: LIMIT.find,
    // Measured with the row above, pass by pass in turn with it.
    run: () => Promise.resolve(snapshotRow(SNAPSHOT_PARALLELISM[1])),
  },
];

await runIfMain(import.meta.url, stages);
