/**
 * Processor rows of `npm run bench` (alone: `npm run bench:processor`): events/s of a trigger consuming
 * ~1 KiB change events (decode → function → no-op sink → commit), each beside the bare consumer loop of
 * the same Kafka client, so the table shows the processor as a fraction of what the client delivers.
 * Also the function sandbox on its own, batched and one call per event, and decoding alone: the CPU
 * budget per event that the Kafka rows spend.
 */
import { randomBytes } from 'node:crypto';
import { createKafkaTransport, librdkafkaAvailable, type OutgoingRecord } from '../core/kafka/index.js';
import { ProcessorManager } from '../processors/manager.js';
import { FunctionPool, FunctionSandbox } from '../processors/sandbox/index.js';
import { processorContext } from '../testing/processors/context.js';
import { changeRecord, makeChangeEvent } from '../testing/processors/events.js';
import { noopSinkKind } from '../testing/processors/memory-sink.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { LIMIT, PRODUCE_BATCH, PRODUCE_IN_FLIGHT } from './limits.js';
import { runIfMain } from './lib/runner.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { nowMs } from './lib/timing.js';

/** Records per sandbox call in the "sandbox alone" rows (the default trigger batch is 500). */
const SANDBOX_BATCH = 500;
/** The trivial function of issue 8: one `set` per event. */
const TRIVIAL = `export default function handle(events) {
  return events.map((e) => ({ sink: 'out', op: 'set', key: 'doc:' + e.documentKey._id.$numberInt, value: e.fullDocument }));
}`;
const NOOP = 'export default function handle() {}';

function unique(prefix: string): string {
  return `bench-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

function figure(ctx: BenchContext, events: number, seconds: number, note: string): BenchFigure {
  const eventsPerSec = seconds > 0 ? events / seconds : 0;
  return { eventsPerSec, mbPerSec: (eventsPerSec * ctx.messageBytes) / 1048576, events, seconds, note };
}

/** Distinct change events of about `bytes` each, as the source connector encodes them. */
function eventPool(bytes: number, count: number): ChangeEvent[] {
  const base = Buffer.byteLength(JSON.stringify(makeChangeEvent({ db: 'shop', coll: 'orders', docId: 0, seq: 0 })));
  // `"pad":"…",` adds 9 bytes besides the padding itself.
  const pad = Math.max(0, bytes - base - 9);
  return Array.from({ length: count }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq, seq, padBytes: pad }));
}

/**
 * The topic every processor row reads, filled once per run with enough change events that a fresh group
 * keeps busy for the whole figure at the bare consumer's rate (the rows stop after `durationMs`).
 */
let filled: Promise<{ topic: string; events: number }> | undefined;

function processorTopic(ctx: BenchContext): Promise<{ topic: string; events: number }> {
  filled ??= (async () => {
    const topic = unique('processor-source');
    const client = librdkafkaAvailable() ? 'librdkafka' : 'kafkajs';
    const kafka = createKafkaTransport(client, { brokers: [ctx.kafka], clientId: 'changeflow-bench' });
    const admin = kafka.admin();
    await admin.connect();
    await admin.ensureTopics([{ topic, partitions: ctx.partitions }]);
    await admin.disconnect();
    ctx.trackTopic(topic);
    const events = ctx.quick ? 20_000 : Math.min(4_000_000, Math.ceil((ctx.durationMs / 1000) * 250_000));
    const pool = eventPool(ctx.messageBytes, 10_000).map((e) => changeRecord(topic, e));
    ctx.log(`filling ${topic} with ${events.toLocaleString()} change events of ~${ctx.messageBytes} B for the processor rows (${client})…`);
    const producer = kafka.producer();
    await producer.connect();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < events; i += PRODUCE_BATCH) {
      const records: OutgoingRecord[] = [];
      for (let j = i; j < Math.min(events, i + PRODUCE_BATCH); j++) records.push(pool[j % pool.length] as OutgoingRecord);
      sends.push(producer.send(records));
      if (sends.length >= PRODUCE_IN_FLIGHT) await sends.shift();
    }
    await Promise.all(sends);
    await producer.disconnect();
    return { topic, events };
  })();
  return filled;
}

interface TriggerRun {
  /** Events counted from the first delivered batch (group join left out). */
  events: number;
  seconds: number;
  cpu: string;
  drained: boolean;
}

/**
 * A trigger on the filled topic with a no-op sink, on the run's client, until `enough(count, elapsedMs)`
 * or the topic is drained; `tick` runs every 10 ms while it works.
 */
async function runTrigger(
  ctx: BenchContext,
  functionCode: string | undefined,
  enough: (count: number, elapsedMs: number) => boolean,
  tick?: () => void,
): Promise<TriggerRun> {
  const { topic, events: total } = await processorTopic(ctx);
  const context = processorContext({ brokers: ctx.kafka, prefix: unique('p'), client: ctx.client });
  const manager = new ProcessorManager([], { extraSinkKinds: [noopSinkKind], topicRefreshMs: 0 });
  await manager.start(context);
  const key = unique('trigger');
  try {
    const parsed = triggerConfigSchema.parse({ name: key, source: { topic }, sinks: [{ name: 'out', kind: 'noop' }] });
    await manager.apply({ ...parsed, key, ...(functionCode ? { functionCode: { name: 'bench', code: functionCode, memoryMiB: 64, timeoutMs: 5_000 } } : {}) });
    const done = (): number => {
      const stats = manager.status(key)?.stats;
      if ((stats?.deadLettered ?? 0) > 0) throw new Error('benchmark events were dead-lettered');
      return (stats?.delivered ?? 0) + (stats?.filtered ?? 0);
    };
    let startedAt = 0;
    let startCount = 0;
    let startCpu = process.cpuUsage();
    for (;;) {
      await new Promise((r) => setTimeout(r, 10));
      tick?.();
      const count = done();
      const now = nowMs();
      if (startedAt === 0) {
        if (count > 0) {
          startedAt = now;
          startCount = count;
          startCpu = process.cpuUsage();
        }
        continue;
      }
      if (enough(count, now - startedAt) || count >= total) {
        return { events: count - startCount, seconds: (now - startedAt) / 1000, cpu: cpuPerEvent(startCpu, count - startCount), drained: count >= total };
      }
    }
  } finally {
    await manager.stop();
    await context.close();
  }
}

/** Events/s of a trigger over `durationMs`, beside the bare consumer of the same client. */
function processorRow(name: string, functionCode: string | undefined, note: string): BenchStage {
  return {
    name,
    kind: 'changeflow',
    limitName: (ctx) => LIMIT.consume(ctx.client),
    async run(ctx) {
      const run = await runTrigger(ctx, functionCode, (_count, elapsedMs) => elapsedMs >= ctx.durationMs);
      const drained = run.drained ? '; topic drained before the duration' : '';
      return figure(ctx, run.events, run.seconds, `${note}; ${run.cpu}; batches of 500, commit per batch${drained}`);
    },
  };
}

/** Issue 8: memory stays bounded while a trigger works through a backlog of 1,000,000 events (peak RSS). */
const BACKLOG = 1_000_000;
const backlogRow: BenchStage = {
  name: 'processor: 1,000,000-event backlog, trivial function (peak RSS)',
  kind: 'changeflow',
  limitName: (ctx) => LIMIT.consume(ctx.client),
  async run(ctx) {
    const mib = (bytes: number): number => Math.round(bytes / 1048576);
    const before = process.memoryUsage().rss;
    let peak = before;
    const backlog = ctx.quick ? 20_000 : BACKLOG;
    const run = await runTrigger(
      ctx,
      TRIVIAL,
      (count) => count >= backlog,
      () => (peak = Math.max(peak, process.memoryUsage().rss)),
    );
    const short = run.events < backlog - 1_000 ? ` (the topic held only ${run.events.toLocaleString()})` : '';
    return {
      ...figure(
        ctx,
        run.events,
        run.seconds,
        `backlog already in Kafka when the trigger starts${short}; RSS ${mib(before)} MiB before, peak ${mib(peak)} MiB; ${run.cpu}`,
      ),
      rssMiB: mib(peak),
    };
  },
};

/** CPU time of this process (all threads) per event: steadier than events/s on a shared machine. */
function cpuPerEvent(since: NodeJS.CpuUsage, events: number): string {
  const used = process.cpuUsage(since);
  return `${events > 0 ? ((used.user + used.system) / events).toFixed(1) : '-'} µs CPU/event`;
}

/** Repeats `fn` (which handles `perCall` events) for `durationMs`. */
function forDurationSync(ctx: BenchContext, perCall: number, fn: () => void, note: string): BenchFigure {
  for (let i = 0; i < 3; i++) fn();
  const cpu = process.cpuUsage();
  const started = nowMs();
  let events = 0;
  while (nowMs() - started < ctx.durationMs) {
    fn();
    events += perCall;
  }
  return figure(ctx, events, (nowMs() - started) / 1000, `${note}; ${cpuPerEvent(cpu, events)}`);
}

function sampleEvents(ctx: BenchContext): ChangeEvent[] {
  return eventPool(ctx.messageBytes, SANDBOX_BATCH).map((e) => parseChangeEvent(JSON.stringify(e)));
}

function sandboxRow(name: string, perEvent: boolean): BenchStage {
  return {
    name,
    kind: 'changeflow',
    limitName: (ctx) => LIMIT.consume(ctx.client),
    async run(ctx) {
      const sample = sampleEvents(ctx);
      const runCtx = { trigger: 'bench', now: Date.now(), sinkNames: ['out'] };
      const sandbox = new FunctionSandbox({ name: 'bench', code: TRIVIAL });
      try {
        if (!perEvent)
          return forDurationSync(
            ctx,
            sample.length,
            () => void sandbox.runSync(sample, runCtx),
            `trivial function, ${SANDBOX_BATCH} events per call (${sandbox.marshal}), no Kafka`,
          );
        return forDurationSync(
          ctx,
          sample.length,
          () => sample.forEach((e) => sandbox.runSync([e], runCtx)),
          `trivial function, one call per event (${sandbox.marshal}), no Kafka`,
        );
      } finally {
        sandbox.dispose();
      }
    },
  };
}

/** Repeats `fn` (which handles `perCall` events per resolved promise) for `durationMs`, `inFlight` at a time. */
async function forDuration(ctx: BenchContext, perCall: number, inFlight: number, fn: () => Promise<unknown>, note: string): Promise<BenchFigure> {
  for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: inFlight }, fn));
  const cpu = process.cpuUsage();
  const started = nowMs();
  let events = 0;
  const lane = async (): Promise<void> => {
    while (nowMs() - started < ctx.durationMs) {
      await fn();
      events += perCall;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return figure(ctx, events, (nowMs() - started) / 1000, `${note}; ${cpuPerEvent(cpu, events)}`);
}

/**
 * The same trivial function in the worker-thread pool the trigger runtimes use: the events are copied
 * to a worker and the actions back. `inFlight` calls at a time (one per worker keeps all of them busy).
 */
function poolRow(name: string, workers: number, perEvent: boolean): BenchStage {
  return {
    name,
    kind: 'changeflow',
    limitName: (ctx) => LIMIT.consume(ctx.client),
    async run(ctx) {
      const sample = sampleEvents(ctx);
      const runCtx = { trigger: 'bench', now: Date.now(), sinkNames: ['out'] };
      const pool = new FunctionPool({ size: workers });
      const fn = pool.function({ tenant: 'bench', name: 'bench', code: TRIVIAL });
      try {
        if (!perEvent)
          return await forDuration(
            ctx,
            sample.length,
            workers,
            () => fn.run(sample, runCtx),
            `trivial function, ${SANDBOX_BATCH} events per call, ${workers} in flight, no Kafka`,
          );
        let next = 0;
        return await forDuration(
          ctx,
          1,
          workers,
          () => fn.run([sample[next++ % sample.length]], runCtx),
          `trivial function, one call per event, ${workers} in flight, no Kafka`,
        );
      } finally {
        await pool.close();
      }
    },
  };
}

const decodeRow: BenchStage = {
  name: 'processor: decode alone (JSON.parse + envelope check)',
  kind: 'changeflow',
  limitName: (ctx) => LIMIT.consume(ctx.client),
  async run(ctx) {
    const values = eventPool(ctx.messageBytes, SANDBOX_BATCH).map((e) => Buffer.from(JSON.stringify(e)));
    return forDurationSync(ctx, values.length, () => values.forEach((v) => parseChangeEvent(v)), 'record value Buffer → ChangeEvent, no Kafka');
  },
};

/**
 * The bare consumer loop of the run's client on the processor rows' own topic (their headers and
 * values), decoding every value as the processor must: what a processor could reach if everything
 * besides consuming and decoding were free. The limit row reads another topic and decodes nothing.
 */
const consumeDecodeRow: BenchStage = {
  name: 'processor: bare consumer + decode on the same topic (no processor)',
  kind: 'changeflow',
  limitName: (ctx) => LIMIT.consume(ctx.client),
  async run(ctx) {
    const { topic, events: total } = await processorTopic(ctx);
    const consumer = createKafkaTransport(ctx.client, { brokers: [ctx.kafka], clientId: 'changeflow-bench' }).consumer({
      groupId: unique('consume-decode'),
      fromBeginning: true,
    });
    await consumer.connect();
    await consumer.subscribe([topic]);
    let count = 0;
    let started = 0;
    let stoppedAt = 0;
    let cpu = process.cpuUsage();
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run(async (batch) => {
      if (stoppedAt) return;
      if (!started) {
        started = nowMs();
        cpu = process.cpuUsage();
      }
      for (const record of batch.records) if (record.value) parseChangeEvent(record.value);
      count += batch.records.length;
      if (nowMs() - started >= ctx.durationMs || count >= total) {
        stoppedAt = nowMs();
        done();
      }
    });
    await finished;
    const note = `JSON.parse + envelope check of every value, no commits; ${cpuPerEvent(cpu, count)}`;
    await consumer.disconnect();
    return figure(ctx, count, (stoppedAt - started) / 1000, note);
  },
};

export const stages: BenchStage[] = [
  consumeDecodeRow,
  processorRow('processor: no function → no-op sink', undefined, 'decode + sink + commit'),
  processorRow('processor: no-op function → no-op sink', NOOP, 'sandbox call returning nothing'),
  processorRow('processor: trivial function → no-op sink', TRIVIAL, 'one set action per event'),
  backlogRow,
  sandboxRow('processor: sandbox alone, batched', false),
  sandboxRow('processor: sandbox alone, one call per event', true),
  poolRow('processor: function pool (1 worker), batched', 1, false),
  poolRow('processor: function pool (2 workers), batched', 2, false),
  poolRow('processor: function pool (1 worker), one call per event', 1, true),
  poolRow('processor: function pool (2 workers), one call per event', 2, true),
  decodeRow,
];

await runIfMain(import.meta.url, stages);
