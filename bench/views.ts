/**
 * View rows of `npm run bench` (alone: `npm run bench:views`): events/s of a view kept from a change
 * topic with `$match` + `$group` (issue 22), beside the source's change-stream row. One row is the
 * whole path (Kafka → engine → journal, state, target rows, compacted feed → commit), the other the
 * engine alone (decode → apply → row changes, in memory): the CPU cost per change.
 */
import { randomBytes } from 'node:crypto';
import { createKafkaTransport, type IncomingRecord, type OutgoingRecord } from '../core/kafka/index.js';
import { compilePipeline } from '../processors/views/pipeline.js';
import { applyBatch } from '../processors/views/view-batch.js';
import { viewConfigSchema } from '../processors/views/view-config.js';
import { ViewEngine } from '../processors/views/view-engine.js';
import { ViewRuntime } from '../processors/views/view-runtime.js';
import { processorContext } from '../testing/processors/context.js';
import { changeRecord, makeChangeEvent } from '../testing/processors/events.js';
import { PRODUCE_BATCH, PRODUCE_IN_FLIGHT } from './limits.js';
import { stages as sourceStages } from './source.js';
import { runIfMain } from './lib/runner.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { nowMs } from './lib/timing.js';

const SOURCE_ROW = 'source, change stream (insert → Kafka ack)';
/** Documents the changes touch, and the chats (groups) they fall into. */
const DOCUMENTS = 20_000;
const CHATS = 100;
const PIPELINE = [{ $match: { deleted: { $ne: true } } }, { $group: { _id: '$chat', n: { $sum: 1 }, last: { $max: '$seq' } } }];

function unique(prefix: string): string {
  return `bench-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Change event `seq`: an insert of a new document, then updates that move documents between chats, and soft deletes. */
function changeEvent(seq: number): ReturnType<typeof makeChangeEvent> {
  return makeChangeEvent({
    db: 'chat',
    coll: 'messages',
    docId: seq % DOCUMENTS,
    seq,
    op: seq < DOCUMENTS ? 'insert' : 'update',
    fields: { chat: `c${(seq * 7) % CHATS}`, deleted: seq % 10 === 0 },
  });
}

function eventCount(ctx: BenchContext): number {
  return ctx.quick ? 20_000 : 200_000;
}

function figure(events: number, seconds: number, note: string): BenchFigure {
  return { eventsPerSec: seconds > 0 ? events / seconds : 0, mbPerSec: 0, events, seconds, note };
}

async function fullPath(ctx: BenchContext): Promise<BenchFigure> {
  const prefix = unique('v');
  const context = processorContext({ brokers: ctx.kafka, prefix, mongodbUri: ctx.mongodb, client: ctx.client });
  const sourceTopic = `${prefix}.chat.messages`;
  const events = eventCount(ctx);
  const admin = context.kafka.admin();
  await admin.connect();
  await admin.ensureTopics([{ topic: sourceTopic, partitions: ctx.partitions }]);
  await admin.disconnect();
  ctx.trackTopic(sourceTopic);
  ctx.trackTopic(`${prefix}.view.bench`);
  ctx.log(`filling ${sourceTopic} with ${events.toLocaleString()} change events for the view row…`);
  const kafka = createKafkaTransport(ctx.producerClient, { brokers: [ctx.kafka], clientId: 'changeflow-bench' });
  const producer = kafka.producer();
  await producer.connect();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < events; i += PRODUCE_BATCH) {
    const records: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(events, i + PRODUCE_BATCH); j++) records.push(changeRecord(sourceTopic, changeEvent(j)));
    sends.push(producer.send(records));
    if (sends.length >= PRODUCE_IN_FLIGHT) await sends.shift();
  }
  await Promise.all(sends);
  await producer.disconnect();

  const db = prefix.replaceAll('-', '_');
  const view = viewConfigSchema.parse({ name: 'bench', source: { db: 'chat', coll: 'messages' }, pipeline: PIPELINE, target: { db, coll: 'per_chat' } });
  const runtime = new ViewRuntime({ view, sourceTopic, context });
  const started = nowMs();
  const cpu = process.cpuUsage();
  await runtime.start();
  try {
    const deadline = started + Math.max(120_000, ctx.durationMs * 10);
    while (runtime.applied < events && nowMs() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seconds = (nowMs() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const rows = await context.metadata.client.db(db).collection('per_chat').countDocuments({});
    return figure(
      runtime.applied,
      seconds,
      `${CHATS} groups (${rows} rows), ${DOCUMENTS} documents; group join included; CPU ${((used.user + used.system) / 1e6 / seconds).toFixed(2)} cores`,
    );
  } finally {
    await runtime.stop();
    await context.metadata.client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await context.close();
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
  { name: 'view, $match+$group (Kafka → state, target, feed → commit)', kind: 'changeflow', limitName: SOURCE_ROW, run: fullPath },
  { name: 'view, $match+$group engine alone (in memory)', kind: 'changeflow', limitName: SOURCE_ROW, run: (ctx) => Promise.resolve(engineAlone(ctx)) },
];

// Alone, with the source's change-stream row: the rate the view is compared with.
await runIfMain(import.meta.url, [...sourceStages.filter((s) => s.name === SOURCE_ROW), ...stages]);
