/**
 * View rows of `npm run bench` (alone: `npm run bench:views`), issue 22:
 * - events/s of a view kept from change topics with `$match` + `$group`, and with `$lookup` (messages
 *   joined to users, as in the chat demo), beside the source's change-stream row. The full-path rows
 *   are the whole path (Kafka → engine → journal, state, target rows, compacted feed → commit); the
 *   engine-alone row is decode → apply → row changes, in memory: the CPU cost per change.
 * - change → view-feed latency at 1,000 changes/s: a source and a view running (startApp), a writer
 *   thread inserting at that rate, a consumer of the view's feed timing each write's feed record.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { compileConfig } from '../app/config.js';
import { sourcesComponent } from '../app/components.js';
import { startApp } from '../core/app.js';
import { createKafkaTransport, type IncomingRecord, type OutgoingRecord } from '../core/kafka/index.js';
import { createLogger } from '../core/logger.js';
import { compilePipeline } from '../processors/views/pipeline.js';
import { applyBatch } from '../processors/views/view-batch.js';
import { viewConfigSchema } from '../processors/views/view-config.js';
import { ViewEngine } from '../processors/views/view-engine.js';
import { ViewRuntime } from '../processors/views/view-runtime.js';
import { viewsComponent } from '../processors/views/views-component.js';
import { EJSON } from '../schemas/bson.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { processorContext } from '../testing/processors/context.js';
import { changeRecord, makeChangeEvent } from '../testing/processors/events.js';
import { LIMIT, PRODUCE_BATCH, PRODUCE_IN_FLIGHT } from './limits.js';
import { stages as sourceStages } from './source.js';
import { runRateWriter, wallClock } from './lib/rate-writer.js';
import { runIfMain } from './lib/runner.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { LatencySamples, nowMs, rssMiB } from './lib/timing.js';

const SOURCE_ROW = 'source, change stream (insert → Kafka ack)';
/** Documents the changes touch, and the chats (groups) they fall into. */
const DOCUMENTS = 20_000;
const CHATS = 100;
const PIPELINE = [{ $match: { deleted: { $ne: true } } }, { $group: { _id: '$chat', n: { $sum: 1 }, last: { $max: '$seq' } } }];
/** Senders of the `$lookup` row: DOCUMENTS / USERS messages each; one user renamed per RENAME_EVERY message changes. */
const USERS = 1_000;
const RENAME_EVERY = 100;
/** The chat demo's "messages with sender names" (cli/demo/chat.ts). */
const LOOKUP_PIPELINE = [
  { $match: { deleted: { $ne: true } } },
  { $lookup: { from: 'users', localField: 'sender', foreignField: '_id', as: 'from' } },
  { $project: { chat: 1, sender: { $arrayElemAt: ['$from.name', 0] } } },
];
/** The latency row's view: one row per document (its feed record names the write that caused it), the pad left out. */
const LATENCY_PIPELINE = [{ $match: { deleted: { $ne: true } } }, { $project: { seq: 1, writtenAt: 1 } }];
const LATENCY_RATE = 1_000;
/** Writes at the offered rate before the measured ones (as bench/e2e.ts). */
const LATENCY_WARMUP_MS = 3_000;

function unique(prefix: string): string {
  return `bench-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Change event `seq`: an insert of a new document, then updates that move documents between chats, and soft deletes. */
function changeEvent(seq: number): ChangeEvent {
  return makeChangeEvent({
    db: 'chat',
    coll: 'messages',
    docId: seq % DOCUMENTS,
    seq,
    op: seq < DOCUMENTS ? 'insert' : 'update',
    fields: { chat: `c${(seq * 7) % CHATS}`, deleted: seq % 10 === 0 },
  });
}

/** The same change with a `sender` for the `$lookup` row; it stays the same for a document (seq ≡ docId mod USERS). */
function messageEvent(seq: number): ChangeEvent {
  const event = changeEvent(seq);
  if (event.fullDocument) event.fullDocument['sender'] = `u${seq % USERS}`;
  return event;
}

/** Change event `seq` of the users collection: USERS inserts, then renames (each updates every message joined to that user). */
function userEvent(seq: number): ChangeEvent {
  return makeChangeEvent({
    db: 'chat',
    coll: 'users',
    docId: `u${seq % USERS}`,
    seq,
    op: seq < USERS ? 'insert' : 'update',
    fields: { name: `user ${seq % USERS} (${Math.floor(seq / USERS)})` },
  });
}

function eventCount(ctx: BenchContext): number {
  return ctx.quick ? 20_000 : 200_000;
}

function figure(events: number, seconds: number, note: string): BenchFigure {
  return { eventsPerSec: seconds > 0 ? events / seconds : 0, mbPerSec: 0, events, seconds, note };
}

/** A topic filled with `count` change events before a view reads it. */
interface FilledTopic {
  coll: string;
  count: number;
  event(seq: number): ChangeEvent;
}

async function fillTopics(ctx: BenchContext, prefix: string, topics: readonly FilledTopic[]): Promise<void> {
  const admin = createKafkaTransport(ctx.producerClient, { brokers: [ctx.kafka], clientId: 'changeflow-bench' }).admin();
  await admin.connect();
  await admin.ensureTopics(topics.map((t) => ({ topic: `${prefix}.chat.${t.coll}`, partitions: ctx.partitions })));
  await admin.disconnect();
  const kafka = createKafkaTransport(ctx.producerClient, { brokers: [ctx.kafka], clientId: 'changeflow-bench' });
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (const { coll, count, event } of topics) {
      const topic = `${prefix}.chat.${coll}`;
      ctx.trackTopic(topic);
      ctx.log(`filling ${topic} with ${count.toLocaleString()} change events for the view row…`);
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < count; i += PRODUCE_BATCH) {
        const records: OutgoingRecord[] = [];
        for (let j = i; j < Math.min(count, i + PRODUCE_BATCH); j++) records.push(changeRecord(topic, event(j)));
        sends.push(producer.send(records));
        if (sends.length >= PRODUCE_IN_FLIGHT) await sends.shift();
      }
      await Promise.all(sends);
    }
  } finally {
    await producer.disconnect();
  }
}

/**
 * The whole path: `source` (and, for a `$lookup`, `foreign`) filled first, then a ViewRuntime reads
 * them from the start; events/s = records applied (both topics) / time until all are.
 */
async function fullPath(
  ctx: BenchContext,
  pipeline: Record<string, unknown>[],
  source: FilledTopic,
  foreign: FilledTopic | undefined,
  describe: (rows: number) => string,
): Promise<BenchFigure> {
  const prefix = unique('v');
  const context = processorContext({ brokers: ctx.kafka, prefix, mongodbUri: ctx.mongodb, client: ctx.client });
  const events = source.count + (foreign?.count ?? 0);
  await fillTopics(ctx, prefix, foreign ? [source, foreign] : [source]);
  ctx.trackTopic(`${prefix}.view.bench`);

  const db = prefix.replaceAll('-', '_');
  const view = viewConfigSchema.parse({ name: 'bench', source: { db: 'chat', coll: source.coll }, pipeline, target: { db, coll: 'rows' } });
  const runtime = new ViewRuntime({
    view,
    sourceTopic: `${prefix}.chat.${source.coll}`,
    ...(foreign ? { foreignTopic: `${prefix}.chat.${foreign.coll}` } : {}),
    context,
  });
  const started = nowMs();
  const cpu = process.cpuUsage();
  await runtime.start();
  try {
    const deadline = started + Math.max(120_000, ctx.durationMs * 10);
    while (runtime.applied < events && nowMs() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seconds = (nowMs() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const rows = await context.metadata.client.db(db).collection('rows').countDocuments({});
    return figure(runtime.applied, seconds, `${describe(rows)}; CPU ${((used.user + used.system) / 1e6 / seconds).toFixed(2)} cores`);
  } finally {
    await runtime.stop();
    await context.metadata.client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await context.close();
  }
}

function groupPath(ctx: BenchContext): Promise<BenchFigure> {
  return fullPath(
    ctx,
    PIPELINE,
    { coll: 'messages', count: eventCount(ctx), event: changeEvent },
    undefined,
    (rows) => `${CHATS} groups (${rows} rows), ${DOCUMENTS} documents; group join included`,
  );
}

function lookupPath(ctx: BenchContext): Promise<BenchFigure> {
  const messages = eventCount(ctx);
  const users = USERS + Math.floor(messages / RENAME_EVERY);
  return fullPath(
    ctx,
    LOOKUP_PIPELINE,
    { coll: 'messages', count: messages, event: messageEvent },
    { coll: 'users', count: users, event: userEvent },
    (rows) =>
      `${messages.toLocaleString('en-US')} message + ${users.toLocaleString('en-US')} user changes (${USERS} inserts, then renames), both topics read at once; ${DOCUMENTS} messages (${rows} rows), ${DOCUMENTS / USERS} per user: a rename rewrites the joined rows read so far`,
  );
}

/** A write's document and the feed row it makes (LATENCY_PIPELINE keeps seq and writtenAt). */
interface LatencyRow {
  seq?: unknown;
  writtenAt?: unknown;
}

/**
 * Change → view-feed latency: a source watching a collection and a view of it in one startApp (as
 * the service runs them), a writer thread inserting `{ _id: d<i>, seq: i, writtenAt, pad }` at
 * LATENCY_RATE/s (after LATENCY_WARMUP_MS at that rate), and a consumer of `<prefix>.view.<name>`
 * noting when each seq's feed record arrived. The feed consumer is one more Kafka client on the
 * same cores: it adds to what it measures, as e2e's side consumer does.
 */
async function feedLatency(ctx: BenchContext): Promise<BenchFigure> {
  const name = unique('vl');
  const db = name.replaceAll('-', '_');
  const config = compileConfig(
    {
      kafka: { brokers: [ctx.kafka], client: ctx.client, producerClient: ctx.producerClient, partitions: ctx.partitions },
      mongodb: { uri: ctx.mongodb, db: `${db}_meta` },
      http: { port: 0 },
      sources: [{ name, uri: ctx.mongodb, watch: { db, coll: 'messages' } }],
      views: [{ name, source: { db, coll: 'messages' }, pipeline: LATENCY_PIPELINE, target: { db: `${db}_views`, coll: 'rows' } }],
    },
    {},
  );
  const feedTopic = `${config.kafka.topicPrefix}.view.${name}`;
  ctx.trackTopic(`${config.kafka.topicPrefix}.${db}.messages`);
  ctx.trackTopic(feedTopic);
  const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', destination: pino.destination(2) });
  const app = await startApp(config, [sourcesComponent, viewsComponent], { logger });
  const arrivals = new Map<number, { at: number; writtenAt: number }>();
  let seen = 0;
  const feed = createKafkaTransport(ctx.client, { brokers: [ctx.kafka], clientId: 'changeflow-bench-feed' }).consumer({
    groupId: `${name}-feed`,
    fromBeginning: true,
  });
  const client = new MongoClient(ctx.mongodb);
  try {
    await feed.connect();
    await feed.subscribe([feedTopic]);
    await feed.run((batch) => {
      const at = wallClock();
      for (const record of batch.records) {
        seen++;
        const event = JSON.parse(record.value?.toString() ?? '{}') as { fullDocument?: Record<string, unknown> };
        if (!event.fullDocument) continue;
        const row = EJSON.deserialize(event.fullDocument, { relaxed: true }) as LatencyRow;
        if (typeof row.seq === 'number' && typeof row.writtenAt === 'number' && row.seq >= 0 && !arrivals.has(row.seq))
          arrivals.set(row.seq, { at, writtenAt: row.writtenAt });
      }
      return Promise.resolve();
    });
    await client.connect();
    // The source's change stream and the consumers start asynchronously: documents until one reaches the feed.
    const messages = client.db(db).collection<{ _id: string; seq: number; writtenAt: number }>('messages');
    const deadline = Date.now() + 90_000;
    for (let warm = 1; seen === 0; warm++) {
      if (Date.now() > deadline) throw new Error('the view published no feed record within 90 s');
      await messages.insertOne({ _id: `warm${warm}`, seq: -warm, writtenAt: wallClock() });
      await new Promise((r) => setTimeout(r, 500));
    }
    const { sent, seconds } = await runRateWriter({
      uri: ctx.mongodb,
      db,
      coll: 'messages',
      ratePerSec: LATENCY_RATE,
      warmupMs: ctx.quick ? 500 : LATENCY_WARMUP_MS,
      durationMs: ctx.durationMs,
      pad: 'x'.repeat(Math.max(0, ctx.messageBytes - 70)),
    });
    const until = Date.now() + 60_000;
    while (arrivals.size < sent && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (arrivals.size < sent) throw new Error(`${sent - arrivals.size} of ${sent} writes had no feed record within 60 s`);
    const latency = new LatencySamples();
    const bySecond: LatencySamples[] = [];
    let max = 0;
    for (const [seq, { at, writtenAt }] of arrivals) {
      const ms = at - writtenAt;
      latency.add(ms);
      max = Math.max(max, ms);
      (bySecond[Math.floor(seq / LATENCY_RATE)] ??= new LatencySamples()).add(ms);
    }
    const perSecond = Array.from(bySecond, (samples) => Math.round(samples?.percentile(99) ?? Number.NaN));
    return {
      eventsPerSec: sent / seconds,
      p50Ms: latency.percentile(50) ?? 0,
      p99Ms: latency.percentile(99) ?? 0,
      events: sent,
      seconds,
      rssMiB: rssMiB(),
      note: `offered ${LATENCY_RATE}/s after ${(ctx.quick ? 500 : LATENCY_WARMUP_MS) / 1000} s at that rate; insert → source → Kafka → view (journal, state, target, feed) → feed consumer; pipeline $match + $project (a row per document); max ${max.toFixed(0)} ms; p99 per second ${perSecond.join(' ')}`,
    };
  } finally {
    await feed.disconnect().catch(() => undefined);
    await app.stop();
    for (const dropped of [db, `${db}_views`, `${db}_meta`])
      await client
        .db(dropped)
        .dropDatabase()
        .catch(() => undefined);
    await client.close();
  }
}

function engineAlone(ctx: BenchContext): BenchFigure {
  const engine = new ViewEngine(compilePipeline(PIPELINE));
  const events = eventCount(ctx);
  const records: IncomingRecord[] = Array.from({ length: events }, (_, i) => {
    const r = changeRecord('t', changeEvent(i));
    return { topic: 't', partition: 0, offset: String(i), key: Buffer.from(String(r.key)), value: Buffer.from(String(r.value)), headers: {}, timestamp: 0 };
  });
  const started = nowMs();
  for (let i = 0; i < records.length; i += 500)
    applyBatch(engine, records.slice(i, i + 500), new Map(), { view: 'bench', topic: 'feed', target: { db: 'd', coll: 'c' } });
  return figure(events, (nowMs() - started) / 1000, `decode → apply → row changes and feed records, batches of 500; ${CHATS} groups`);
}

export const stages: BenchStage[] = [
  { name: 'view, $match+$group (Kafka → state, target, feed → commit)', kind: 'changeflow', limitName: SOURCE_ROW, run: groupPath },
  { name: 'view, $match+$group engine alone (in memory)', kind: 'changeflow', limitName: SOURCE_ROW, run: (ctx) => Promise.resolve(engineAlone(ctx)) },
  { name: 'view, $match+$lookup+$project (Kafka → state, target, feed → commit)', kind: 'changeflow', limitName: SOURCE_ROW, run: lookupPath },
  {
    name: 'view, change → view feed latency @1000/s (insert → source → view → feed consumer)',
    kind: 'changeflow',
    limitName: (ctx) => LIMIT.roundTrip(ctx.client),
    run: feedLatency,
  },
];

// Alone, with the rows they are compared with: the source's change-stream row (rates) and Kafka's produce→consume latency.
await runIfMain(import.meta.url, [...sourceStages.filter((s) => s.name === SOURCE_ROW), ...stages]);
