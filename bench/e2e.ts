/**
 * End-to-end benchmark (`npm run bench:e2e`): a pass-through sync A → B through the whole service —
 * write in MongoDB A → source (change stream) → Kafka → processor → MongoDB sink → B — in this
 * process (startApp with a compiled config), against KAFKA_BROKERS / MONGODB_URI or a local set it
 * starts. Two figures with 1 KiB documents:
 *   (a) latency at a fixed offered rate (default 1,000 writes/s for 10 s): each document carries its
 *       write time; a change stream on B sees it arrive; p50/p99 of arrival − write, per document;
 *       (`--split`: again with a side consumer timing when each change reached Kafka, to split the path);
 *   (b) saturation: N documents bulk-inserted into A at once; events/s = N / time until all are in B.
 * Prints a table and one JSON line. Also exported as `stages` for `npm run bench`.
 * Slightly past ~450 lines: the two figures share their setup (servers, config, the timing change
 * stream on B) and are read together.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient, type ChangeStream, type Collection } from 'mongodb';
import { pino } from 'pino';
import { z } from 'zod';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { createLogger } from '../core/logger.js';
import { createKafkaTransport } from '../core/kafka/index.js';
import type { Consumer } from '../core/kafka/transport.js';
import { processorComponent, sourcesComponent } from '../app/components.js';
import { LIMIT } from './limits.js';
import { followChanges } from './lib/follow-changes.js';
import { runRateWriter, wallClock } from './lib/rate-writer.js';
import { openBenchContext } from './lib/context.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { LatencySamples, nowMs, rssMiB } from './lib/timing.js';

/** Wall-clock milliseconds with sub-millisecond resolution (writes are stamped on the writer's thread, arrivals here). */
const clock = wallClock;

interface BenchDoc {
  _id: string;
  seq: number;
  /** `clock()` just before the insert was sent. */
  writtenAt: number;
  pad: string;
}

/** A running A → B sync: the service, the two collections and a change stream on B recording arrivals. */
interface SyncPipeline {
  source: Collection<BenchDoc>;
  target: Collection<BenchDoc>;
  /** seq → arrival time in B (first arrival). */
  arrivals: Map<number, number>;
  /**
   * seq → when the source handed the change to its Kafka client (the record's CreateTime) and when a
   * side consumer of the change topic (the processor's client, own group) received it.
   */
  inKafka: Map<number, { createdAt: number; fetchedAt: number }>;
  /** Change events the source has had acknowledged by Kafka so far (its own metric). */
  published(): Promise<number>;
  /** Resolves when every seq in [from, to) arrived, or rejects after `timeoutMs` naming how many are missing. */
  allArrived(from: number, to: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

function padFor(bytes: number): string {
  // _id, seq, writtenAt and the BSON framing take about 70 bytes.
  return randomBytes(Math.ceil(bytes * 0.75))
    .toString('base64')
    .slice(0, Math.max(0, bytes - 70));
}

/**
 * `split`: also run a side consumer of the change topic (own group, same client) that records when each
 * change reached Kafka and was fetched. It splits the latency into parts, but it is one more consumer
 * on the same two cores: it adds to the latency it measures (about 2× the p50 here), so the headline
 * figure runs without it.
 */
async function startPipeline(ctx: BenchContext, label: string, split = false): Promise<SyncPipeline> {
  const name = unique(`e2e-${label}`);
  const dbA = `${name}_a`;
  const dbB = `${name}_b`;
  const meta = `${name}_meta`;
  const trigger = `${name}-sync`;
  const config = compileConfig(
    {
      kafka: { brokers: [ctx.kafka], client: ctx.client, producerClient: ctx.producerClient, partitions: ctx.partitions },
      mongodb: { uri: ctx.mongodb, db: meta },
      http: { port: 0 },
      sources: [{ name, uri: ctx.mongodb, watch: { db: dbA, coll: 'docs' } }],
      triggers: [
        { name: trigger, source: { db: dbA, coll: 'docs' }, sinks: [{ name: 'b', kind: 'mongodb', uri: ctx.mongodb, db: dbB, stateDb: `${name}_sync` }] },
      ],
    },
    {},
  );
  ctx.trackTopic(`${config.kafka.topicPrefix}.${dbA}.docs`);
  const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', destination: pino.destination(2) });
  const app: RunningApp = await startApp(config, [sourcesComponent, processorComponent()], { logger });
  const client = new MongoClient(ctx.mongodb, { maxPoolSize: 50 });
  await client.connect();
  const source = client.db(dbA).collection<BenchDoc>('docs');
  const target = client.db(dbB).collection<BenchDoc>('docs');

  const arrivals = new Map<number, number>();
  const watcher = new MongoClient(ctx.mongodb);
  await watcher.connect();
  // A short await: a real server holds an empty getMore for it, which would add to every arrival.
  const stream: ChangeStream = watcher.db(dbB).collection('docs').watch([], { batchSize: 1000, maxAwaitTimeMS: 20 });
  const follower = followChanges(
    stream,
    (change) => {
      const at = clock();
      // mongo-java-server puts a replacement's new document in documentKey; a real server in fullDocument.
      const doc = (change['fullDocument'] ?? change['documentKey']) as Partial<BenchDoc> | undefined;
      if (typeof doc?.seq === 'number' && !arrivals.has(doc.seq)) arrivals.set(doc.seq, at);
    },
    (error) => ctx.log(`change stream on B failed: ${(error as Error).message}`),
  );

  // The side consumer splits the path in two: writer → Kafka (source) and Kafka → B (processor + sink).
  const inKafka = new Map<number, { createdAt: number; fetchedAt: number }>();
  const changeTopic = `${config.kafka.topicPrefix}.${dbA}.docs`;
  const side: Consumer | undefined = split
    ? createKafkaTransport(ctx.client, { brokers: [ctx.kafka], clientId: 'changeflow-bench-side' }).consumer({ groupId: `${name}-side`, fromBeginning: true })
    : undefined;
  if (side) {
    await side.connect();
    await side.subscribe([changeTopic]);
    await side.run(async (batch) => {
      const at = clock();
      for (const record of batch.records) {
        // The key is the canonical documentKey: {"_id":"d<seq>"}.
        const id = (JSON.parse(record.key?.toString() ?? '{}') as { _id?: unknown })._id;
        const seq = typeof id === 'string' && id.startsWith('d') ? Number(id.slice(1)) : Number.NaN;
        if (Number.isInteger(seq) && !inKafka.has(seq)) inKafka.set(seq, { createdAt: record.timestamp, fetchedAt: at });
      }
    });
  }

  const pipeline: SyncPipeline = {
    source,
    target,
    arrivals,
    inKafka,
    async published() {
      const metric = await app.context.metrics.getSingleMetric('changeflow_source_events_total')?.get();
      return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    },
    async allArrived(from, to, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const missing = (): number => {
        let n = 0;
        for (let seq = from; seq < to; seq++) if (!arrivals.has(seq)) n++;
        return n;
      };
      let left = missing();
      while (left > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        left = missing();
      }
      if (left > 0) throw new Error(`${left} of ${to - from} documents did not arrive in B within ${timeoutMs / 1000} s`);
      return to - from;
    },
    async close() {
      await follower.stop();
      await side?.disconnect().catch(() => undefined);
      await app.stop();
      for (const db of [dbA, dbB, meta, `${name}_sync`])
        await client
          .db(db)
          .dropDatabase()
          .catch(() => undefined);
      await Promise.all([client.close(), watcher.close()]);
    },
  };

  // Warm-up: documents through the whole path until one arrives (the source's stream and B's watch open
  // asynchronously, so the first ones may be missed; neither counts).
  const deadline = Date.now() + 90_000;
  for (let warm = 1; arrivals.size === 0; warm++) {
    if (Date.now() > deadline) {
      await pipeline.close();
      throw new Error('the pipeline delivered no document to B within 90 s');
    }
    await source.insertOne({ _id: `warm${warm}`, seq: -warm, writtenAt: clock(), pad: '' });
    await new Promise((r) => setTimeout(r, 500));
  }
  return pipeline;
}

/** p50 / p99 of one part of the path, ms. */
export interface SegmentLatency {
  p50Ms: number;
  p99Ms: number;
}

export interface FixedRateResult {
  offeredPerSec: number;
  events: number;
  seconds: number;
  achievedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * The path split by timestamps (ms clock): write in A → record CreateTime (source: change stream read,
   * encoding, wait for the client), → a side consumer received it (Kafka ack + fetch), → arrival in B
   * (the processor's batching, function and sink write, and B's own change stream).
   */
  segments?: { toKafkaClient: SegmentLatency; toConsumer: SegmentLatency; toB: SegmentLatency };
  /** p99 of the documents written in each second of the run, ms: shows whether the tail is steady or one spike. */
  p99PerSecondMs: number[];
}

function segment(samples: LatencySamples): SegmentLatency {
  return { p50Ms: samples.percentile(50) ?? Number.NaN, p99Ms: samples.percentile(99) ?? Number.NaN };
}

function segmentsText(s: FixedRateResult['segments']): string {
  if (!s) return 'not split (no side consumer)';
  const part = (label: string, x: SegmentLatency) => `${label} ${x.p50Ms.toFixed(0)}/${x.p99Ms.toFixed(0)}`;
  return `p50/p99 ms: ${part('write→source send', s.toKafkaClient)}, ${part('→consumer', s.toConsumer)}, ${part('→B', s.toB)}`;
}

/** Writes at the offered rate before the measured ones (see measureFixedRate). */
const FIXED_RATE_WARMUP_MS = 3_000;

/**
 * (a) Writes at `rate`/s for `durationMs` (after a warm-up at the same rate), one insert each, and
 * measures write → arrival in B per document.
 */
export async function measureFixedRate(ctx: BenchContext, rate: number, split = false): Promise<FixedRateResult> {
  const pipeline = await startPipeline(ctx, 'rate', split);
  try {
    const pad = padFor(ctx.messageBytes);
    // The same load for a few seconds first, not counted: the figure is the steady state, not the
    // first seconds of a cold path (JIT, connection pools, the consumer's first fetches).
    const warmupMs = ctx.quick ? 500 : FIXED_RATE_WARMUP_MS;
    const { sent, seconds } = await runRateWriter({
      uri: ctx.mongodb,
      db: pipeline.source.dbName,
      coll: pipeline.source.collectionName,
      ratePerSec: rate,
      warmupMs,
      durationMs: ctx.durationMs,
      pad,
    });
    await pipeline.allArrived(0, sent, 60_000);
    const latency = new LatencySamples();
    const toKafkaClient = new LatencySamples();
    const toConsumer = new LatencySamples();
    const toB = new LatencySamples();
    const docs = pipeline.source.find({ seq: { $gte: 0 } }, { projection: { seq: 1, writtenAt: 1 } });
    let max = 0;
    const bySecond: LatencySamples[] = [];
    for await (const doc of docs) {
      const arrived = pipeline.arrivals.get(doc.seq) ?? Number.NaN;
      const ms = arrived - doc.writtenAt;
      latency.add(ms);
      max = Math.max(max, ms);
      (bySecond[Math.floor(doc.seq / rate)] ??= new LatencySamples()).add(ms);
      const kafka = pipeline.inKafka.get(doc.seq);
      if (kafka) {
        toKafkaClient.add(kafka.createdAt - doc.writtenAt);
        toConsumer.add(kafka.fetchedAt - kafka.createdAt);
        toB.add(arrived - kafka.fetchedAt);
      }
    }
    if (latency.count !== sent) throw new Error(`read back ${latency.count} of ${sent} written documents from A`);
    return {
      offeredPerSec: rate,
      events: sent,
      seconds,
      achievedPerSec: sent / seconds,
      p50Ms: latency.percentile(50) ?? 0,
      p99Ms: latency.percentile(99) ?? 0,
      maxMs: max,
      ...(split ? { segments: { toKafkaClient: segment(toKafkaClient), toConsumer: segment(toConsumer), toB: segment(toB) } } : {}),
      p99PerSecondMs: Array.from(bySecond, (samples) => Math.round(samples?.percentile(99) ?? Number.NaN)),
    };
  } finally {
    await pipeline.close();
  }
}

export interface SaturationResult {
  events: number;
  /** From the first insert until the last document arrived in B. */
  seconds: number;
  eventsPerSec: number;
  /** How long the bulk inserts into A took (the writer's own rate). */
  insertSeconds: number;
  /** When the source had published every document to Kafka (from its metric): the rest is processor + sink. */
  sourceSeconds: number;
}

/** (b) Bulk-inserts `docs` documents into A as fast as the server takes them; events/s until all are in B. */
export async function measureSaturation(ctx: BenchContext, docs: number): Promise<SaturationResult> {
  const pipeline = await startPipeline(ctx, 'sat');
  try {
    const pad = padFor(ctx.messageBytes);
    const before = await pipeline.published();
    const started = nowMs();
    let sourceSeconds = Number.NaN;
    const watchSource = (async () => {
      while (Number.isNaN(sourceSeconds) && nowMs() - started < 300_000) {
        if ((await pipeline.published()) - before >= docs) sourceSeconds = (nowMs() - started) / 1000;
        else await new Promise((r) => setTimeout(r, 20));
      }
    })();
    for (let i = 0; i < docs; i += 1_000) {
      const writtenAt = clock();
      const chunk = Array.from({ length: Math.min(1_000, docs - i) }, (_, j) => ({ _id: `d${i + j}`, seq: i + j, writtenAt, pad }));
      await pipeline.source.insertMany(chunk, { ordered: false });
    }
    const insertSeconds = (nowMs() - started) / 1000;
    await pipeline.allArrived(0, docs, 300_000);
    const seconds = (nowMs() - started) / 1000;
    await watchSource;
    return { events: docs, seconds, eventsPerSec: docs / seconds, insertSeconds, sourceSeconds };
  } finally {
    await pipeline.close();
  }
}

/** Documents for the first saturation run: enough for about `durationMs` at a few thousand per second. */
function saturationDocs(ctx: BenchContext): number {
  return ctx.quick ? 2_000 : Math.max(5_000, Math.round((ctx.durationMs / 1000) * 2_000));
}

/**
 * The saturation figure over at least `durationMs` (issue 8: each figure runs ≥ 10 s): when the first
 * run ends before 80 % of it (a fast host), it runs once more, sized by the rate the first one measured.
 * A short run weighs the pipeline's fixed start and end (first getMore, last batch, B's watcher) too much.
 */
async function measureSaturationSized(ctx: BenchContext, docs?: number): Promise<SaturationResult> {
  const first = await measureSaturation(ctx, docs ?? saturationDocs(ctx));
  if (docs !== undefined || ctx.quick || first.seconds >= (0.8 * ctx.durationMs) / 1000) return first;
  return measureSaturation(ctx, Math.ceil((first.eventsPerSec * ctx.durationMs * 1.1) / 1000));
}

/**
 * The rows of the path's parts, measured alone in the same run: saturation is compared with the slowest
 * (issue 8: end to end ≥ 0.5 × the slower of its parts). When run alone (`npm run bench:e2e`), the
 * ratio is left out: those rows do not run.
 */
const E2E_PARTS = ['source, change stream (insert → Kafka ack)', 'processor: no function → no-op sink', 'sink: mongodb, pass-through inserts'] as const;

function fixedRateStage(name: string, split: boolean): BenchStage {
  return {
    name,
    kind: 'changeflow',
    limitName: (ctx) => LIMIT.roundTrip(ctx.client),
    async run(ctx): Promise<BenchFigure> {
      const r = await measureFixedRate(ctx, 1_000, split);
      return {
        eventsPerSec: r.achievedPerSec,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        events: r.events,
        seconds: r.seconds,
        rssMiB: rssMiB(),
        note: `offered 1000/s after ${FIXED_RATE_WARMUP_MS / 1000} s at that rate; write in A → arrival in B; max ${r.maxMs.toFixed(0)} ms; ${segmentsText(r.segments)}; p99 per second ${r.p99PerSecondMs.join(' ')}`,
      };
    },
  };
}

/** Rows for `npm run bench` (bench/run.ts). */
export const stages: BenchStage[] = [
  fixedRateStage('e2e sync A→B (source→Kafka→processor→mongodb sink) @1000/s', false),
  fixedRateStage('e2e sync A→B @1000/s, split by a side consumer (one more consumer: slower)', true),
  {
    name: 'e2e sync A→B, saturation (bulk insert, until all in B)',
    kind: 'changeflow',
    limitName: E2E_PARTS,
    async run(ctx): Promise<BenchFigure> {
      const r = await measureSaturationSized(ctx);
      return {
        eventsPerSec: r.eventsPerSec,
        events: r.events,
        seconds: r.seconds,
        rssMiB: rssMiB(),
        note: `bulk insert ${r.insertSeconds.toFixed(1)} s; all in Kafka after ${r.sourceSeconds.toFixed(1)} s`,
      };
    },
  },
];

const argsSchema = z.object({
  rate: z.coerce
    .number({ error: '--rate: writes per second, e.g. --rate 1000' })
    .positive({ error: '--rate: more than 0' })
    .max(50_000, { error: '--rate: at most 50000' }),
  seconds: z.coerce.number({ error: '--seconds: e.g. --seconds 10' }).positive({ error: '--seconds: more than 0' }).optional(),
  docs: z.coerce.number().int({ error: '--docs: a whole number, e.g. --docs 20000' }).positive({ error: '--docs: at least 1' }).optional(),
  size: z.coerce
    .number()
    .int({ error: '--size: bytes, e.g. --size 1024' })
    .min(128, { error: '--size: at least 128 bytes' })
    .max(1_000_000, { error: '--size: at most 1000000' }),
  partitions: z.coerce.number().int().min(1, { error: '--partitions: at least 1' }).max(64, { error: '--partitions: at most 64' }),
  client: z.enum(['kafkajs', 'librdkafka'], { error: '--client: kafkajs or librdkafka' }).optional(),
  quick: z.boolean(),
  split: z.boolean(),
});

const USAGE = `npm run bench:e2e -- [--rate N] [--seconds S] [--docs N] [--size BYTES] [--partitions N] [--client kafkajs|librdkafka] [--split] [--quick]
  --rate        offered writes/s for the latency figure (default 1000)
  --seconds     how long the fixed-rate figure runs (default 10; --quick: 1.5)
  --docs        documents for the saturation figure (default: 2000 per second of --seconds, at least 5000, run again
                sized by the measured rate when that ends before 80 % of --seconds; --quick: 2000)
  --size        document size in bytes (default 1024)
  --partitions  partitions of the source topic (default 3)
  --client      Kafka client of the service (default: the product defaults, kafkajs to consume and librdkafka
                to produce when it is built)
  --split       also run the fixed-rate figure with a side consumer that splits the latency into parts
                (write → source send → consumer → B); the extra consumer adds to what it measures
  --quick       a smoke run in seconds (figures not meaningful)
Servers: KAFKA_BROKERS / MONGODB_URI when set, else a local set started for the run.`;

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '1000' },
      seconds: { type: 'string' },
      docs: { type: 'string' },
      size: { type: 'string', default: '1024' },
      partitions: { type: 'string', default: '3' },
      client: { type: 'string' },
      quick: { type: 'boolean', default: false },
      split: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) throw new Error(`${parsed.error.issues.map((i) => i.message).join('\n')}\n\n${USAGE}`);
  const args = parsed.data;
  const log = (line: string): void => void process.stderr.write(`[bench:e2e] ${line}\n`);
  const opened = await openBenchContext(
    { quick: args.quick, size: args.size, seconds: args.seconds, partitions: args.partitions, ...(args.client ? { client: args.client } : {}) },
    log,
  );
  const { ctx } = opened;
  try {
    log(
      `kafka ${ctx.kafka}, mongodb ${ctx.mongodb}; ${ctx.messageBytes} B documents, ${ctx.partitions} partitions, ${ctx.client}${ctx.producerClient === ctx.client ? '' : ` (producing on ${ctx.producerClient})`}${ctx.quick ? ' (quick: figures not meaningful)' : ''}`,
    );
    log(`(a) ${args.rate}/s for ${ctx.durationMs / 1000} s`);
    const fixed = await measureFixedRate(ctx, args.rate);
    if (args.split) log(`(a') ${args.rate}/s for ${ctx.durationMs / 1000} s, with a side consumer splitting the path`);
    const split = args.split ? await measureFixedRate(ctx, args.rate, true) : undefined;
    log(`(b) ${args.docs ?? `${saturationDocs(ctx)} (then sized to ≥ ${(0.8 * ctx.durationMs) / 1000} s)`} documents bulk-inserted`);
    const saturation = await measureSaturationSized(ctx, args.docs);
    const rows = [
      ['measure', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'events', 's'],
      [
        `fixed rate, offered ${fmt(args.rate)}/s (write in A → arrival in B)`,
        fmt(fixed.achievedPerSec),
        fmt(fixed.p50Ms, 1),
        fmt(fixed.p99Ms, 1),
        fmt(fixed.maxMs, 0),
        fmt(fixed.events),
        fmt(fixed.seconds, 1),
      ],
      ...(split
        ? [
            [
              `fixed rate, same, with the side consumer`,
              fmt(split.achievedPerSec),
              fmt(split.p50Ms, 1),
              fmt(split.p99Ms, 1),
              fmt(split.maxMs, 0),
              fmt(split.events),
              fmt(split.seconds, 1),
            ],
          ]
        : []),
      [
        `saturation: bulk insert, until all in B (insert ${fmt(saturation.insertSeconds, 1)} s, all in Kafka after ${fmt(saturation.sourceSeconds, 1)} s)`,
        fmt(saturation.eventsPerSec),
        '',
        '',
        '',
        fmt(saturation.events),
        fmt(saturation.seconds, 1),
      ],
    ];
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    for (const r of rows) console.log(`| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`);
    console.log(`fixed rate, p99 ms of each second's writes: ${fixed.p99PerSecondMs.join(' ')}`);
    if (split) console.log(`fixed rate with the side consumer, ${segmentsText(split.segments)}`);
    console.log(
      JSON.stringify({
        bench: 'e2e',
        path: 'mongodb A → source → kafka → processor → mongodb sink → B (pass-through)',
        documentBytes: ctx.messageBytes,
        partitions: ctx.partitions,
        client: ctx.client,
        producerClient: ctx.producerClient,
        quick: ctx.quick,
        fixedRate: fixed,
        ...(split ? { fixedRateSplit: split } : {}),
        saturation,
      }),
    );
  } finally {
    await opened.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
